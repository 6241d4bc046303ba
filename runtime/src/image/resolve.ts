// From the name a user types to the directories a container's root filesystem is made of.
// This is on the critical path of `box run`: for an image already unpacked it reads
// index.json, the manifest and the config, and stats each layer directory. Nothing more.

import { NotFoundError, UserError } from '../sys/errors.ts';
import type { Trace } from '../sys/trace.ts';
import { BUILT_IN_IMAGES, ensureBuiltIn } from './base-images.ts';
import { entryRef, findImage, findImageById, loadImage, type ResolvedImage } from './images.ts';
import { boxRoot } from './paths.ts';
import { normalizeRef } from './ref.ts';
import { readIndex, type Descriptor } from './store.ts';

/**
 * The image `ref` names (`busybox`, `alpine:3.20`, `name@sha256:…`, or an id prefix), with
 * its layers unpacked. Built-in images are made on first use. UserError if there is no such
 * image or the reference is malformed.
 */
export function resolveImage(ref: string, opts: { root?: string; trace?: Trace } = {}): ResolvedImage {
  const root = opts.root ?? boxRoot();
  const pinnedImage = pinned.get(ref);
  if (pinnedImage) return loadImage(root, pinnedImage, ref, opts.trace);
  const { canonical } = normalizeRef(ref);
  let index = readIndex(root);
  let desc = findImage(index, ref);
  if (!desc && BUILT_IN_IMAGES[canonical]) {
    ensureBuiltIn(root, canonical, opts.trace);
    index = readIndex(root);
    desc = findImage(index, ref);
  }
  desc ??= findImageById(root, index, ref);
  if (!desc) throw new NotFoundError(`image '${ref}' not found; \`box images\` lists what you have (busybox is built in)`);
  return loadImage(root, desc, entryRef(desc) ?? canonical, opts.trace);
}

/** Images this process made and keeps out of index.json (a build's steps), by the name it gave them. */
const pinned = new Map<string, Descriptor>();

/**
 * Let resolveImage find an image that is in the store's blobs but has no entry in
 * index.json: `box build` runs each RUN step on the image so far without tagging it.
 * Returns the function that forgets it again.
 */
export function pinImage(ref: string, manifest: Descriptor): () => void {
  pinned.set(ref, manifest);
  return () => pinned.delete(ref);
}
