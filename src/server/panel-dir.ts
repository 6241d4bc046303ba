// Each box sandbox gets a host directory of its own for the kernel panel, bound into it at
// /run/isolab: box inside writes its trace there (BOX_TRACE_FILE), the server reads it.
// The directory belongs to the sandbox's root (an unprivileged uid on the host, through its
// user namespace, different for every sandbox: box learns it only when it starts the sandbox,
// so the server reads it from the sandbox's /proc/PID/uid_map) so that root can write to it,
// and to nobody else: mode 0700, in a parent only the server's user may enter.
// For root (the real lab) it is a small tmpfs of its own: the sandbox writes there, and a
// directory on the host's disk would be a way around the sandbox's disk limit.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

/** Where the directory appears inside the sandbox, and the file box writes there. */
export const PANEL_MOUNT = '/run/isolab';
export const PANEL_TRACE_FILE = `${PANEL_MOUNT}/trace.jsonl`;

/**
 * /run/isolab for root (a tmpfs, gone at reboot), else a directory of ours in the temp dir;
 * $ISOLAB_PANEL_DIR instead, so that a test's server never touches a real server's directories.
 */
export function panelDirBase(): string {
  if (process.env.ISOLAB_PANEL_DIR) return process.env.ISOLAB_PANEL_DIR;
  const uid = process.getuid?.() ?? 0;
  return uid === 0 && fs.existsSync('/run') ? '/run/isolab' : path.join(os.tmpdir(), `isolab-panel-${uid}`);
}

/** The most the sandbox may write there (its trace); tmpfs pages count against its memory limit too. */
export const PANEL_DIR_BYTES = 16 * 1024 * 1024;

/** Make `base` (ours, 0700, not a symlink) and in it the sandbox's directory (a tmpfs of its own for root), owned by `uid` when we may. */
export function makePanelDir(base: string, name: string, uid: number | null): string {
  fs.mkdirSync(base, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(base);
  if (!st.isDirectory() || st.uid !== (process.getuid?.() ?? st.uid)) {
    throw new Error(`${base} is not a directory of this user's; remove it and start again`);
  }
  fs.chmodSync(base, 0o700);
  const dir = path.join(base, name);
  removePanelDir(dir); // a stale one from a server that was killed
  fs.mkdirSync(dir, { mode: 0o700 });
  if (process.getuid?.() === 0) {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${PANEL_DIR_BYTES},mode=0700,nosuid,nodev,noexec`, 'isolab-panel', dir], { stdio: 'ignore' });
    if (uid !== null) fs.chownSync(dir, uid, uid);
  }
  return dir;
}

/**
 * Remove the directories of sandboxes that are gone: a server killed with SIGKILL never got to
 * remove its own. `live(name)` says whether box still has a container of that name (another
 * server on this machine may be using the directory). Returns the names removed.
 */
export function sweepPanelDirs(base: string, live: (name: string) => boolean): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(base).filter((n) => /^lab-[a-z0-9-]+$/.test(n));
  } catch {
    return [];
  }
  // A directory made in the last minute may be a sandbox that is starting (its directory is
  // made before box claims its name): leave it.
  const settled = (n: string) => {
    try {
      return Date.now() - fs.statSync(path.join(base, n)).mtimeMs > 60_000;
    } catch {
      return false;
    }
  };
  const gone = names.filter((n) => settled(n) && !live(n));
  for (const n of gone) removePanelDir(path.join(base, n));
  return gone;
}

export function removePanelDir(dir: string): void {
  try {
    // Its tmpfs first (lazily: the sandbox may still hold it), then the directory.
    if (fs.statSync(dir).dev !== fs.statSync(path.dirname(dir)).dev) execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  } catch { /* not mounted, or gone */ }
  // rm does not follow the symlinks the sandbox may have left in it.
  try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* already gone */ }
}

/** Root's uid outside, from a /proc/PID/uid_map text ("0 100000 65536"), or null. */
export function rootUidOutside(uidMap: string): number | null {
  for (const line of uidMap.split('\n')) {
    const [inside, outside, count] = line.trim().split(/\s+/).map(Number);
    if (inside === 0 && Number.isInteger(outside) && count! > 0) return outside!;
  }
  return null;
}

/** Give the directory to the root of the running sandbox whose first process is `pid`, if it is not already. */
export function chownPanelDir(dir: string, pid: number): void {
  if (process.getuid?.() !== 0) return;
  try {
    const uid = rootUidOutside(fs.readFileSync(`/proc/${pid}/uid_map`, 'utf8'));
    if (uid === null || fs.statSync(dir).uid === uid) return;
    fs.chownSync(dir, uid, uid);
  } catch { /* the sandbox is gone already */ }
}
