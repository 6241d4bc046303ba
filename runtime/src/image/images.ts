// Images in the store: writing one (config, manifest, tag), listing them, and loading one
// to run: its manifest, its config, its layers unpacked.

import fs from 'node:fs';
import { UserError } from '../sys/errors.ts';
import type { Trace } from '../sys/trace.ts';
import { ensureLayerUnpacked, layerDir, type LayerRecord } from './layers.ts';
import { boxRoot } from './paths.ts';
import { normalizeRef } from './ref.ts';
import {
  MediaType, REF_NAME, addUntagged, findTag, readIndex, readJsonBlob, setTag, writeBlob,
  type Descriptor, type HistoryEntry, type ImageConfig, type OciImageConfig, type OciIndex, type OciManifest,
} from './store.ts';

export interface ResolvedImage {
  /** The tag it was found by, `busybox:latest`. */
  ref: string;
  /** The image id: the digest of its config, as Docker shows it. */
  id: string;
  manifestDigest: string;
  /** Unpacked layer directories, LOWEST FIRST (overlayfs's lowerdir= wants them top first). */
  layerDirs: string[];
  config: ImageConfig;
}

export interface ImageSummary {
  ref: string;
  name: string;
  tag: string;
  id: string;
  manifestDigest: string;
  created?: string;
  /** Bytes of the image's blobs in the store: config plus (compressed) layers. */
  size: number;
  layers: LayerRecord[];
  /** Set when the image's manifest or config cannot be read: what is wrong and what to do. */
  problem?: string;
}

/** The platform Node runs on, in the words of the OCI spec (GOARCH names). */
export function hostPlatform(): { architecture: string; os: string } {
  const arch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return { architecture: arch[process.arch] ?? process.arch, os: 'linux' };
}

/** What an image is made of, to write it: its settings, layers (lowest first) and history. */
export interface ImageParts {
  config: ImageConfig;
  layers: LayerRecord[];
  created?: string;
  author?: string;
  history?: HistoryEntry[];
}

/**
 * Write an image's config and manifest as blobs, and point the tag `ref` at it. Without a
 * ref the image is stored untagged (`box commit CONTAINER` with no name does that).
 */
export function writeImage(root: string, opts: ImageParts & { ref?: string }): { id: string; manifestDigest: string } {
  const canonical = opts.ref === undefined ? undefined : normalizeRef(opts.ref).canonical;
  const { id, manifest } = writeImageBlobs(root, opts);
  if (canonical) setTag(root, canonical, manifest);
  else addUntagged(root, manifest);
  return { id, manifestDigest: manifest.digest };
}

/**
 * Write an image's config and manifest as blobs only, without an entry in index.json: the
 * image exists for whoever holds its manifest descriptor (a build's steps, the build cache).
 */
export function writeImageBlobs(root: string, opts: ImageParts): { id: string; manifest: Descriptor } {
  const platform = hostPlatform();
  const imageConfig: OciImageConfig = {
    ...(opts.created ? { created: opts.created } : {}),
    ...(opts.author ? { author: opts.author } : {}),
    ...platform,
    config: opts.config,
    rootfs: { type: 'layers', diff_ids: opts.layers.map((l) => l.diffId) },
    ...(opts.history ? { history: opts.history } : {}),
  };
  const config = writeBlob(root, JSON.stringify(imageConfig));
  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: MediaType.manifest,
    config: { mediaType: MediaType.config, ...config },
    layers: opts.layers.map((l) => l.descriptor),
  };
  const written = writeBlob(root, JSON.stringify(manifest));
  return { id: config.digest, manifest: { mediaType: MediaType.manifest, ...written, platform } };
}

/** The images in the store, one per tag, sorted by tag. */
export function listImages(opts: { root?: string } = {}): ImageSummary[] {
  const root = opts.root ?? boxRoot();
  const out: ImageSummary[] = [];
  for (const desc of readIndex(root).manifests) {
    const ref = entryRef(desc) ?? '<none>:<none>';
    const colon = ref.lastIndexOf(':');
    const names = { ref, name: ref.slice(0, colon), tag: ref.slice(colon + 1) };
    let image: ReturnType<typeof readImage>;
    try {
      image = readImage(root, desc, ref);
    } catch (err) {
      // One damaged image must not hide the others from `box images`.
      if (!(err instanceof UserError)) throw err;
      out.push({ ...names, id: '', manifestDigest: desc.digest, size: 0, layers: [], problem: err.message });
      continue;
    }
    const { manifest, manifestDigest, config, configDescriptor } = image;
    const layers = manifest.layers.map((d, i) => ({ descriptor: d, diffId: config.rootfs.diff_ids[i] }));
    out.push({
      ...names,
      id: configDescriptor.digest,
      manifestDigest,
      ...(config.created ? { created: config.created } : {}),
      size: configDescriptor.size + manifest.layers.reduce((n, l) => n + l.size, 0),
      layers,
    });
  }
  return out;
}

/**
 * The tag an index entry carries, as `name:tag`. Box writes it that way; other tools may
 * write a bare name (skopeo's `oci:DIR:foo`), which reads as `foo:latest`.
 */
export function entryRef(desc: Descriptor): string | undefined {
  const name = desc.annotations?.[REF_NAME];
  if (!name) return undefined;
  try {
    return normalizeRef(name).canonical;
  } catch {
    return undefined; // a name box cannot parse: the image is there, but not by a name box knows
  }
}

/** Find the index entry for a reference: `name:tag`, or `name@digest`. */
export function findImage(index: OciIndex, ref: string): Descriptor | undefined {
  const r = normalizeRef(ref);
  if (r.digest) return index.manifests.find((d) => d.digest === r.digest && entryRef(d)?.startsWith(`${r.name}:`));
  return findTag(index, r.canonical) ?? index.manifests.find((d) => entryRef(d) === r.canonical);
}

/**
 * Find an image by (a prefix of) its id, as `docker run 3f57d9401f8d` does. Reads every
 * manifest, so it is only the fallback when no tag matches.
 */
export function findImageById(root: string, index: OciIndex, idPrefix: string): Descriptor | undefined {
  const m = /^(?:sha256:)?([a-f0-9]{4,64})$/.exec(idPrefix);
  if (!m) return undefined;
  const matches = new Map<string, Descriptor>();
  for (const desc of index.manifests) {
    try {
      const id = readImage(root, desc, desc.digest).configDescriptor.digest;
      if (id.startsWith(`sha256:${m[1]}`)) matches.set(id, desc);
    } catch {
      /* a damaged image is reported when used by name, not here */
    }
  }
  if (matches.size > 1) throw new UserError(`image id '${idPrefix}' is ambiguous: ${matches.size} images start with it; give more digits`);
  return [...matches.values()][0];
}

/** The manifest and config an index entry points at (choosing this platform from a multi-platform index). */
export function readImage(root: string, desc: Descriptor, ref: string) {
  let manifestDesc = desc;
  if (desc.mediaType === MediaType.index || desc.mediaType === MediaType.dockerManifestList) {
    const list = readJsonBlob<OciIndex>(root, desc.digest, 'manifest list', desc.size);
    const { architecture, os } = hostPlatform();
    const mine = list.manifests.find((d) => d.platform?.architecture === architecture && d.platform?.os === os);
    if (!mine) throw new UserError(`image '${ref}' has no variant for ${os}/${architecture}; pull one built for this machine`);
    manifestDesc = mine;
  }
  const manifest = readJsonBlob<OciManifest>(root, manifestDesc.digest, 'manifest', manifestDesc.size);
  if (!manifest.config?.digest || !Array.isArray(manifest.layers)) {
    throw new UserError(`manifest ${manifestDesc.digest} of image '${ref}' is not an image manifest; remove the image and pull again`);
  }
  const config = readJsonBlob<OciImageConfig>(root, manifest.config.digest, 'config', manifest.config.size);
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
    throw new UserError(`image '${ref}' is damaged: its manifest and config disagree on the layers; remove the image and pull again`);
  }
  return { manifest, manifestDigest: manifestDesc.digest, config, configDescriptor: manifest.config };
}

/** Load an image to run it: unpack any layer not yet unpacked, and return the layer directories. */
export function loadImage(root: string, desc: Descriptor, ref: string, trace?: Trace): ResolvedImage {
  const { manifest, manifestDigest, config, configDescriptor } = readImage(root, desc, ref);
  const host = hostPlatform();
  if (config.architecture && config.architecture !== host.architecture) {
    throw new UserError(`image '${ref}' is built for ${config.architecture}, and this machine is ${host.architecture}; use an image for ${host.architecture}`);
  }
  const layerDirs = manifest.layers.map((descriptor, i) => {
    const diffId = config.rootfs.diff_ids[i];
    // The common case costs one stat: a layer directory only ever appears complete (rename).
    const dir = layerDir(root, diffId);
    if (fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return dir;
    return ensureLayerUnpacked(root, { descriptor, diffId }, { trace });
  });
  return { ref, id: configDescriptor.digest, manifestDigest, layerDirs, config: config.config ?? {} };
}
