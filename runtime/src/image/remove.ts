// `box rmi` and `box image prune`: taking names away from images, and images out of the store.
//
// Docker's rules, which box follows:
//   - removing one of several tags of an image only removes that tag ("Untagged");
//   - removing the last tag removes the image, and then every blob and unpacked layer that no
//     other image shares ("Deleted");
//   - an image a container was made from stays while the container exists: rmi refuses, and
//     with -f only takes its tags away, leaving it as <none> until the container is gone;
//   - removing by id means every tag of that image, so with several tags it needs -f.

import { ConflictError, UserError } from '../sys/errors.ts';
import { findImages, readCatalog, tagsOf, type Catalog, type StoredImage } from './catalog.ts';
import { shortDigest } from './digest.ts';
import { liveParts, orphans, partsOf, removeUnneeded, type Parts } from './gc.ts';
import { normalizeRef } from './ref.ts';
import { REF_NAME, removeStaleTemps, sortIndex, untagged, updateIndex, withStoreLock, type Descriptor } from './store.ts';

/** Which containers were made from image `id`: their names, for the message that refuses. */
export type UsedBy = (id: string) => string[];

export interface Removal {
  /** Tags taken away. */
  untagged: string[];
  /** Image ids and layer blobs removed from the store. */
  deleted: string[];
  /** Bytes given back to the file system. */
  bytes: number;
}

/** Orphaned blobs younger than this are left alone: a build or pull may be about to tag them. */
export const ORPHAN_AGE_MS = 60 * 60 * 1000;

/** `box rmi [-f] REF`: remove a tag, or an image (by tag or id), as Docker does. */
export function removeImage(root: string, ref: string, opts: { force?: boolean; usedBy: UsedBy }): Removal {
  return withStoreLock(root, () => {
    let found: { catalog: Catalog; matches: StoredImage[] };
    try {
      found = findImages(root, ref);
    } catch (err) {
      const damaged = removeDamaged(root, ref);
      if (damaged) return damaged;
      throw err;
    }
    const { catalog, matches } = found;
    const id = matches[0].id;
    const short = shortDigest(id);
    const sameImage = catalog.images.filter((i) => i.id === id);
    const byName = matches.length === 1 && matches[0].tag !== undefined && namesTag(ref, matches[0]);
    const targets = byName ? matches : sameImage.filter((i) => i.tag);
    const othersKeepIt = byName && sameImage.some((i) => i.tag && i !== matches[0]);

    if (!byName && targets.length > 1 && !opts.force) {
      throw new ConflictError(`conflict: image ${short} has ${targets.length} tags (${tagsOf(catalog, id).join(', ')}); ` +
        `remove them one by one (box rmi NAME:TAG), or all at once with box rmi -f ${ref}`);
    }
    const users = othersKeepIt ? [] : opts.usedBy(id);
    if (users.length && !opts.force) {
      const what = byName ? `'${matches[0].tag}'` : `image ${short}`;
      const [who, were, them] = users.length > 1 ? ['containers', 'were', 'them'] : ['container', 'was', 'it'];
      throw new ConflictError(`conflict: unable to remove ${what}: ${who} ${users.map((u) => `'${u}'`).join(', ')} ` +
        `${were} made from it; remove ${them} first (box rm ${users.join(' ')}), or keep the image untagged with box rmi -f`);
    }

    const removal: Removal = { untagged: targets.map((t) => t.tag!), deleted: [], bytes: 0 };
    if (othersKeepIt || users.length) {
      // Only names go: the image stays, tagged otherwise or as <none> for its containers.
      const gone = new Set(targets.map((t) => t.entry));
      updateIndex(root, (index) => {
        index.manifests = index.manifests.filter((d) => !gone.has(find(d, catalog)));
        if (!othersKeepIt && !index.manifests.some((d) => d.digest === targets[0].entry.digest)) {
          index.manifests.push(untagged(targets[0].entry));
        }
        sortIndex(index);
      });
      return removal;
    }
    return deleteEntries(root, catalog, sameImage.map((i) => i.entry), removal);
  });
}

/**
 * `box image prune [-a]`: remove untagged images no container was made from (with `all`,
 * every image no container was made from), then blobs and layers nothing needs that were
 * left more than ORPHAN_AGE_MS ago by an interrupted pull, load or build.
 */
export function pruneImages(root: string, opts: { all?: boolean; usedBy: UsedBy; orphanAgeMs?: number }): Removal {
  return withStoreLock(root, () => {
    removeStaleTemps(root);
    const catalog = readCatalog(root);
    const doomed = catalog.images.filter((i) => (opts.all || !i.tag) && opts.usedBy(i.id).length === 0);
    const removal: Removal = { untagged: doomed.filter((i) => i.tag).map((i) => i.tag!), deleted: [], bytes: 0 };
    const entries = [...doomed.map((i) => i.entry), ...catalog.damaged.filter((d) => !d.tag).map((d) => d.entry)];
    deleteEntries(root, catalog, entries, removal);
    const live = liveParts(root, readCatalog(root).index);
    const freed = removeUnneeded(root, live, orphans(root, live, opts.orphanAgeMs ?? ORPHAN_AGE_MS));
    removal.deleted.push(...freed.blobs);
    removal.bytes += freed.bytes;
    return removal;
  });
}

/** Take entries out of index.json, then remove what only they needed. The caller holds the lock. */
function deleteEntries(root: string, catalog: Catalog, entries: Descriptor[], removal: Removal): Removal {
  if (!entries.length) return removal;
  const candidates: Parts = { blobs: new Set(), diffIds: new Set() };
  for (const entry of entries) partsOf(root, entry, candidates); // before the index forgets them
  const gone = new Set(entries);
  let live: Parts | undefined;
  updateIndex(root, (index) => {
    index.manifests = index.manifests.filter((d) => !gone.has(find(d, catalog)));
    live = liveParts(root, index);
  });
  const freed = removeUnneeded(root, live!, candidates);
  // Docker's order: the image (its config), then its layers.
  const ids = new Set(catalog.images.filter((i) => gone.has(i.entry)).map((i) => i.id));
  removal.deleted.push(...freed.blobs.filter((d) => ids.has(d)), ...freed.blobs.filter((d) => !ids.has(d) && isLayer(catalog, d)));
  removal.bytes += freed.bytes;
  return removal;
}

/** A tag whose manifest or config is missing or damaged: remove the entry, which is what the message says to do. */
function removeDamaged(root: string, ref: string): Removal | undefined {
  let canonical: string;
  try {
    canonical = normalizeRef(ref).canonical;
  } catch {
    return undefined;
  }
  const catalog = readCatalog(root);
  const broken = catalog.damaged.filter((d) => d.tag === canonical);
  if (!broken.length) return undefined;
  return deleteEntries(root, catalog, broken.map((d) => d.entry), { untagged: [canonical], deleted: [], bytes: 0 });
}

function namesTag(ref: string, image: StoredImage): boolean {
  try {
    const r = normalizeRef(ref);
    return r.canonical === image.tag || (r.digest !== undefined && r.digest === image.manifestDigest);
  } catch {
    return false;
  }
}

/** The catalog's own object for an entry of a freshly read index (same digest and name). */
function find(d: Descriptor, catalog: Catalog): Descriptor {
  const same = (e: Descriptor) => e.digest === d.digest && e.annotations?.[REF_NAME] === d.annotations?.[REF_NAME];
  return [...catalog.images.map((i) => i.entry), ...catalog.damaged.map((x) => x.entry)].find(same) ?? d;
}

function isLayer(catalog: Catalog, digest: string): boolean {
  return catalog.images.some((i) => i.manifest.layers.some((l) => l.digest === digest));
}
