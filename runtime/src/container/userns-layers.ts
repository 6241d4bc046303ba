// Image layers for a user-namespaced container. Inside a user namespace, files owned by a
// host uid that is not mapped (host root, for an image's files) show as `nobody`, and root
// inside may not change them. Like Docker's userns-remap, box keeps a copy of each layer
// with every owner shifted into the container's range (0 -> 100000, 1000 -> 101000), made
// once per layer and range. (Idmapped mounts, mount_setattr(2), would avoid the copy.)

import fs from 'node:fs';
import path from 'node:path';
import { copyLayerShifted, storePaths } from '../image/index.ts';

export function shiftedLayers(layerDirs: string[], base: number): string[] {
  return layerDirs.map((dir) => shiftedLayer(dir, base));
}

function shiftedLayer(dir: string, base: number): string {
  const target = path.join(storePaths().usernsLayers, String(base), path.basename(dir));
  if (fs.existsSync(target)) return target;
  fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o711 });
  const tmp = `${target}.${process.pid}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  // Whiteouts, opaque markers, hard links and setuid bits survive; owners move up by base.
  copyLayerShifted(dir, tmp, base);
  try {
    fs.renameSync(tmp, target); // atomic; if another box won the race, use its copy
  } catch {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return target;
}
