// The store seen as a set of images: every entry of index.json read through to its manifest
// and config, and the entries a user's words name. Docker's rules for those words:
//   `busybox`, `busybox:1.36`      a tag (`:latest` when none is given);
//   `busybox@sha256:…`              the manifest with that digest, under that name;
//   `3f57d9401f8d`, `sha256:3f57…`  an image id, or its first digits: every tag of that image.
// A tag is tried first, so an image tagged `cafe` is found by that name before any id.

import { NotFoundError, UserError } from '../sys/errors.ts';
import { BUILT_IN_IMAGES, ensureBuiltIn } from './base-images.ts';
import { entryRef, readImage } from './images.ts';
import { normalizeRef } from './ref.ts';
import { readIndex, REF_NAME, type Descriptor, type OciImageConfig, type OciIndex, type OciManifest } from './store.ts';

export interface StoredImage {
  /** The index.json entry. */
  entry: Descriptor;
  /** `name:tag`; undefined for an untagged ("dangling") image, which `box images` shows as <none>. */
  tag?: string;
  /** The image id: the digest of its config. Two tags of one image share it. */
  id: string;
  manifestDigest: string;
  manifest: OciManifest;
  config: OciImageConfig;
}

/** An entry whose manifest or config cannot be read: what is wrong, and what to do. */
export interface DamagedImage {
  entry: Descriptor;
  tag?: string;
  problem: string;
}

export interface Catalog {
  index: OciIndex;
  images: StoredImage[];
  damaged: DamagedImage[];
}

/** The tag an entry shows: `name:tag`, the raw name if box cannot parse it, or undefined. */
export function tagOf(entry: Descriptor): string | undefined {
  return entryRef(entry) ?? entry.annotations?.[REF_NAME];
}

/** Read every image in the store. One damaged image does not hide the others. */
export function readCatalog(root: string): Catalog {
  const index = readIndex(root);
  const images: StoredImage[] = [];
  const damaged: DamagedImage[] = [];
  for (const entry of index.manifests) {
    const tag = tagOf(entry);
    try {
      const { manifest, manifestDigest, config, configDescriptor } = readImage(root, entry, tag ?? entry.digest);
      images.push({ entry, ...(tag ? { tag } : {}), id: configDescriptor.digest, manifestDigest, manifest, config });
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      damaged.push({ entry, ...(tag ? { tag } : {}), problem: err.message });
    }
  }
  return { index, images, damaged };
}

/**
 * The images `ref` names: one for a tag or a digest, every tag of the image for an id.
 * With `builtIn`, a built-in image (busybox, lab) is made first if the store lacks it, as
 * `box run` does. Throws a UserError when nothing matches or an id prefix is ambiguous.
 */
export function findImages(root: string, ref: string, opts: { builtIn?: boolean } = {}): { catalog: Catalog; matches: StoredImage[] } {
  let catalog = readCatalog(root);
  let matches = matchRef(catalog, ref);
  if (!matches.length && opts.builtIn) {
    const canonical = tryCanonical(ref);
    if (canonical && BUILT_IN_IMAGES[canonical]) {
      ensureBuiltIn(root, canonical);
      catalog = readCatalog(root);
      matches = matchRef(catalog, ref);
    }
  }
  if (!matches.length) {
    const broken = catalog.damaged.find((d) => d.tag === tryCanonical(ref));
    if (broken) throw new UserError(broken.problem);
    throw new NotFoundError(`no such image: '${ref}'; \`box images\` lists the images you have`);
  }
  return { catalog, matches };
}

/** The one image `ref` names (for an id with several tags: the first tag; they are the same image). */
export function findImage(root: string, ref: string, opts: { builtIn?: boolean } = {}): { catalog: Catalog; image: StoredImage } {
  const { catalog, matches } = findImages(root, ref, opts);
  return { catalog, image: matches[0] };
}

function matchRef(catalog: Catalog, ref: string): StoredImage[] {
  const r = tryParse(ref);
  if (r?.digest) return catalog.images.filter((i) => i.manifestDigest === r.digest && i.tag?.startsWith(`${r.name}:`)).slice(0, 1);
  if (r) {
    const tagged = catalog.images.find((i) => i.tag === r.canonical);
    if (tagged) return [tagged];
  }
  const m = /^(?:sha256:)?([a-f0-9]{4,64})$/.exec(ref);
  if (!m) return [];
  const hits = catalog.images.filter((i) => i.id.startsWith(`sha256:${m[1]}`));
  const ids = new Set(hits.map((i) => i.id));
  if (ids.size > 1) throw new UserError(`image id '${ref}' is ambiguous: ${ids.size} images start with it; give more digits`);
  return hits;
}

function tryParse(ref: string) {
  try {
    return normalizeRef(ref);
  } catch {
    return undefined;
  }
}

function tryCanonical(ref: string): string | undefined {
  return tryParse(ref)?.canonical;
}

/** Every tag in the store that points at image `id`, sorted. */
export function tagsOf(catalog: Catalog, id: string): string[] {
  return catalog.images.filter((i) => i.id === id && i.tag).map((i) => i.tag!).sort();
}
