// Image layers for a user-namespaced container. Inside a user namespace, files owned by a
// host uid that is not mapped (host root, for an image's files) show as `nobody`, and root
// inside may not change them. Like Docker's userns-remap, box keeps a copy of each layer
// with every owner shifted into the container's range (0 -> 100000, 1000 -> 101000), made
// once per layer and range.

import fs from 'node:fs';
import path from 'node:path';
import { boxRoot } from '../image/paths.ts';

export function shiftedLayers(layerDirs: string[], base: number): string[] {
  return layerDirs.map((dir) => shiftedLayer(dir, base));
}

function shiftedLayer(dir: string, base: number): string {
  const target = path.join(boxRoot(), 'layers-userns', String(base), path.basename(dir));
  if (fs.existsSync(target)) return target;
  const tmp = `${target}.${process.pid}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(target), { recursive: true });
  // cp keeps modes, times, links, xattrs (overlay whiteouts and opaque markers) and device nodes.
  fs.cpSync(dir, tmp, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  shiftTree(tmp, dir, base);
  try {
    fs.renameSync(tmp, target); // atomic; if another box won the race, use its copy
  } catch {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return target;
}

/** lchown every entry of `copy` to its owner in `orig` plus base. */
function shiftTree(copy: string, orig: string, base: number): void {
  const st = fs.lstatSync(orig);
  fs.lchownSync(copy, st.uid + base, st.gid + base);
  if (!st.isSymbolicLink()) fs.chmodSync(copy, st.mode & 0o7777); // chown clears setuid bits
  if (st.isDirectory()) {
    for (const name of fs.readdirSync(orig)) shiftTree(path.join(copy, name), path.join(orig, name), base);
  }
}
