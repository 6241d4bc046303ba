// Where the build cache keeps its entries, and what they keep alive. Here in image/, not in
// build/, because the garbage collector (gc.ts) reads it, and build/cache.ts uses the collector.

import fs from 'node:fs';
import path from 'node:path';
import { isDigest } from './digest.ts';
import type { Descriptor } from './store.ts';

export interface CacheEntry {
  key: string;
  /** The instruction, for people reading the cache. */
  step: string;
  /** The id of the image the step started from ('scratch' for none). */
  parent: string;
  /** The manifest of the image the step produced. */
  manifest: Descriptor;
  /** That image's id (its config's digest). */
  id: string;
  created: string;
}

export function cacheDir(root: string): string {
  return path.join(root, 'build-cache');
}

/** Every entry in the cache (unreadable files skipped). */
export function cacheEntries(root: string): CacheEntry[] {
  let names: string[];
  try {
    names = fs.readdirSync(cacheDir(root));
  } catch {
    return [];
  }
  const out: CacheEntry[] = [];
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    try {
      out.push(JSON.parse(fs.readFileSync(path.join(cacheDir(root), name), 'utf8')) as CacheEntry);
    } catch {
      /* a damaged entry keeps nothing alive, and a lookup treats it as a miss */
    }
  }
  return out;
}

/** The manifests the cache keeps alive: roots for the garbage collector, beside index.json's. */
export function cacheRoots(root: string): Descriptor[] {
  return cacheEntries(root).map((e) => e.manifest).filter((m) => isDigest(m?.digest));
}
