// Helpers for the tests that run the real `box` on the real kernel.

import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const boxBin = path.join(repo, 'runtime/bin/box');

export const isRoot = process.getuid?.() === 0;
/** Why tests that need root cannot run here, or '' when they can. */
export const rootReason = isRoot ? '' : 'needs root (box makes namespaces, mounts and cgroups); CI runs as root';

/**
 * How much longer than usual the safety nets (box()'s timeout, until()'s wait) may let a step
 * take. 1 on a machine; more in cgroups-v2-vm.test.ts's guest, where qemu emulates every
 * instruction (TCG). A safety net only: no test asserts how fast anything is.
 */
export const TIME_SCALE = Math.max(1, Number(process.env.BOX_TEST_TIME_SCALE) || 1);

/** A box root of its own for a test file, removed afterwards. */
export function tempBoxRoot(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `boxtest-${tag}-`));
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export function box(root: string, args: string[], opts: { input?: string; timeout?: number; env?: Record<string, string> } = {}): Result {
  const r = spawnSync(boxBin, args, {
    env: { ...process.env, BOX_ROOT: root, ...opts.env },
    input: opts.input,
    encoding: 'utf8',
    timeout: (opts.timeout ?? 30_000) * TIME_SCALE,
  });
  return { code: r.status ?? 128 + (r.signal ? os.constants.signals[r.signal] : 0), stdout: r.stdout, stderr: r.stderr };
}

export function boxAsync(root: string, args: string[], opts: SpawnOptions = {}) {
  return spawn(boxBin, args, { env: { ...process.env, BOX_ROOT: root }, ...opts });
}

/** Is `cmd` on the PATH? (umoci, skopeo, qemu... the tests that need one skip without it.) */
export function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Poll until `check` is true (every `everyMs`), or fail after `ms`. */
export async function until(check: () => boolean, ms = 10_000, what = 'condition', everyMs = 25): Promise<void> {
  ms *= TIME_SCALE;
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function inspect(root: string, name: string): any {
  const r = box(root, ['inspect', name]);
  if (r.code !== 0) return null;
  return JSON.parse(r.stdout)[0];
}

/** Every cgroup directory, in any hierarchy, whose name is box's for this container id. */
export function cgroupDirsFor(id: string): string[] {
  const name = `box-${id.slice(0, 12)}`;
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 6) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (e.name === name) found.push(p);
      else walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return found;
}

/** Processes on the host whose cgroup names this container's cgroup. */
export function processesInCgroupOf(id: string): number[] {
  const name = `box-${id.slice(0, 12)}`;
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(name);
    } catch {
      return false;
    }
  }).map(Number);
}

/** `box ARGS` in a real terminal (node-pty): type into it and wait for what it prints. */
export async function boxInTerminal(root: string, args: string[], size = { cols: 100, rows: 30 }) {
  const pty = (await import('node-pty')).default;
  const term = pty.spawn(boxBin, args, {
    ...size, env: { ...process.env, BOX_ROOT: root, TERM: 'xterm' } as Record<string, string>,
  });
  let screen = '';
  term.onData((d) => { screen += d; });
  const exited = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
  /** Type `keys` and wait until what follows on the screen matches `expect`. */
  const type = async (keys: string, expect: RegExp) => {
    const from = screen.length;
    term.write(keys);
    await until(() => expect.test(screen.slice(from)), 10_000, `${JSON.stringify(keys)} to print ${expect} (got ${JSON.stringify(screen.slice(from))})`);
  };
  const prompt = () => until(() => screen.includes('# '), 15_000, 'the prompt');
  return { term, type, prompt, exited };
}

/**
 * What every `box run -it busybox sh` must do, with or without the engine: a prompt, PID 1 on
 * /dev/pts/0 at the terminal's size, a resize seen inside, and Ctrl-C reaching the foreground job.
 */
export async function checkTerminalBasics(t: Awaited<ReturnType<typeof boxInTerminal>>): Promise<void> {
  await t.prompt();
  await t.type('echo pid=$$; tty; stty size\r', /pid=1\s+\/dev\/pts\/0\s+30 100/);
  t.term.resize(120, 40);
  await t.type('stty size\r', /40 120/);
  await t.type('sleep 1234\r', /sleep 1234/);
  // The line's echo comes before the shell runs it: wait for sleep itself, or the ^C may reach
  // the shell's line editor instead (it reads the terminal raw until it has run the line).
  await until(() => spawnSync('pgrep', ['-f', '^sleep 1234$']).status === 0, 10_000, 'sleep to run');
  await t.type('\x03', /\^C[\s\S]*# /);
}

/** GET / from 127.0.0.1:port over plain HTTP/1.0: the whole answer, headers and all. */
export function rawHttpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.0\r\n\r\n'));
    let out = '';
    s.on('data', (d) => { out += d; });
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}
