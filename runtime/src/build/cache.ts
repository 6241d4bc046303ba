// The build cache: for each step a build has run, the image it produced.
//
//   $BOX_ROOT/build-cache/<key>.json   { key, step, parent, manifest, id, created }
//
// The key is a digest of what decides a step's result: the image it started from (its id,
// which is the digest of its config, so it covers every layer below and every setting), the
// instruction with its variables expanded, the build arguments and environment a RUN sees,
// and for COPY and ADD the content of the files copied. Same key, same result: the step is
// skipped and its image reused, which is why an unchanged rebuild makes the same image id.
//
// Entries are roots for the image garbage collector (gc.ts liveParts): `box image prune` and
// `box rmi` leave their layers alone; `box builder prune` removes them.

import fs from 'node:fs';
import path from 'node:path';
import { digestHex, isDigest, sha256 } from '../image/digest.ts';
import { liveParts, partsOf, removeUnneeded, type Freed, type Parts } from '../image/gc.ts';
import { blobPath, readIndex, withStoreLock, writeFileAtomic } from '../image/store.ts';
import { cacheDir, cacheEntries, type CacheEntry } from '../image/build-cache.ts';

export type { CacheEntry };

/** What a cache key is made of. */
export interface KeyParts {
  parent: string;
  /** `RUN /bin/sh -c make`, `COPY --chown=1:1 [src] /app/`: the instruction after expansion. */
  instruction: string;
  /** What else the step's result depends on: a RUN's environment, a COPY's content digest. */
  inputs?: string[];
}

const VERSION = 'box-build-cache-v1';

export function cacheKey(parts: KeyParts): string {
  return sha256(JSON.stringify([VERSION, parts.parent, parts.instruction, parts.inputs ?? []]));
}

function entryFile(root: string, key: string): string {
  return path.join(cacheDir(root), `${digestHex(key)}.json`);
}

/**
 * The entry for a key, if there is one whose image is still whole in the store: a blob
 * removed by hand (or a damaged entry) is a miss, and the step runs again.
 */
export function lookupCache(root: string, key: string): CacheEntry | undefined {
  let entry: CacheEntry;
  try {
    entry = JSON.parse(fs.readFileSync(entryFile(root, key), 'utf8')) as CacheEntry;
  } catch {
    return undefined;
  }
  if (entry.key !== key || !isDigest(entry.manifest?.digest) || !isDigest(entry.id)) return undefined;
  const parts = partsOf(root, entry.manifest);
  for (const blob of parts.blobs) if (!fs.existsSync(blobPath(root, blob))) return undefined;
  if (!parts.blobs.has(entry.id)) return undefined; // the manifest could not be read through to its config
  return entry;
}

/** Record a step's result. Under the store lock, so the garbage collector sees it or the blobs are young. */
export function storeCache(root: string, entry: CacheEntry): void {
  withStoreLock(root, () => {
    fs.mkdirSync(cacheDir(root), { recursive: true, mode: 0o700 });
    writeFileAtomic(root, entryFile(root, entry.key), JSON.stringify(entry, null, 2) + '\n');
  });
}

/**
 * `box builder prune`: forget every cache entry, then remove the blobs and unpacked layers
 * that only the cache kept (a layer a tagged image uses stays).
 */
export function pruneBuildCache(root: string): Freed & { entries: number } {
  return withStoreLock(root, () => {
    const entries = cacheEntries(root);
    const candidates: Parts = { blobs: new Set(), diffIds: new Set() };
    for (const e of entries) if (isDigest(e.manifest?.digest)) partsOf(root, e.manifest, candidates);
    fs.rmSync(cacheDir(root), { recursive: true, force: true });
    const freed = removeUnneeded(root, liveParts(root, readIndex(root)), candidates);
    return { ...freed, entries: entries.length };
  });
}
