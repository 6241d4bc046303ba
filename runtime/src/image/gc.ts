// Removing what no image needs any more. Layers are shared between images (that is what makes
// them layers), so removing an image removes only the blobs and unpacked layer directories
// that no other entry of index.json still reaches. index.json is the set of roots: every
// entry, tagged or not, and all that its manifest points at; so is the build cache. Callers hold the store lock, so
// no entry can appear while they decide.

import fs from 'node:fs';
import path from 'node:path';
import { cacheRoots } from './build-cache.ts';
import { digestHex, isDigest } from './digest.ts';
import { layerDir } from './layers.ts';
import { storePaths } from './paths.ts';
import { diskUsage } from './sizes.ts';
import {
  blobPath, MediaType, readJsonBlob, tempPath, type Descriptor, type OciImageConfig, type OciIndex, type OciManifest,
} from './store.ts';

/** Blobs (by digest) and unpacked layers (by diff id). */
export interface Parts {
  blobs: Set<string>;
  diffIds: Set<string>;
}

export interface Freed {
  blobs: string[];
  /** Diff ids of the unpacked layer directories removed. */
  layers: string[];
  /** Bytes given back to the file system. */
  bytes: number;
}

/**
 * What one index entry needs: its manifest (or manifest list and the manifests in it that
 * the store has), configs, layer blobs, and the layers' diff ids. A part that cannot be read
 * is skipped: what it would have pointed at cannot be known, and the entry is broken anyway.
 */
export function partsOf(root: string, entry: Descriptor, into: Parts = { blobs: new Set(), diffIds: new Set() }): Parts {
  into.blobs.add(entry.digest);
  try {
    if (entry.mediaType === MediaType.index || entry.mediaType === MediaType.dockerManifestList) {
      const list = readJsonBlob<OciIndex>(root, entry.digest, 'manifest list', entry.size);
      for (const child of list.manifests ?? []) {
        if (isDigest(child.digest) && fs.existsSync(blobPath(root, child.digest))) partsOf(root, child, into);
      }
      return into;
    }
    const manifest = readJsonBlob<OciManifest>(root, entry.digest, 'manifest', entry.size);
    for (const layer of manifest.layers ?? []) if (isDigest(layer.digest)) into.blobs.add(layer.digest);
    if (!isDigest(manifest.config?.digest)) return into;
    into.blobs.add(manifest.config.digest);
    const config = readJsonBlob<OciImageConfig>(root, manifest.config.digest, 'config', manifest.config.size);
    for (const diffId of config.rootfs?.diff_ids ?? []) if (isDigest(diffId)) into.diffIds.add(diffId);
  } catch {
    /* damaged: see above */
  }
  return into;
}

/**
 * What every entry of the index needs, and every image the build cache keeps (its entries
 * are roots too: `box image prune` leaves them, `box builder prune` removes them).
 */
export function liveParts(root: string, index: OciIndex): Parts {
  const live: Parts = { blobs: new Set(), diffIds: new Set() };
  for (const entry of [...index.manifests, ...cacheRoots(root)]) partsOf(root, entry, live);
  return live;
}

/** Remove those of `candidates` that `live` does not hold. */
export function removeUnneeded(root: string, live: Parts, candidates: Parts): Freed {
  const freed: Freed = { blobs: [], layers: [], bytes: 0 };
  for (const digest of candidates.blobs) {
    if (live.blobs.has(digest)) continue;
    const file = blobPath(root, digest);
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (!st) continue;
    fs.rmSync(file, { force: true });
    freed.blobs.push(digest);
    freed.bytes += st.blocks * 512;
  }
  for (const diffId of candidates.diffIds) {
    if (live.diffIds.has(diffId)) continue;
    const dirs = [layerDir(root, diffId), ...usernsCopies(root, digestHex(diffId))];
    let removed = false;
    for (const dir of dirs) {
      if (!fs.existsSync(dir)) continue;
      freed.bytes += removeTree(root, dir);
      removed = true;
    }
    if (removed) freed.layers.push(diffId);
  }
  return freed;
}

/**
 * Blobs and layer directories that no entry needs and that were last changed more than
 * `olderThanMs` ago: what an interrupted pull or build left. The age keeps `box image prune`
 * away from the blobs a build running right now has written and not yet tagged.
 */
export function orphans(root: string, live: Parts, olderThanMs: number): Parts {
  const found: Parts = { blobs: new Set(), diffIds: new Set() };
  const old = (p: string) => Date.now() - (fs.lstatSync(p, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > olderThanMs;
  const { blobs, layers, usernsLayers } = storePaths(root);
  for (const hex of list(blobs)) {
    const digest = `sha256:${hex}`;
    if (isDigest(digest) && !live.blobs.has(digest) && old(path.join(blobs, hex))) found.blobs.add(digest);
  }
  const layerHexes = new Set([...list(layers), ...list(usernsLayers).flatMap((base) => list(path.join(usernsLayers, base)))]);
  for (const hex of layerHexes) {
    const diffId = `sha256:${hex}`;
    if (!isDigest(diffId) || live.diffIds.has(diffId)) continue;
    const dirs = [layerDir(root, diffId), ...usernsCopies(root, hex)].filter((d) => fs.existsSync(d));
    if (dirs.every(old)) found.diffIds.add(diffId);
  }
  return found;
}

function list(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** The user-namespace copies of a layer: layers-userns/<base>/<hex>, one per id range. */
function usernsCopies(root: string, hex: string): string[] {
  const dir = storePaths(root).usernsLayers;
  return list(dir).map((base) => path.join(dir, base, hex)).filter((p) => fs.existsSync(p));
}

/**
 * Remove a layer directory. It is first renamed away (atomic), so a box starting a container
 * meanwhile finds the layer either whole or not there, never half deleted.
 */
function removeTree(root: string, dir: string): number {
  const tmp = tempPath(root, `gc-${path.basename(dir).slice(0, 12)}`);
  fs.renameSync(dir, tmp);
  const bytes = diskUsage(tmp);
  fs.rmSync(tmp, { recursive: true, force: true });
  return bytes;
}
