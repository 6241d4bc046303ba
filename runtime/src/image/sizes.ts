// How big an image is, as `docker images` counts it: the bytes of its layers uncompressed.
// Box learns that without decompressing anything. A gzip file ends with ISIZE, the length of
// the uncompressed data modulo 2^32 (RFC 1952, section 2.3.1), and box refuses layers over
// 2 GiB, so the modulo never bites; a zstd frame may state its content size in its header
// (RFC 8878, section 3.1.1.1.2); an uncompressed layer is its own size.

import fs from 'node:fs';
import path from 'node:path';
import { blobPath, MediaType, type Descriptor } from './store.ts';

/** Bytes of a layer's tar once uncompressed (its compressed size when that cannot be known). */
export function layerSize(root: string, layer: Descriptor): number {
  let fd: number;
  try {
    fd = fs.openSync(blobPath(root, layer.digest), 'r');
  } catch {
    return layer.size; // not in the store (yet): the size the manifest gives
  }
  try {
    switch (layer.mediaType) {
      case MediaType.layerGzip:
      case MediaType.dockerLayerGzip:
        return gzipSize(fd, layer.size) ?? layer.size;
      case MediaType.layerZstd:
        return zstdSize(fd) ?? layer.size;
      default:
        return layer.size;
    }
  } finally {
    fs.closeSync(fd);
  }
}

function gzipSize(fd: number, size: number): number | undefined {
  if (size < 18) return undefined; // a 10-byte header and an 8-byte trailer at least
  const trailer = Buffer.alloc(4);
  fs.readSync(fd, trailer, 0, 4, size - 4);
  return trailer.readUInt32LE(0);
}

function zstdSize(fd: number): number | undefined {
  const head = Buffer.alloc(18);
  const n = fs.readSync(fd, head, 0, head.length, 0);
  if (n < 6 || head.readUInt32LE(0) !== 0xfd2fb528) return undefined;
  const descriptor = head[4];
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const dictBytes = [0, 1, 2, 4][descriptor & 3];
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag];
  if (fcsBytes === 0) return undefined; // the frame does not say
  const at = 5 + (singleSegment ? 0 : 1) + dictBytes;
  if (at + fcsBytes > n) return undefined;
  switch (fcsBytes) {
    case 1: return head[at];
    case 2: return head.readUInt16LE(at) + 256; // the 2-byte form counts from 256
    case 4: return head.readUInt32LE(at);
    default: return Number(head.readBigUInt64LE(at));
  }
}

/** Bytes a directory tree takes on disk (allocated blocks, as `du` counts), without following symlinks. */
export function diskUsage(dir: string): number {
  let total = 0;
  const seen = new Set<string>(); // a file with several hard links takes its blocks once
  const walk = (p: string) => {
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!st) return;
    if (st.nlink > 1 && !st.isDirectory()) {
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) return;
      seen.add(key);
    }
    total += st.blocks * 512;
    if (st.isDirectory()) for (const name of fs.readdirSync(p)) walk(path.join(p, name));
  };
  walk(dir);
  return total;
}
