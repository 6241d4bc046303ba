// `box diff`: what a container changed, read from its overlay upper directory. Overlayfs puts
// every change there and nothing else, in its own words:
//   - a new or changed file is a file in the upper directory (copy-up: a file of the image is
//     copied up whole the first time it is written);
//   - a deleted file is a whiteout: a character device 0/0 with the file's name;
//   - a directory deleted and made again is "opaque" (xattr trusted.overlay.opaque=y): nothing
//     of the image's directory shows through it any more;
//   - a directory is in the upper directory whenever something below it changed.
// Whether a path is Added or Changed depends on whether the image (the lower layers) has it.
// Like `docker diff`: `A` added, `C` changed, `D` deleted, a directory before what is in it.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import { lgetxattr } from './native.ts';

export type ChangeKind = 'A' | 'C' | 'D';

export interface Change {
  kind: ChangeKind;
  /** Absolute inside the container: `/etc/motd`. */
  path: string;
}

/** One entry of an upper directory, as the classification needs it. */
export interface UpperEntry {
  path: string;
  kind: 'dir' | 'file' | 'symlink' | 'whiteout' | 'other';
  /** A directory that hides the image's directory of the same name (trusted.overlay.opaque=y). */
  opaque?: boolean;
}

/** The image's layers merged, as the container saw them before it changed anything. */
export interface LowerView {
  has(p: string): boolean;
  /** The names in a directory of the merged layers. */
  children(p: string): string[];
}

/** Classify the upper directory's entries against the image below it. Sorted like `docker diff`. */
export function classifyChanges(upper: UpperEntry[], lower: LowerView): Change[] {
  const changes: Change[] = [];
  const inUpper = new Set(upper.map((e) => e.path));
  for (const e of upper) {
    if (e.kind === 'whiteout') {
      // overlayfs makes a whiteout only to hide a lower file; one with nothing below hides nothing
      if (lower.has(e.path)) changes.push({ kind: 'D', path: e.path });
      continue;
    }
    const existed = lower.has(e.path);
    changes.push({ kind: existed ? 'C' : 'A', path: e.path });
    if (e.kind === 'dir' && e.opaque && existed) {
      // Deleted and made again: what the image had here and the new directory lacks is gone.
      for (const name of lower.children(e.path)) {
        const child = joinPath(e.path, name);
        if (!inUpper.has(child)) changes.push({ kind: 'D', path: child });
      }
    }
  }
  return changes.sort((a, b) => comparePaths(a.path, b.path));
}

/**
 * Order paths as a directory walk visits them: by component, so `/etc` and everything in it
 * come before `/etc-old` (plain string order would put `/etc-old` between `/etc` and `/etc/x`).
 */
export function comparePaths(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return x.length - y.length;
}

function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** Is this lstat result an overlayfs whiteout? */
export function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/**
 * Is this upper directory opaque? Overlayfs marks it with trusted.overlay.opaque, or with
 * user.overlay.opaque when mounted with `userxattr` (as it is inside a user namespace).
 */
export function isOpaque(dir: string): boolean {
  return OVERLAY_XATTR_PREFIXES.some((prefix) => lgetxattr(dir, `${prefix}opaque`)?.toString() === 'y');
}

const OVERLAY_XATTR_PREFIXES = ['trusted.overlay.', 'user.overlay.'];

/**
 * Read an upper directory. Overlayfs features box does not turn on (redirect_dir, metacopy)
 * would make its contents mean more than they show; if a kernel default turned them on, say so.
 */
export function readUpper(upperDir: string): UpperEntry[] {
  const entries: UpperEntry[] = [];
  const walk = (rel: string) => {
    const full = path.join(upperDir, rel);
    for (const name of fs.readdirSync(full).sort()) {
      const p = joinPath(rel, name);
      const st = fs.lstatSync(path.join(upperDir, p));
      if (isWhiteout(st)) {
        entries.push({ path: p, kind: 'whiteout' });
      } else if (st.isDirectory()) {
        refuseOverlayExtras(path.join(upperDir, p), p, 'redirect', 'redirect_dir');
        entries.push({ path: p, kind: 'dir', ...(isOpaque(path.join(upperDir, p)) ? { opaque: true } : {}) });
        walk(p);
      } else if (st.isFile()) {
        refuseOverlayExtras(path.join(upperDir, p), p, 'metacopy', 'metacopy');
        entries.push({ path: p, kind: 'file' });
      } else {
        entries.push({ path: p, kind: st.isSymbolicLink() ? 'symlink' : 'other' });
      }
    }
  };
  walk('/');
  return entries;
}

function refuseOverlayExtras(full: string, p: string, name: string, feature: string): void {
  const xattr = OVERLAY_XATTR_PREFIXES.map((prefix) => `${prefix}${name}`).find((x) => lgetxattr(full, x) !== undefined);
  if (xattr) {
    throw new UserError(`${p} in the container's upper directory has ${xattr}: overlayfs ran with ${feature}=on, ` +
      `whose upper directories box cannot read as a layer; set it off (/sys/module/overlay/parameters/${feature}) and run the container again`);
  }
}

/** The real image below a container: its unpacked layer directories, lowest first. */
export function mergedLayers(layerDirs: string[]): LowerView {
  const top = [...layerDirs].reverse();
  const has = (p: string): boolean => {
    const parts = p.split('/').filter(Boolean);
    for (const layer of top) {
      let cur = layer;
      let opaqueAbove = false;
      for (let i = 0; i < parts.length; i++) {
        cur = path.join(cur, parts[i]);
        const st = fs.lstatSync(cur, { throwIfNoEntry: false });
        if (!st) break; // this layer says nothing about p: look lower, unless a directory above was opaque
        if (isWhiteout(st)) return false; // deleted in this layer
        if (i === parts.length - 1) return true;
        if (!st.isDirectory()) return false; // a file or symlink here hides whatever lower layers have below
        if (isOpaque(cur)) opaqueAbove = true;
      }
      if (opaqueAbove) return false;
    }
    return parts.length === 0;
  };
  const children = (p: string): string[] => {
    const names = new Set<string>();
    for (const layer of top) {
      try {
        for (const name of fs.readdirSync(path.join(layer, p))) names.add(name);
      } catch {
        /* not a directory in this layer */
      }
    }
    return [...names].filter((name) => has(joinPath(p, name))).sort();
  };
  return { has, children };
}

/** `box diff`: the changes in `upperDir` over the image whose layers are `layerDirs`. */
export function containerChanges(upperDir: string, layerDirs: string[]): Change[] {
  return classifyChanges(readUpper(upperDir), mergedLayers(layerDirs));
}
