// `box pull`: an image from a registry into the store.
//
//   1. GET the manifest by tag; if it is a list, pick this machine's platform and GET that.
//   2. GET the config, then every layer the store lacks, three at a time, each written to a
//      temporary directory and checked against its digest as it arrives.
//   3. Decompress each layer, check it against the diff id its config gives, and unpack it
//      with the same safe unpacker `box run` uses (which refuses entries that leave the layer).
//   4. Holding the store lock: rename the blobs into the store and point the tag at the image.
//
// Until step 4 nothing in the store has changed, so a pull that fails or is killed leaves the
// store as it was (the next box removes the temporary directory of a dead process); two pulls
// at once each stage their own files, and rename(2) of identical content is harmless.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../sys/errors.ts';
import { digestHex, sha256 } from '../digest.ts';
import { hostPlatform } from '../images.ts';
import { decompress, layerDir } from '../layers.ts';
import { storePaths } from '../paths.ts';
import { normalizeRef, type ImageRef } from '../ref.ts';
import {
  blobPath, findTag, initStore, readIndex, removeStaleTemps, setTag, tempPath, withStoreLock,
  type Descriptor, type OciImageConfig, type OciManifest,
} from '../store.ts';
import { unpackTar } from '../unpack.ts';
import { repositoryScope } from './auth.ts';
import {
  downloadBlob, eachLimited, getManifest, layerId, MAX_MANIFEST_BYTES, storeHas,
} from './blobs.ts';
import { RegistryClient, type ClientOptions } from './client.ts';
import { parseManifest, selectPlatform } from './manifest.ts';
import type { ProgressSink } from './progress.ts';

export interface PullOptions extends ClientOptions {
  progress: ProgressSink;
  /** Layers downloaded at once (default 3, as Docker). */
  concurrency?: number;
}

export interface PullResult {
  /** `localhost:5000/app:v1`: the tag the image has in the store now. */
  tag: string;
  /** The digest the registry has for the reference (a list's digest, for a multi-platform image). */
  digest: string;
  /** The image id: its config's digest. */
  id: string;
  /** The tag already pointed at this image: nothing was downloaded. */
  upToDate: boolean;
  /** Layers downloaded, and layers the store had already. */
  downloaded: number;
  existing: number;
}

/** The checked manifest of the image to pull, and the digest the user's reference resolves to. */
interface Chosen {
  manifest: OciManifest;
  bytes: Buffer;
  descriptor: Descriptor;
  topDigest: string;
}

export async function pullImage(root: string, refText: string, opts: PullOptions): Promise<PullResult> {
  const ref = normalizeRef(refText);
  if (ref.digest) throw new UserError(`box pulls by tag; '${refText}' pins a digest, so give NAME:TAG (the digest is checked all the same)`);
  const client = new RegistryClient(ref.domain, opts);
  const scope = repositoryScope(ref.path, 'pull');
  opts.progress.line(`${ref.tag}: Pulling from ${ref.path}`);

  const chosen = await chooseManifest(client, ref, scope);
  const existing = findTag(readIndex(root), ref.canonical);
  if (existing?.digest === chosen.descriptor.digest && await storeHas(root, chosen.descriptor)) {
    opts.progress.line(`Digest: ${chosen.topDigest}`);
    opts.progress.line(`Status: Image is up to date for ${ref.canonical}`);
    const id = chosen.manifest.config.digest;
    return { tag: ref.canonical, digest: chosen.topDigest, id, upToDate: true, downloaded: 0, existing: chosen.manifest.layers.length };
  }

  removeStaleTemps(root);
  const stage = tempPath(root, 'pull');
  fs.mkdirSync(path.join(stage, 'blobs'), { recursive: true, mode: 0o700 });
  fs.mkdirSync(path.join(stage, 'layers'), { mode: 0o700 });
  try {
    const staged = new Map<string, string>(); // digest -> file in the stage
    const stageFile = (digest: string) => path.join(stage, 'blobs', digestHex(digest));
    const fetchInto = async (d: Descriptor, onBytes: (n: number) => void = () => {}) => {
      await downloadBlob(client, ref.path, scope, d, stageFile(d.digest), onBytes);
      staged.set(d.digest, stageFile(d.digest));
    };

    // The config: small, needed to check every layer against its diff id.
    const { manifest } = chosen;
    if (!(await storeHas(root, manifest.config))) await fetchInto(manifest.config);
    const config = readConfig(staged.get(manifest.config.digest) ?? blobPath(root, manifest.config.digest), ref);
    if (config.rootfs.diff_ids.length !== manifest.layers.length) {
      throw new UserError(`${ref.canonical} is damaged on the registry: its manifest has ${manifest.layers.length} layers and its config ${config.rootfs.diff_ids.length}`);
    }

    // The layers: "Already exists" for those the store has; the others downloaded and unpacked.
    const layers = uniqueLayers(manifest, config);
    const missing: typeof layers = [];
    for (const layer of layers) {
      if (await storeHas(root, layer.descriptor)) opts.progress.layer(layerId(layer.descriptor), 'Already exists');
      else missing.push(layer);
    }
    for (const { descriptor } of missing) opts.progress.layer(layerId(descriptor), 'Pulling fs layer');
    const unpacked: string[] = [];
    await eachLimited(missing, opts.concurrency ?? 3, async ({ descriptor, diffId }) => {
      const id = layerId(descriptor);
      await fetchInto(descriptor, (done) => opts.progress.layer(id, 'Downloading', { done, total: descriptor.size }));
      opts.progress.layer(id, 'Download complete');
      if (!fs.existsSync(layerDir(root, diffId))) {
        opts.progress.layer(id, 'Extracting');
        extract(stageFile(descriptor.digest), descriptor, diffId, path.join(stage, 'layers', digestHex(diffId)), ref);
        unpacked.push(diffId);
      }
      opts.progress.layer(id, 'Pull complete');
    });

    // Into the store: renames, then the tag, with the lock held.
    const manifestFile = stageFile(chosen.descriptor.digest);
    fs.writeFileSync(manifestFile, chosen.bytes, { flag: 'wx' });
    staged.set(chosen.descriptor.digest, manifestFile);
    initStore(root);
    withStoreLock(root, () => {
      for (const [digest, file] of staged) fs.renameSync(file, blobPath(root, digest));
      const { architecture, os } = config;
      setTag(root, ref.canonical, { ...chosen.descriptor, platform: { architecture, os } });
    });
    // Should box die before this, the layers are unpacked again when first run.
    fs.mkdirSync(storePaths(root).layers, { recursive: true, mode: 0o700 });
    for (const diffId of unpacked) renameLayer(path.join(stage, 'layers', digestHex(diffId)), layerDir(root, diffId));
    opts.progress.line(`Digest: ${chosen.topDigest}`);
    opts.progress.line(`Status: Downloaded newer image for ${ref.canonical}`);
    return {
      tag: ref.canonical, digest: chosen.topDigest, id: manifest.config.digest, upToDate: false,
      downloaded: missing.length, existing: layers.length - missing.length,
    };
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

/** The image manifest for this machine, each manifest checked against the digest that named it. */
async function chooseManifest(client: RegistryClient, ref: ImageRef, scope: string): Promise<Chosen> {
  const top = await getManifest(client, ref.path, ref.tag, scope, ref.canonical);
  const topDigest = sha256(top.bytes);
  // The registry says which digest the tag points at; what it sent must be that manifest.
  if (top.headerDigest?.startsWith('sha256:') && top.headerDigest !== topDigest) {
    throw new UserError(`the manifest ${client.domain} sent for ${ref.canonical} does not match the digest it gave (${top.headerDigest}); refused`);
  }
  const parsed = parseManifest(top.bytes, top.contentType, ref.canonical);
  if (parsed.kind === 'image') {
    return { manifest: parsed.manifest, bytes: top.bytes, topDigest, descriptor: { mediaType: parsed.mediaType, digest: topDigest, size: top.bytes.length } };
  }
  const pick = selectPlatform(parsed.index, hostPlatform(), ref.canonical);
  if (pick.size > MAX_MANIFEST_BYTES) throw new UserError(`the manifest of ${ref.canonical} for this platform is over 4 MiB; refused`);
  const one = await getManifest(client, ref.path, pick.digest, scope, `${ref.canonical} (${pick.digest})`);
  if (sha256(one.bytes) !== pick.digest || one.bytes.length !== pick.size) {
    throw new UserError(`the manifest ${client.domain} sent as ${pick.digest} does not match that digest; refused`);
  }
  const image = parseManifest(one.bytes, one.contentType, ref.canonical);
  if (image.kind !== 'image') throw new UserError(`${ref.canonical}: a manifest list inside a manifest list; box does not follow those`);
  return { manifest: image.manifest, bytes: one.bytes, topDigest, descriptor: { mediaType: image.mediaType, digest: pick.digest, size: pick.size } };
}

function readConfig(file: string, ref: ImageRef): OciImageConfig {
  let config: OciImageConfig;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8')) as OciImageConfig;
  } catch {
    throw new UserError(`the config of ${ref.canonical} is not valid JSON`);
  }
  if (!Array.isArray(config.rootfs?.diff_ids) || !config.rootfs.diff_ids.every((d) => /^sha256:[a-f0-9]{64}$/.test(d))) {
    throw new UserError(`the config of ${ref.canonical} has no list of sha256 layer diff ids; box cannot check its layers`);
  }
  const host = hostPlatform().architecture;
  if (config.architecture && config.architecture !== host) {
    throw new UserError(`${ref.canonical} is built for ${config.architecture}, and this machine is ${host}`);
  }
  return config;
}

/** Each layer once (an image may list the same blob twice), with its diff id. */
function uniqueLayers(manifest: OciManifest, config: OciImageConfig): { descriptor: Descriptor; diffId: string }[] {
  const seen = new Set<string>();
  return manifest.layers.map((descriptor, i) => ({ descriptor, diffId: config.rootfs.diff_ids[i] }))
    .filter(({ descriptor }) => !seen.has(descriptor.digest) && seen.add(descriptor.digest));
}

/** Decompress a downloaded layer, check its diff id, and unpack it (safely) into `dir`. */
function extract(file: string, d: Descriptor, diffId: string, dir: string, ref: ImageRef): void {
  const tar = decompress(fs.readFileSync(file), d);
  if (sha256(tar) !== diffId) {
    throw new UserError(`layer ${d.digest} of ${ref.canonical} does not match the diff id ${diffId} its config gives; refused, nothing stored`);
  }
  fs.mkdirSync(dir, { mode: 0o755 });
  unpackTar(tar, dir, { label: `layer ${d.digest} of ${ref.canonical}` });
}

function renameLayer(from: string, to: string): void {
  try {
    fs.renameSync(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err; // another box unpacked it meanwhile
  }
}
