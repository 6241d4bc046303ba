// Filling an empty volume from the image, as Docker does on a volume's first mount: what the
// image has at the mount point (owners, modes, symlinks, hard links, xattrs) is copied into
// the volume, so `-v data:/etc` starts with the image's /etc instead of hiding it.
//
// The image's content at a path is the union of its layers (a file deleted in an upper layer
// is a whiteout there), which is what overlayfs computes: box mounts the layers read-only in
// a mount namespace of a child process of its own, copies with `cp -a`, and the mount goes
// with that namespace when the child exits, even if box is killed meanwhile.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { inInitialUserns } from '../ns/namespaces.ts';
import { UserError } from '../sys/errors.ts';

const SCRIPT = [
  'set -e',
  // An overlay of lower layers only is read-only; it needs two of them (the empty one is ours).
  'mount -t overlay overlay -o "lowerdir=$1" "$2"',
  // Only a directory is copied (Docker does the same), into a directory beside _data, then
  // moved in: a box killed while copying leaves _data empty, to be filled on the next mount.
  // `cp -a dir/. tmp` gives tmp the directory's own owner and mode, which _data then takes.
  'if [ -d "$2$3" ] && [ ! -L "$2$3" ]; then',
  '  cp -a "$2$3/." "$5"',
  '  chown --reference="$5" "$4" && chmod --reference="$5" "$4"',
  '  find "$5" -mindepth 1 -maxdepth 1 -exec mv -t "$4" {} +',
  'fi',
].join('\n');

/**
 * Copy the image's `inside` (already resolved through the image's symlinks) into `data`.
 * `scratch` is a directory of the container's own for the mount point.
 */
export function fillFromImage(lowerDirs: string[], inside: string, data: string, scratch: string): void {
  const mnt = path.join(scratch, 'prefill-mnt');
  const empty = path.join(scratch, 'prefill-empty');
  const staging = path.join(path.dirname(data), '.filling');
  fs.rmSync(staging, { recursive: true, force: true }); // left by a box killed while copying
  fs.mkdirSync(staging, { mode: 0o700 });
  fs.mkdirSync(mnt, { recursive: true });
  fs.mkdirSync(empty, { recursive: true });
  // Inside a user namespace (box in a lab sandbox), overlayfs keeps its marks in user.* xattrs.
  const lower = [...lowerDirs].reverse().join(':') + ':' + empty + (inInitialUserns() ? '' : ',userxattr');
  try {
    execFileSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', SCRIPT, 'prefill', lower, mnt, inside, data, staging],
      { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer };
    if (e.code === 'ENOENT') throw new UserError('filling a volume from the image needs unshare(1) from util-linux: apt-get install util-linux');
    const why = String(e.stderr ?? err).trim().split('\n').pop();
    throw new UserError(`could not fill the volume from the image's ${inside}: ${why}`);
  } finally {
    // rmdir, never a recursive rm: on the host these are two empty directories.
    for (const d of [mnt, empty]) fs.rmdirSync(d);
    fs.rmSync(staging, { recursive: true, force: true }); // on our own volume's filesystem, never a mount
  }
}
