// `box tag SRC DST`: a second name for an image. A tag is only an entry in index.json that
// points at a manifest; nothing is copied, and both names show the same IMAGE ID.

import { UserError } from '../sys/errors.ts';
import { findImage } from './catalog.ts';
import { normalizeRef } from './ref.ts';
import { setTag } from './store.ts';

/** Point the tag `target` at the image `source` names. Returns the tag as stored, `name:tag`. */
export function tagImage(root: string, source: string, target: string): string {
  const dst = normalizeRef(target);
  if (dst.digest) throw new UserError(`'${target}' has a digest; a tag is NAME[:TAG], e.g. box tag ${source} myimage:v1`);
  const { image } = findImage(root, source, { builtIn: true });
  const { mediaType, digest, size, platform } = image.entry;
  setTag(root, dst.canonical, { mediaType, digest, size, ...(platform ? { platform } : {}) });
  return dst.canonical;
}
