// Small helpers for reading and writing cgroup files. Reads go straight to the filesystem;
// every write and every mkdir/rmdir goes through the Sys so it shows up in the trace.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import type { Sys } from '../sys/sys.ts';

/** A file's text, or null if it does not exist (a controller that is not there). */
export function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (isCode(err, 'ENOENT', 'ENOTDIR')) return null;
    throw err;
  }
}

/**
 * A file holding one number, or null if missing. Limits read "max" (v2) or a huge number
 * (v1 stores "unlimited" as 2^63 rounded down to a page) when there is none: both give null.
 */
export function readNumber(file: string): number | null {
  const text = readText(file)?.trim();
  if (text === undefined || text === '' || text === 'max') return null;
  const n = Number(text);
  if (!Number.isFinite(n) || n >= 2 ** 62) return null;
  return n;
}

/** A "key value" per line file (cpu.stat, memory.events, memory.oom_control) as a map. */
export function readKeyed(file: string): Map<string, number> | null {
  const text = readText(file);
  if (text === null) return null;
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) out.set(key, Number(value));
  }
  return out;
}

/** The words of a space-separated list file (cgroup.controllers, cgroup.subtree_control). */
export function readWords(file: string): string[] {
  return (readText(file) ?? '').split(/\s+/).filter(Boolean);
}

/** The pids in a cgroup.procs file. */
export function readPids(file: string): number[] {
  return (readText(file) ?? '').split('\n').filter(Boolean).map(Number);
}

export function exists(file: string): boolean {
  return fs.existsSync(file);
}

export function isCode(err: unknown, ...codes: string[]): boolean {
  return codes.includes((err as NodeJS.ErrnoException)?.code ?? '');
}

/** Write a cgroup file through the Sys (traced); a failure becomes a one-line UserError. */
export function writeCgroupFile(sys: Sys, file: string, value: string, why: string): void {
  try {
    sys.writeFile(file, value);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new UserError(`cgroup: writing "${value}" to ${file} failed (${code}): ${why}`);
  }
}

/**
 * One write a driver has planned: the limits that need files only some kernels have (blkio
 * weights, huge page sizes) are planned first and written after, so a missing file is
 * refused before anything was changed. `onError` words a kernel refusal for that value
 * (ENODEV for a device or interface this host lacks).
 */
export interface CgroupWrite {
  file: string;
  value: string;
  why: string;
  onError?: (code: string) => string | undefined;
}

/** Carry out planned writes in order; the first failure is a one-line UserError. */
export function applyWrites(sys: Sys, writes: CgroupWrite[]): void {
  for (const w of writes) {
    try {
      sys.writeFile(w.file, w.value);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      const told = w.onError?.(code);
      throw new UserError(told ?? `cgroup: writing "${w.value}" to ${w.file} failed (${code}): ${w.why}`);
    }
  }
}

/** A filesystem error from making a cgroup, as one line for the user; a UserError passes through. */
export function asUserError(err: unknown): Error {
  if (err instanceof UserError) return err;
  const e = err as NodeJS.ErrnoException;
  if (!e.code) return e;
  const fix = e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS' ? ': this needs root and a writable /sys/fs/cgroup' : '';
  return new UserError(`cgroup: ${e.syscall ?? 'access'} ${e.path ?? ''} failed (${e.code})${fix}`);
}

/** mkdir a cgroup; false if it already existed. In cgroupfs, mkdir is what creates a cgroup. */
export function makeDir(sys: Sys, dir: string): boolean {
  try {
    fs.mkdirSync(dir);
  } catch (err) {
    if (isCode(err, 'EEXIST')) return false;
    throw err;
  }
  sys.trace.record({ kind: 'note', text: `mkdir ${dir}` });
  return true;
}

/**
 * rmdir a cgroup, retrying briefly: the kernel refuses (EBUSY) while the cgroup still has
 * a process that is exiting. A cgroup that is already gone counts as removed.
 */
export function removeDir(sys: Sys, dir: string, timeoutMs = 2000): void {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.rmdirSync(dir);
      sys.trace.record({ kind: 'note', text: `rmdir ${dir}` });
      return;
    } catch (err) {
      if (isCode(err, 'ENOENT')) return;
      if (!isCode(err, 'EBUSY') || Date.now() > deadline) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new UserError(`cgroup: cannot remove ${dir} (${code}): it still holds processes or child cgroups; kill them and retry`);
      }
      sleepMs(10);
    }
  }
}

/**
 * Say in the trace, before a cgroup goes, that the OOM killer killed processes in it: once the
 * directory is gone its counter is gone too, and a reader of the trace (the lab's kernel panel)
 * would otherwise never learn why the container ended.
 */
export function noteOomKills(sys: Sys, memoryDir: string | null, kills: number | null | undefined): void {
  // e.g. `oom_kill 1 in /sys/fs/cgroup/memory/box/box-5d58dc480169` (src/server/panel-stats.ts reads it)
  if (memoryDir && kills) sys.trace.record({ kind: 'note', text: `oom_kill ${kills} in ${memoryDir}` });
}

/** rmdir that gives up quietly: for box's shared parent directory, which others may be using. True if it went. */
export function removeDirIfEmpty(sys: Sys, dir: string): boolean {
  try {
    fs.rmdirSync(dir);
    sys.trace.record({ kind: 'note', text: `rmdir ${dir}` });
    return true;
  } catch {
    /* another container's cgroup is in it (EBUSY), or it is gone already */
    return false;
  }
}

/** removeDirIfEmpty for `dir` and each level above it up to (not including) `stop`, until one is still in use. */
export function removeEmptyLevels(sys: Sys, dir: string, stop: string): void {
  for (let d = dir; d !== stop && d.startsWith(stop + '/'); d = path.dirname(d)) {
    if (!removeDirIfEmpty(sys, d)) return;
  }
}

/** Block this thread for a moment. The cgroup API is synchronous, as the kernel files are. */
export function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Poll `done` every few ms until it returns true or `timeoutMs` passes; returns the last answer. */
export function waitFor(done: () => boolean, timeoutMs: number): boolean {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (done()) return true;
    if (Date.now() > deadline) return false;
    sleepMs(5);
  }
}

/** Box's cgroup names become directory names: keep them to one safe path component. */
export function checkName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name)) {
    throw new UserError(`cgroup: '${name}' is not a valid cgroup name; use letters, digits, '_', '.' and '-' (up to 128)`);
  }
}

/** The sub-directories of `dir`, sorted; in cgroupfs those are the child cgroups. */
export function listDirs(dir: string): string[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/**
 * `dir` and every cgroup below it, deepest first: the order rmdir needs, since the kernel
 * refuses to remove a cgroup that has children. A container may make cgroups of its own
 * (the lab's readers run box inside their sandbox), so cleanup must go all the way down.
 */
export function subtree(dir: string): string[] {
  return [...listDirs(dir).flatMap((child) => subtree(path.join(dir, child))), dir];
}

/** The pids in `dir`'s cgroup.procs and in those of every cgroup below it. */
export function subtreePids(dir: string): number[] {
  return subtree(dir).flatMap((d) => readPids(path.join(d, 'cgroup.procs')));
}
