// Layers: stored compressed as blobs, unpacked once into $BOX_ROOT/layers/sha256/<diffid>/
// for overlayfs to stack. A layer has two digests: the blob's (of the compressed bytes,
// in the manifest) and its "diff id" (of the uncompressed tar, in the image config).
// Unpacked directories are named by the diff id, so the same layer compressed two ways
// is unpacked once.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import type { Trace } from '../sys/trace.ts';
import { digestHex, sha256, shortDigest } from './digest.ts';
import { storePaths } from './paths.ts';
import { MediaType, readBlob, removeStaleTemps, tempPath, writeBlob, type Descriptor } from './store.ts';
import { unpackTar } from './unpack.ts';

// Loaded when a layer is (de)compressed, not at every start of box.
const zlib = () => process.getBuiltinModule('node:zlib') as typeof import('node:zlib');

/** Layers are decompressed in memory; a layer bigger than this is refused rather than exhausting it. */
export const MAX_LAYER_BYTES = 2 * 1024 ** 3;

/** A layer as an image refers to it: the blob's descriptor and the uncompressed tar's digest. */
export interface LayerRecord {
  descriptor: Descriptor;
  diffId: string;
}

export function layerDir(root: string, diffId: string): string {
  return path.join(storePaths(root).layers, digestHex(diffId));
}

/**
 * Store an uncompressed layer tar as a blob (gzip-compressed unless `compress` is 'none').
 * With `unpack`, also unpack it now, so the first container from it starts without waiting.
 */
export function importLayerTar(
  root: string,
  tar: Buffer,
  opts: { compress?: 'gzip' | 'none'; unpack?: boolean; trace?: Trace } = {},
): LayerRecord {
  const diffId = sha256(tar);
  const gzip = (opts.compress ?? 'gzip') === 'gzip';
  // Node's zlib writes a fixed gzip header (no file name, mtime 0), so the same tar always
  // compresses to the same bytes, and the layer keeps its digest from one build to the next.
  const blob = gzip ? zlib().gzipSync(tar, { level: 9 }) : tar;
  const { digest, size } = writeBlob(root, blob);
  const record = { descriptor: { mediaType: gzip ? MediaType.layerGzip : MediaType.layerTar, digest, size }, diffId };
  if (opts.unpack) ensureLayerUnpacked(root, record, { tar, trace: opts.trace });
  return record;
}

/**
 * The layer's unpacked directory, unpacking it first if this is its first use. The blob's
 * digest and the tar's diff id are both checked before anything is unpacked.
 *
 * Safe against two box processes at once: each unpacks into its own temporary directory
 * and renames it into place; rename(2) onto a non-empty directory fails, so the second one
 * finds the first one's result there and throws its own copy away.
 */
export function ensureLayerUnpacked(
  root: string,
  layer: LayerRecord,
  opts: { tar?: Buffer; trace?: Trace } = {},
): string {
  const dir = layerDir(root, layer.diffId);
  if (fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return dir;

  const { descriptor } = layer;
  const tar = opts.tar ?? decompress(readBlob(root, descriptor.digest, 'layer', descriptor.size), descriptor);
  if (sha256(tar) !== layer.diffId) {
    throw new UserError(`layer ${descriptor.digest} is corrupt (digest mismatch); remove the image and pull again`);
  }

  // The layers directory is root-only: a setuid binary inside a layer must not be
  // reachable by the host's unprivileged users.
  fs.mkdirSync(path.dirname(storePaths(root).layers), { recursive: true, mode: 0o700 });
  fs.mkdirSync(storePaths(root).layers, { recursive: true, mode: 0o700 });
  removeStaleTemps(root);
  const tmp = tempPath(root, `layer-${digestHex(layer.diffId).slice(0, 12)}`);
  fs.mkdirSync(tmp, { mode: 0o755 });
  try {
    const stats = unpackTar(tar, tmp, { label: `layer ${descriptor.digest}` });
    try {
      fs.renameSync(tmp, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err; // else: another box got there first
    }
    opts.trace?.record({
      kind: 'note',
      text: `unpacked layer ${shortDigest(layer.diffId)}: ${stats.entries} entries, ${stats.bytes} bytes` +
        `${stats.whiteouts ? `, ${stats.whiteouts} whiteouts` : ''} -> ${dir}`,
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** The uncompressed tar of a layer blob, by its media type. */
export function decompress(blob: Buffer, descriptor: Descriptor): Buffer {
  const opts = { maxOutputLength: MAX_LAYER_BYTES };
  try {
    switch (descriptor.mediaType) {
      case MediaType.layerGzip:
      case MediaType.dockerLayerGzip:
        return zlib().gunzipSync(blob, opts);
      case MediaType.layerZstd:
        return zlib().zstdDecompressSync(blob, opts);
      case MediaType.layerTar:
      case 'application/vnd.docker.image.rootfs.diff.tar':
        return blob;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new UserError(`layer ${descriptor.digest} unpacks to more than ${MAX_LAYER_BYTES / 1024 ** 3} GiB, more than box handles`);
    }
    throw new UserError(`layer ${descriptor.digest} is corrupt (${(err as Error).message}); remove the image and pull again`);
  }
  throw new UserError(`layer ${descriptor.digest} has media type ${descriptor.mediaType}, which box cannot unpack`);
}
