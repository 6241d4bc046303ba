// Layers for the built-in images, made reproducible: the same inputs give the same bytes,
// so the same digest, on every machine and every run. Tar records a time, an owner and an
// order for each entry; here the time is always the epoch, the owner root, and the order
// sorted by name.

import path from 'node:path';
import { writeTar, type TarWriteEntry } from './tar-write.ts';

/** `created` of the built-in images: the epoch, as reproducible builds conventionally use. */
export const BUILT_IN_CREATED = '1970-01-01T00:00:00Z';

export function dir(name: string, mode = 0o755): TarWriteEntry {
  return { name, type: 'dir', mode };
}
export function file(name: string, data: Buffer | string, mode = 0o644): TarWriteEntry {
  return { name, type: 'file', data, mode };
}
export function symlink(name: string, linkname: string): TarWriteEntry {
  return { name, type: 'symlink', linkname, mode: 0o777 };
}

/** A tar of these entries, with any missing parent directories added, sorted, timestamps fixed. */
export function reproducibleTar(entries: TarWriteEntry[]): Buffer {
  const byName = new Map<string, TarWriteEntry>();
  for (const e of entries) {
    byName.set(e.name, e);
    for (let p = path.posix.dirname(e.name); p !== '.'; p = path.posix.dirname(p)) {
      if (!byName.has(p)) byName.set(p, dir(p));
    }
  }
  // Sorted, a directory comes before what is in it ("usr" < "usr/bin"), as unpacking wants.
  const sorted = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return writeTar(sorted.map((e) => ({ ...e, uid: 0, gid: 0, mtime: 0 })));
}
