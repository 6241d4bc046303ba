// Unpacking a layer tar into a directory, safely.
//
// A layer comes from whoever built the image, so every entry is checked before anything is
// written. The rule: nothing may land outside the layer directory. So box refuses
//   - names that are absolute or climb with `..`;
//   - writing through a symlink: an earlier entry `a -> /etc` followed by `a/passwd` would
//     otherwise overwrite the host's /etc/passwd (the classic "tar slip");
//   - symlinks whose relative target climbs above the layer root, and hard links to
//     anything but a file already unpacked in this layer;
//   - device nodes and FIFOs: /dev in a container comes from the runtime, never from an image.
//
// An absolute symlink target (`/etc/localtime -> /usr/share/zoneinfo/UTC`) is kept: inside
// the container it resolves against the container's root, and box never follows a symlink
// while unpacking. Whoever reads the layer later from the host must resolve paths inside it.
//
// Layers mark deletions with whiteout files (OCI image spec, "layer.md"). Overlayfs, which
// stacks the unpacked layers, has its own form, so box converts while unpacking:
//   `.wh.NAME`      -> NAME as a character device 0/0     (hides NAME in the layers below)
//   `.wh..wh..opq`  -> xattr trusted.overlay.opaque=y on the directory (hides all below it)

import { inInitialUserns } from '../ns/namespaces.ts';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import { readTar, TarError, type TarEntry } from './tar-read.ts';
import { lsetxattr, mknodWhiteout } from './native.ts';

export interface UnpackOptions {
  /** Names the archive in messages: "layer sha256:0123…". */
  label: string;
  /** Give files the owners the archive names (lchown). Only root may; default: when root. */
  chown?: boolean;
}

export interface UnpackStats {
  entries: number;
  /** Bytes of file data written. */
  bytes: number;
  whiteouts: number;
  opaqueDirs: number;
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
/** The overlayfs xattr that makes a directory hide what the layers below have in it. */
export const OPAQUE_XATTR = 'trusted.overlay.opaque';
/** The same for an overlay mounted with `userxattr`, as box mounts it inside a user namespace. */
export const USER_OPAQUE_XATTR = 'user.overlay.opaque';
/** The opaque mark for overlays mounted from this user namespace (rootfs.ts mountOverlay). */
export function opaqueXattr(): string {
  return inInitialUserns() ? OPAQUE_XATTR : USER_OPAQUE_XATTR;
}
/** Extended attributes copied from the archive. trusted.* is left out on purpose: trusted.overlay.*
 * xattrs steer overlayfs (redirects, metacopy) and must never come from an image; so do
 * user.overlay.* ones, for an overlay mounted with `userxattr` (in a user namespace). */
export const KEPT_XATTRS = /^(security\.capability|user\.(?!overlay\.).+)$/;

/** Unpack an uncompressed tar into `dir` (which must exist). Throws UserError on an unsafe entry. */
export function unpackTar(tar: Buffer, dir: string, opts: UnpackOptions): UnpackStats {
  const chown = opts.chown ?? process.getuid?.() === 0;
  const stats: UnpackStats = { entries: 0, bytes: 0, whiteouts: 0, opaqueDirs: 0 };
  /** Directories known to be real (not symlinks): saves an lstat per path component. */
  const realDirs = new Set<string>([dir]);
  /** Directory modes and times are set last: adding a child changes a directory's mtime. */
  const dirMeta = new Map<string, TarEntry>();

  const refuse = (e: TarEntry, why: string): UserError =>
    new UserError(`refusing to unpack ${opts.label}: entry '${e.name}' ${why} (the image is unsafe; do not use it)`);

  /** The entry's path as components, refusing absolute paths and `..`. */
  function components(e: TarEntry, name: string, what: string): string[] {
    const problem = unsafePath(name, what);
    if (problem) throw refuse(e, problem);
    return pathParts(name);
  }

  /** Make sure every parent of `parts` is a real directory inside `dir`; return the parent's path. */
  function parentDir(e: TarEntry, parts: string[], create: boolean): string {
    let cur = dir;
    for (let i = 0; i < parts.length - 1; i++) {
      cur = path.join(cur, parts[i]);
      if (realDirs.has(cur)) continue;
      const st = lstat(cur);
      const rel = parts.slice(0, i + 1).join('/');
      if (!st) {
        if (!create) throw refuse(e, `points into '${rel}', which is not in this layer`);
        fs.mkdirSync(cur, { mode: 0o755 }); // a parent the archive never listed, as tar does
      } else if (st.isSymbolicLink()) {
        throw refuse(e, `would be written through the symlink '${rel}'`);
      } else if (!st.isDirectory()) {
        throw refuse(e, `is under '${rel}', which is not a directory`);
      }
      realDirs.add(cur);
    }
    return cur;
  }

  /** Clear the way for a new entry at `full`: a later entry replaces an earlier one. */
  function clear(full: string, keepDir: boolean): void {
    const st = lstat(full);
    if (!st) return;
    if (st.isDirectory()) {
      if (keepDir) return;
      fs.rmSync(full, { recursive: true });
      for (const d of realDirs) if (d === full || d.startsWith(full + '/')) realDirs.delete(d);
    } else {
      fs.unlinkSync(full);
    }
  }

  function setOwner(full: string, e: TarEntry): void {
    if (chown) fs.lchownSync(full, e.uid, e.gid);
  }

  function setXattrs(full: string, e: TarEntry): void {
    for (const [name, value] of e.xattrs) {
      if (!KEPT_XATTRS.test(name)) continue;
      try {
        lsetxattr(full, name, value);
      } catch (err) {
        // security.capability needs CAP_SETFCAP, and some filesystems take no xattrs at all:
        // then the file is unpacked without it, as tar does.
        if (!chown || (err as { code?: string }).code === 'EOPNOTSUPP') continue;
        throw err;
      }
    }
  }

  try {
    for (const e of readTar(tar)) {
      stats.entries++;
      const parts = components(e, e.name, 'path');
      const base = parts[parts.length - 1] ?? '';

      if (parts.length === 0) {
        // "./": the layer's root directory itself; only its mode, owner and time apply.
        if (e.type !== 'dir') throw refuse(e, 'names the layer root but is not a directory');
        setOwner(dir, e);
        dirMeta.set(dir, e);
        continue;
      }

      if (base === OPAQUE) {
        lsetxattrOrExplain(parentDir(e, parts, true), e, opts.label); // the directory holding the marker
        stats.opaqueDirs++;
        continue;
      }
      if (base.startsWith(WHITEOUT + WHITEOUT)) continue; // other aufs bookkeeping (.wh..wh.plnk): not content
      if (base.startsWith(WHITEOUT)) {
        const hidden = base.slice(WHITEOUT.length);
        if (hidden === '' || hidden === '.' || hidden === '..') throw refuse(e, 'is a whiteout with no file name');
        const full = path.join(parentDir(e, parts, true), hidden);
        clear(full, false);
        mknodOrExplain(full, e, opts.label);
        stats.whiteouts++;
        continue;
      }

      const full = path.join(parentDir(e, parts, true), base);
      switch (e.type) {
        case 'dir':
          clear(full, true);
          if (!lstat(full)) fs.mkdirSync(full, { mode: 0o700 });
          realDirs.add(full);
          setOwner(full, e);
          setXattrs(full, e);
          dirMeta.set(full, e);
          break;

        case 'file': {
          clear(full, false);
          // O_CREAT|O_EXCL ('wx') never follows a symlink: the file is new, here, or an error.
          const fd = fs.openSync(full, 'wx', 0o600);
          try {
            for (let off = 0; off < e.data.length; ) off += fs.writeSync(fd, e.data, off);
          } finally {
            fs.closeSync(fd);
          }
          setOwner(full, e); // chown clears setuid/setgid, so the mode comes after it
          fs.chmodSync(full, e.mode);
          setXattrs(full, e);
          fs.lutimesSync(full, e.mtime, e.mtime);
          stats.bytes += e.data.length;
          break;
        }

        case 'symlink':
          if (e.linkname === '') throw refuse(e, 'is a symlink with an empty target');
          if (e.linkname.includes('\0')) throw refuse(e, 'has a NUL byte in its symlink target');
          if (!symlinkStaysInside(parts, e.linkname)) {
            throw refuse(e, `is a symlink to '${e.linkname}', which leaves the layer`);
          }
          clear(full, false);
          fs.symlinkSync(e.linkname, full);
          setOwner(full, e);
          fs.lutimesSync(full, e.mtime, e.mtime);
          break;

        case 'hardlink': {
          const target = components(e, e.linkname, 'hard link target');
          if (target.length === 0) throw refuse(e, 'is a hard link to the layer root');
          if (target.join('/') === parts.join('/')) throw refuse(e, 'is a hard link to itself');
          const source = path.join(parentDir(e, target, false), target[target.length - 1]);
          const st = lstat(source);
          if (!st) throw refuse(e, `is a hard link to '${e.linkname}', which is not in this layer`);
          if (st.isDirectory()) throw refuse(e, `is a hard link to the directory '${e.linkname}'`);
          clear(full, false);
          fs.linkSync(source, full); // link(2) does not follow a symlink named as its source
          break;
        }

        case 'char':
        case 'block':
          throw refuse(e, `is a ${e.type === 'char' ? 'character' : 'block'} device ${e.devmajor}:${e.devminor}; ` +
            'images may not carry device nodes (a container\'s /dev comes from the runtime)');
        case 'fifo':
          throw refuse(e, 'is a FIFO; images may not carry FIFOs');
        default:
          throw refuse(e, `has tar type '${e.typeflag.replace(/\0/g, '\\0')}', which box does not unpack`);
      }
    }
  } catch (err) {
    if (err instanceof TarError) throw new UserError(`cannot unpack ${opts.label}: ${err.message}; remove the image and pull again`);
    throw err;
  }

  // Deepest first, so setting a parent's time is not undone by touching a child.
  for (const [full, e] of [...dirMeta].sort((a, b) => b[0].length - a[0].length)) {
    fs.chmodSync(full, e.mode);
    fs.lutimesSync(full, e.mtime, e.mtime);
  }
  return stats;
}

/**
 * Why an archive path may not be used, or undefined if it may: it must be relative, without
 * `..` and NUL. ("has an absolute path", to follow "entry 'x' " in a message.)
 */
export function unsafePath(name: string, what = 'path'): string | undefined {
  if (name.includes('\0')) return `has a NUL byte in its ${what}`;
  if (name.startsWith('/')) return `has an absolute ${what}`;
  if (pathParts(name).includes('..')) return `has a '..' component in its ${what}`;
  return undefined;
}

/** `./usr//bin/` -> ['usr', 'bin'] */
export function pathParts(name: string): string[] {
  return name.split('/').filter((p) => p !== '' && p !== '.');
}

/**
 * Would this symlink, followed from where it sits, stay inside the layer? A relative target
 * counts from the link's directory; an absolute one from the layer root (the container's /).
 */
export function symlinkStaysInside(linkParts: string[], target: string): boolean {
  const stack = target.startsWith('/') ? [] : linkParts.slice(0, -1);
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (stack.length === 0) return false;
      stack.pop();
    } else {
      stack.push(part);
    }
  }
  return true;
}

function lstat(p: string): fs.Stats | undefined {
  return fs.lstatSync(p, { throwIfNoEntry: false });
}

function mknodOrExplain(full: string, e: TarEntry, label: string): void {
  try {
    mknodWhiteout(full);
  } catch (err) {
    throw new UserError(`cannot unpack ${label}: the whiteout '${e.name}' needs mknod, which needs root: ${(err as Error).message}`);
  }
}

function lsetxattrOrExplain(dir: string, e: TarEntry, label: string): void {
  try {
    lsetxattr(dir, opaqueXattr(), Buffer.from('y'));
  } catch (err) {
    throw new UserError(`cannot unpack ${label}: the opaque marker '${e.name}' needs the xattr ${opaqueXattr()} (root, or user xattrs on this filesystem): ${(err as Error).message}`);
  }
}
