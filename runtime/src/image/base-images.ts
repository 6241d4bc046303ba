// The built-in images: made on this machine the first time they are wanted, not pulled.

import type { Trace } from '../sys/trace.ts';
import { boxRoot } from './paths.ts';
import { BUSYBOX_REF, buildBusyboxImage } from './busybox.ts';
import { LAB_REF, buildLabImage } from './lab.ts';
import { findTag, readIndex, removeStaleTemps, withStoreLock } from './store.ts';

type Builder = (root: string, opts: { trace?: Trace }) => unknown;

/** Each built-in image, by the tag it gets, with the function that makes it. */
export const BUILT_IN_IMAGES: Record<string, Builder> = {
  [BUSYBOX_REF]: buildBusyboxImage,
  [LAB_REF]: buildLabImage,
};

/**
 * Make one built-in image if the store lacks it. The store lock is held while building, so
 * two box processes starting at once build it once; the second waits, then finds it there.
 */
export function ensureBuiltIn(root: string, ref: string, trace?: Trace): void {
  const build = BUILT_IN_IMAGES[ref];
  if (!build || findTag(readIndex(root), ref)) return;
  withStoreLock(root, () => {
    if (findTag(readIndex(root), ref)) return; // built by another box while we waited
    removeStaleTemps(root);
    build(root, { trace });
  });
}

/**
 * Make every built-in image the store lacks: busybox:latest and lab:latest. When all are
 * there this reads index.json once and returns. Throws (a UserError naming the fix) only
 * after trying them all, so a missing busybox-static does not stop the lab image.
 */
export function ensureBaseImages(opts: { root?: string; trace?: Trace } = {}): void {
  const root = opts.root ?? boxRoot();
  const index = readIndex(root);
  let failure: unknown;
  for (const ref of Object.keys(BUILT_IN_IMAGES)) {
    if (findTag(index, ref)) continue;
    try {
      ensureBuiltIn(root, ref, opts.trace);
    } catch (err) {
      failure ??= err;
    }
  }
  if (failure) throw failure;
}
