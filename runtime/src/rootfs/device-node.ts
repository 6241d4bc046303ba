// A device node of a user-namespaced container's own (--device with --userns, a lab's loop
// device and /dev/kvm): made with mknod(2) beside the container, owned by its root.

import fs from 'node:fs';
import path from 'node:path';
import { requireDevice, type Sys } from '../sys/sys.ts';

/**
 * A device for a user-namespaced container. Its root is an ordinary uid on the host, and the
 * host's node (/dev/kvm: crw------- root) would refuse it; box makes a node of its own with
 * the same major:minor, owned by the container's root, and binds that instead. The host's
 * node keeps its mode; only this container gets the device. The node is the container's
 * alone, in <container>/devices (0700, its root's: no host user can reach it), and goes with
 * the container: `chmod 666 /dev/kvm` inside changes this node, nobody else's.
 */
export function deviceFor(sys: Sys, device: string, uid: number, containerDir: string): string {
  const dev = requireDevice(sys, device); // a lab's loop device is a block device, /dev/kvm a character one
  const dir = path.join(containerDir, 'devices');
  const node = path.join(dir, path.basename(device));
  try {
    sys.mkdir(dir, 0o700); // the container's directory is 0711: nobody else lists or reaches it
    sys.chown(dir, uid, uid); // the container's root binds the node from here
  } catch (err) {
    // EEXIST: made for an earlier device of this start, or by an earlier start (a restart)
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  fs.rmSync(node, { force: true }); // a restarted container makes it again
  sys.mknod(node, dev.type, 0o600, dev.major, dev.minor);
  sys.chown(node, uid, uid);
  return node;
}
