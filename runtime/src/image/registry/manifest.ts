// Manifests as registries serve them. One name may stand for one image (an image manifest:
// a config and layers) or for several (an index, or Docker's "manifest list": one manifest per
// platform). Box asks for all four kinds, OCI's and Docker's, and picks this machine's
// platform from a list, as `docker pull` does.

import { NotFoundError, UserError } from '../../sys/errors.ts';
import { isDigest } from '../digest.ts';
import { MediaType, type Descriptor, type OciIndex, type OciManifest } from '../store.ts';

/** The Accept header of a manifest GET: everything box can read, image manifests first. */
export const MANIFEST_ACCEPT = [
  MediaType.manifest, MediaType.dockerManifest, MediaType.index, MediaType.dockerManifestList,
].join(', ');

const SCHEMA1 = /^application\/vnd\.docker\.distribution\.manifest\.v1\+(prettyjws|json)$/;

export type ParsedManifest =
  | { kind: 'index'; mediaType: string; index: OciIndex }
  | { kind: 'image'; mediaType: string; manifest: OciManifest };

/**
 * Read a manifest a registry sent. Its kind comes from its own mediaType field, or from the
 * Content-Type it came with (OCI manifests may leave the field out). Every digest in it must
 * be sha256: box names blobs by sha256 only, and never uses a digest it cannot check.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined, what: string): ParsedManifest {
  let doc: { schemaVersion?: number; mediaType?: string; manifests?: unknown; config?: unknown; layers?: unknown };
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new UserError(`the manifest of ${what} is not valid JSON; the registry sent something else`);
  }
  const mediaType = doc.mediaType ?? contentType?.split(';')[0].trim() ?? '';
  if (doc.schemaVersion === 1 || SCHEMA1.test(mediaType)) {
    throw new UserError(`${what} has a Docker schema 1 manifest, which registries stopped serving in 2019 and box does not read; push the image again with a newer tool`);
  }
  const isList = mediaType === MediaType.index || mediaType === MediaType.dockerManifestList || (!doc.config && Array.isArray(doc.manifests));
  if (isList) {
    if (!Array.isArray(doc.manifests)) throw new UserError(`the manifest list of ${what} has no manifests`);
    for (const d of doc.manifests as Descriptor[]) checkDescriptor(d, 'manifest', what);
    return { kind: 'index', mediaType: mediaType || MediaType.index, index: doc as OciIndex };
  }
  if (!doc.config || !Array.isArray(doc.layers)) {
    throw new UserError(`${what} is not an image (its manifest has ${mediaType ? `media type ${mediaType} and ` : ''}no config and layers)`);
  }
  checkDescriptor(doc.config as Descriptor, 'config', what);
  for (const d of doc.layers as Descriptor[]) checkDescriptor(d, 'layer', what);
  return { kind: 'image', mediaType: mediaType || MediaType.manifest, manifest: doc as OciManifest };
}

function checkDescriptor(d: Descriptor, role: string, what: string): void {
  if (typeof d?.digest !== 'string' || !isDigest(d.digest)) {
    const alg = typeof d?.digest === 'string' ? d.digest.split(':')[0] : 'no';
    throw new UserError(`a ${role} of ${what} has ${alg === 'sha256' ? 'a malformed' : `a ${alg}`} digest; box handles sha256 digests only`);
  }
  if (!Number.isSafeInteger(d.size) || d.size < 0) throw new UserError(`a ${role} of ${what} has no valid size`);
}

/**
 * The manifest for `platform` in an index. Entries for another OS or architecture, and the
 * "unknown/unknown" entries that hold build attestations, are passed over. A variant (arm
 * v7, v8) is preferred when given, as Docker does, but not required.
 */
export function selectPlatform(index: OciIndex, platform: { os: string; architecture: string; variant?: string }, what: string): Descriptor {
  const fits = index.manifests.filter((d) => d.platform?.os === platform.os && d.platform?.architecture === platform.architecture);
  const best = fits.find((d) => platform.variant && d.platform?.variant === platform.variant) ?? fits[0];
  if (best) return best;
  const offered = [...new Set(index.manifests.map((d) => d.platform).filter((p) => p && p.os !== 'unknown')
    .map((p) => `${p!.os}/${p!.architecture}${p!.variant ? `/${p!.variant}` : ''}`))];
  throw new NotFoundError(`${what} has no image for ${platform.os}/${platform.architecture}${offered.length ? ` (it has ${offered.join(', ')})` : ''}`);
}
