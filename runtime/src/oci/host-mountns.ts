// A container without a mount namespace of its own (a config that lists none, new or joined,
// which runc allows): its root is a chroot, and its mounts (/proc, /dev, /sys, the config's)
// are made in the host's mount namespace, below a bind of root.path onto itself that box-init
// makes private first, so none of them propagates to the host's other mounts. (The bind itself,
// like any mount, appears in the peers of the mount it is made on, if that one is shared, as
// on systemd hosts; its unmount propagates to them too.) runc does the same but leaves them
// mounted after delete (and makes the host's "/" rslave); box detaches that one bind at
// delete, which takes every mount below it along (umount2 MNT_DETACH).

import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { readMountinfo, type MountEntry } from '../sys/mountinfo.ts';

/** The ids of the mounts at `root` now: the ones that are not the container's. */
export function mountsAt(root: string): number[] {
  const real = fs.realpathSync(root);
  return readMountinfo().filter((m) => m.mountpoint === real).map((m) => m.id);
}

/** The topmost mount at a mount point: the one no other mount at the same point is stacked on. */
function topAt(mounts: MountEntry[], point: string): MountEntry | undefined {
  const here = mounts.filter((m) => m.mountpoint === point);
  return here.find((m) => !here.some((o) => o.parent === m.id));
}

/** Detach the container's binds at `root`: each mount stacked there since `before`, topmost first. */
export function detachRoot(root: string, before: number[]): void {
  let real: string;
  try {
    real = fs.realpathSync(root);
  } catch {
    return; // the bundle is gone: so is anything mounted in it
  }
  for (let i = 0; i < 16; i++) {
    const top = topAt(readMountinfo(), real);
    if (!top || before.includes(top.id)) return;
    execFileSync('umount', ['-l', real], { stdio: 'ignore' });
  }
}
