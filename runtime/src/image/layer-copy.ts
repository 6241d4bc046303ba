// A copy of an unpacked layer with every owner shifted by a fixed amount, for a container in
// a user namespace (root inside = host uid `shift`): files owned by host root would show as
// `nobody` inside, and root inside could not change them. This is what Docker's
// userns-remap does. (On kernels with idmapped mounts, mount_setattr(MOUNT_ATTR_IDMAP) gets
// the same view without a copy.)
//
// A plain recursive copy is not enough for a layer: it must keep the overlayfs whiteouts
// (0/0 character devices), the trusted.overlay.opaque xattr on directories, hard links as
// hard links, and modes, times and setuid bits (chown clears setuid, so mode comes after it).

import fs from 'node:fs';
import path from 'node:path';
import { lsetxattr, mknodWhiteout } from './native.ts';
import { opaqueXattr } from './unpack.ts';
import { isOpaque } from './changes.ts';

/**
 * Copy the layer at `src` to `dst` (which must not exist), adding `shift` to every uid and
 * gid. Not atomic by itself: copy to a temporary name and rename, as layers.ts does.
 */
export function copyLayerShifted(src: string, dst: string, shift: number): void {
  const seen = new Map<string, string>(); // "dev:ino" of a multiply linked file -> its first copy
  const dirTimes: [string, fs.Stats][] = [];

  function copy(from: string, to: string): void {
    const st = fs.lstatSync(from);
    if (st.isDirectory()) {
      fs.mkdirSync(to, { mode: 0o700 });
      for (const name of fs.readdirSync(from)) copy(path.join(from, name), path.join(to, name));
      if (isOpaque(from)) lsetxattr(to, opaqueXattr(), Buffer.from('y'));
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? seen.get(key) : undefined;
      if (first) {
        fs.linkSync(first, to); // the same inode: owner and mode are already set
        return;
      }
      fs.copyFileSync(from, to, fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE);
      if (st.nlink > 1) seen.set(key, to);
    } else if (st.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(from), to);
    } else if (st.isCharacterDevice() && st.rdev === 0) {
      mknodWhiteout(to);
    } else {
      throw new Error(`${from}: an unpacked layer holds only files, directories, symlinks and whiteouts`);
    }
    fs.lchownSync(to, st.uid + shift, st.gid + shift);
    if (st.isDirectory()) dirTimes.push([to, st]);
    else if (!st.isSymbolicLink()) fs.chmodSync(to, st.mode & 0o7777);
    if (!st.isDirectory()) fs.lutimesSync(to, st.atime, st.mtime);
  }

  copy(src, dst);
  // Directory modes and times last: creating their entries changed their times.
  for (const [dir, st] of dirTimes) {
    fs.chmodSync(dir, st.mode & 0o7777);
    fs.lutimesSync(dir, st.atime, st.mtime);
  }
}
