// A container's writable layer on a filesystem of its own size (`--storage-opt size=1g`, as
// Docker spells it; every lab sandbox has one). Without it, the overlay's upper directory is
// a directory on the host's disk, and `fallocate -l 15G /root/x` inside fills the host's
// root filesystem in a second. Here the upper and work directories live on an ext4
// filesystem in a sparse file of that size, mounted (on a loop device) at <container>/disk:
// the reader gets "No space left on device" at the limit, and the host loses at most it.
//
// mount -o loop attaches the loop device with LO_FLAGS_AUTOCLEAR: the kernel detaches it
// when the filesystem's last mount goes (the host's, removed by box, and the copy in the
// container's mount namespace, gone with its last process). A box killed by SIGKILL leaves
// the host's mount; the next box's reaper unmounts it (removeDisk, from cleanup.ts).
//
// (Docker does this with XFS project quotas on the upper directory; that needs the host's
// filesystem to be XFS mounted with pquota. A file system per container works on any host.)

import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { UserError } from '../sys/errors.ts';
import type { Sys } from '../sys/sys.ts';

const DISK_IMAGE = 'disk.img';
const DISK_MOUNT = 'disk';
/** Below this, ext4's own metadata leaves too little room to be useful. */
export const MIN_DISK_BYTES = 16 * 1024 * 1024;

/** Make and mount the container's filesystem; returns the directory to keep upper/ and work/ in. */
export function mountDisk(dir: string, bytes: number): string {
  const image = path.join(dir, DISK_IMAGE);
  const mnt = path.join(dir, DISK_MOUNT);
  fs.writeFileSync(image, '', { mode: 0o600 });
  fs.truncateSync(image, bytes); // sparse: host blocks are used only as the container writes
  // -m 0: no blocks reserved for root (the container's root is not root here); no journal:
  // the filesystem lives exactly as long as the container, a crash loses nothing of value.
  run('mkfs.ext4', ['-q', '-F', '-m', '0', '-O', '^has_journal', '-E', 'nodiscard,lazy_itable_init=1', image]);
  fs.mkdirSync(mnt, { mode: 0o700 }); // only root passes: the overlay is mounted by real root
  run('mount', ['-o', 'loop,nosuid,nodev', image, mnt]);
  fs.chmodSync(mnt, 0o700); // the new filesystem's root is 0755: host users could read upper/
  // box diff and commit (and box build's steps) read <container>/upper: point it at this one.
  fs.symlinkSync(path.join(DISK_MOUNT, 'upper'), path.join(dir, 'upper'));
  return mnt;
}

/** Unmount the container's filesystem if it is mounted (lazily: the container may still hold it). */
export function removeDisk(sys: Sys, dir: string): void {
  const mnt = path.join(dir, DISK_MOUNT);
  try {
    if (fs.statSync(mnt).dev === fs.statSync(dir).dev) return; // not mounted
  } catch {
    return;
  }
  try {
    sys.unmountDetached(mnt);
  } catch {
    /* gone already */
  }
}

function run(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(`--storage-opt size needs ${cmd}${cmd.startsWith('mkfs') ? ' (apt-get install e2fsprogs)' : ''}`);
    }
    const why = String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim().split('\n').pop();
    throw new UserError(`--storage-opt size: ${cmd} failed: ${why}`);
  }
}

/** `--storage-opt size=1g` (Docker's option; size is the only one box knows). */
export function parseStorageOpts(values: string[], parseSize: (s: string, flag: string) => number): number | undefined {
  let bytes: number | undefined;
  for (const v of values) {
    const m = /^size=(.+)$/.exec(v);
    if (!m) throw new UserError(`--storage-opt '${v}': box knows only size=<bytes>, e.g. --storage-opt size=1g`);
    bytes = parseSize(m[1]!, '--storage-opt size');
    if (bytes < MIN_DISK_BYTES) throw new UserError(`--storage-opt size=${m[1]}: give at least 16m`);
  }
  return bytes;
}
