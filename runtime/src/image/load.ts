// `box load`: images into the store from a tar file that `box save`, `skopeo copy ...
// oci-archive:FILE` or `docker save` wrote. Two formats are read:
//   - an OCI image layout (oci-layout, index.json, blobs/sha256/...): box's, skopeo's, and
//     Docker's since version 25, which names images by the io.containerd.image.name annotation;
//   - Docker's older format: manifest.json listing each image's config, tags and layer tars.
//
// The archive comes from elsewhere, so nothing in it is trusted:
//   - every entry's path is checked as a layer's would be (no absolute paths, no `..`), and
//     only files, directories and links that stay inside the archive are accepted;
//   - every blob is checked against its digest, every layer against the diff id in its
//     config, and every layer is unpacked by the same safe unpacker `box run` uses, which
//     refuses entries that would write outside the layer, with the entry named.
// Everything is checked and written into a temporary directory first. Then, holding the store
// lock, the blobs are renamed into the store and index.json is rewritten once: a load that
// fails or is killed before that leaves the store as it was (the next box removes the
// temporary directory), and a load killed after it has loaded its images.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import { digestHex, isDigest, sha256 } from './digest.ts';
import { hostPlatform } from './images.ts';
import { decompress, layerDir } from './layers.ts';
import { storePaths } from './paths.ts';
import { normalizeRef } from './ref.ts';
import { CONTAINERD_NAME } from './save.ts';
import {
  blobPath, initStore, MediaType, REF_NAME, removeStaleTemps, setTags, tempPath, withStoreLock,
  type Descriptor, type OciImageConfig, type OciIndex, type OciManifest, writeFileSynced,
} from './store.ts';
import { readTar, TarError } from './tar-read.ts';
import { pathParts, symlinkStaysInside, unpackTar, unsafePath } from './unpack.ts';

export interface LoadedImage {
  /** `busybox:latest`, or undefined for an image the archive does not name. */
  tag?: string;
  id: string;
}

/** An archive bigger than this is refused: box reads it into memory. */
export const MAX_ARCHIVE_BYTES = 2 * 1024 ** 3;

/** The files of an archive, by path, after the safety checks. */
type Files = Map<string, Buffer>;

/** Load the archive `tar`; `label` names it in messages (the file name, or "standard input"). */
export function loadArchive(root: string, tar: Buffer, label: string): LoadedImage[] {
  const files = archiveFiles(tar, label);
  const images = files.has('index.json') ? fromOciLayout(files, label)
    : files.has('manifest.json') ? fromDockerArchive(files, label)
    : undefined;
  if (!images) {
    throw new UserError(`${label} is not an image archive: it has neither index.json (OCI layout) nor manifest.json (docker save); ` +
      'make one with box save, docker save, or skopeo copy ... oci-archive:FILE');
  }
  if (!images.length) throw new UserError(`${label} holds no images (its index.json lists none)`);
  return install(root, images, label);
}

// ---- reading the archive ----------------------------------------------------------------

function archiveFiles(tar: Buffer, label: string): Files {
  const files: Files = new Map();
  const links: [string, string][] = [];
  const refuse = (name: string, why: string) =>
    new UserError(`refusing to load ${label}: entry '${name}' ${why} (the archive is unsafe; do not use it)`);
  try {
    for (const e of readTar(tar)) {
      const problem = unsafePath(e.name);
      if (problem) throw refuse(e.name, problem);
      const name = pathParts(e.name).join('/');
      switch (e.type) {
        case 'dir':
          break;
        case 'file':
          files.set(name, e.data);
          break;
        case 'hardlink': {
          const target = pathParts(e.linkname).join('/');
          const linkProblem = unsafePath(e.linkname, 'hard link target');
          if (linkProblem) throw refuse(e.name, linkProblem);
          const data = files.get(target);
          if (!data) throw refuse(e.name, `is a hard link to '${e.linkname}', which is not an earlier file of the archive`);
          files.set(name, data);
          break;
        }
        case 'symlink':
          // Docker's old format links identical layers: 1234/layer.tar -> ../abcd/layer.tar
          if (e.linkname.startsWith('/') || !symlinkStaysInside(pathParts(e.name), e.linkname)) {
            throw refuse(e.name, `is a symlink to '${e.linkname}', which leaves the archive`);
          }
          links.push([name, path.posix.normalize(path.posix.join(path.posix.dirname(name), e.linkname))]);
          break;
        default:
          throw refuse(e.name, `is a ${e.type === 'char' ? 'character device' : e.type === 'block' ? 'block device' : e.type === 'fifo' ? 'FIFO' : `tar entry of type '${e.typeflag}'`}; an image archive holds only files and directories`);
      }
    }
  } catch (err) {
    if (err instanceof TarError) throw new UserError(`${label} is not a readable tar archive: ${err.message}`);
    throw err;
  }
  for (const [name, target] of links) {
    const data = files.get(target);
    if (data) files.set(name, data); // a link to nothing is harmless unless used: then the file is missing
  }
  return files;
}

/** An image found in the archive, checked, ready to install. */
interface Incoming {
  tags: string[];
  manifest: Descriptor;
  id: string;
  /** Blobs to store, by digest: manifest, config, layers. */
  blobs: Map<string, Buffer>;
  layers: { descriptor: Descriptor; diffId: string }[];
}

function jsonFile<T>(files: Files, name: string, label: string): T {
  const data = files.get(name);
  if (!data) throw new UserError(`${label} lacks ${name}; it is not a complete image archive`);
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch {
    throw new UserError(`${name} in ${label} is not valid JSON; the archive is damaged`);
  }
}

/** A blob of the archive, checked against its digest and size. */
function blob(files: Files, d: Descriptor, what: string, label: string): Buffer {
  if (typeof d?.digest !== 'string' || !isDigest(d.digest)) {
    const alg = typeof d?.digest === 'string' ? d.digest.split(':')[0] : 'no';
    throw new UserError(`${label}: a ${what} has ${alg === 'sha256' ? 'a malformed' : `a ${alg}`} digest; box handles sha256 digests only`);
  }
  const data = files.get(`blobs/sha256/${digestHex(d.digest)}`);
  if (!data) throw new UserError(`${label} lacks the ${what} ${d.digest}; the archive is incomplete`);
  if ((d.size !== undefined && data.length !== d.size) || sha256(data) !== d.digest) {
    throw new UserError(`the ${what} ${d.digest} in ${label} does not match its digest; the archive is damaged or was altered`);
  }
  return data;
}

function fromOciLayout(files: Files, label: string): Incoming[] {
  const layout = jsonFile<{ imageLayoutVersion?: string }>(files, 'oci-layout', label);
  if (typeof layout.imageLayoutVersion !== 'string' || !layout.imageLayoutVersion.startsWith('1.')) {
    throw new UserError(`${label} has oci-layout version ${JSON.stringify(layout.imageLayoutVersion)}; box reads version 1.x`);
  }
  const index = jsonFile<OciIndex>(files, 'index.json', label);
  if (!Array.isArray(index.manifests)) throw new UserError(`index.json in ${label} has no manifests list; the archive is damaged`);
  const byManifest = new Map<string, Incoming>();
  for (const entry of index.manifests) {
    const tag = archiveTag(entry);
    const manifestDesc = pickPlatform(files, entry, label);
    let image = byManifest.get(manifestDesc.digest);
    if (!image) {
      image = readOciImage(files, manifestDesc, label);
      byManifest.set(manifestDesc.digest, image);
    }
    if (tag && !image.tags.includes(tag)) image.tags.push(tag);
  }
  return [...byManifest.values()];
}

/**
 * The name an archive gives an entry: Docker's full name if it wrote one (its ref.name is the
 * bare tag, "latest"), else ref.name (`busybox:latest` from box, `other` from skopeo: other:latest).
 */
function archiveTag(entry: Descriptor): string | undefined {
  for (const name of [entry.annotations?.[CONTAINERD_NAME], entry.annotations?.[REF_NAME]]) {
    if (!name) continue;
    try {
      const r = normalizeRef(name);
      return r.digest ? undefined : r.canonical;
    } catch {
      /* a name box cannot read: try the next, or load the image untagged */
    }
  }
  return undefined;
}

/** An entry that is a manifest list: the manifest for this machine's platform. */
function pickPlatform(files: Files, entry: Descriptor, label: string): Descriptor {
  if (entry.mediaType !== MediaType.index && entry.mediaType !== MediaType.dockerManifestList) return entry;
  const list = JSON.parse(blob(files, entry, 'manifest list', label).toString('utf8')) as OciIndex;
  const { architecture, os } = hostPlatform();
  const mine = list.manifests?.find((d) => d.platform?.architecture === architecture && d.platform?.os === os);
  if (!mine) throw new UserError(`${label} has no image for ${os}/${architecture}; save one built for this machine`);
  return pickPlatform(files, mine, label);
}

function readOciImage(files: Files, manifestDesc: Descriptor, label: string): Incoming {
  const manifestBytes = blob(files, manifestDesc, 'manifest', label);
  let manifest: OciManifest;
  try {
    manifest = JSON.parse(manifestBytes.toString('utf8')) as OciManifest;
  } catch {
    throw new UserError(`manifest ${manifestDesc.digest} in ${label} is not valid JSON`);
  }
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw new UserError(`${manifestDesc.digest} in ${label} is not an image manifest (no config or layers)`);
  }
  const configBytes = blob(files, manifest.config, 'config', label);
  const config = parseConfig(configBytes, manifest.config.digest, label);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new UserError(`image ${manifest.config.digest} in ${label}: its manifest has ${manifest.layers.length} layers and its config ${config.rootfs.diff_ids.length}; the archive is damaged`);
  }
  const blobs = new Map<string, Buffer>([[manifestDesc.digest, manifestBytes], [manifest.config.digest, configBytes]]);
  const layers = manifest.layers.map((descriptor, i) => {
    blobs.set(descriptor.digest, blob(files, descriptor, 'layer', label));
    return { descriptor, diffId: config.rootfs.diff_ids[i] };
  });
  const { mediaType, digest, size } = manifestDesc;
  const platform = { architecture: config.architecture, os: config.os };
  return { tags: [], manifest: { mediaType: mediaType ?? MediaType.manifest, digest, size, platform }, id: manifest.config.digest, blobs, layers };
}

function parseConfig(bytes: Buffer, digest: string, label: string): OciImageConfig {
  let config: OciImageConfig;
  try {
    config = JSON.parse(bytes.toString('utf8')) as OciImageConfig;
  } catch {
    throw new UserError(`config ${digest} in ${label} is not valid JSON`);
  }
  if (!Array.isArray(config.rootfs?.diff_ids) || !config.rootfs.diff_ids.every((d) => isDigest(d))) {
    throw new UserError(`config ${digest} in ${label} has no list of sha256 layer diff ids; box cannot check its layers`);
  }
  const host = hostPlatform().architecture;
  if (config.architecture && config.architecture !== host) {
    throw new UserError(`image ${digest} in ${label} is built for ${config.architecture}, and this machine is ${host}`);
  }
  return config;
}

/** Docker's format before version 25: manifest.json, each config and layer a file of the archive. */
function fromDockerArchive(files: Files, label: string): Incoming[] {
  const list = jsonFile<{ Config?: string; RepoTags?: string[] | null; Layers?: string[] }[]>(files, 'manifest.json', label);
  if (!Array.isArray(list)) throw new UserError(`manifest.json in ${label} is not a list of images`);
  return list.map((item) => {
    const configBytes = files.get(pathParts(item.Config ?? '').join('/'));
    if (!configBytes || !Array.isArray(item.Layers)) throw new UserError(`${label}: manifest.json names a config or layers the archive lacks`);
    const configDigest = sha256(configBytes);
    const config = parseConfig(configBytes, configDigest, label);
    if (config.rootfs.diff_ids.length !== item.Layers.length) {
      throw new UserError(`image ${configDigest} in ${label}: manifest.json lists ${item.Layers.length} layers and its config ${config.rootfs.diff_ids.length}`);
    }
    const blobs = new Map<string, Buffer>([[configDigest, configBytes]]);
    const layers = item.Layers.map((name, i) => {
      const data = files.get(pathParts(name).join('/'));
      if (!data) throw new UserError(`${label} lacks the layer ${name} that manifest.json lists`);
      const gzip = data[0] === 0x1f && data[1] === 0x8b;
      const descriptor = { mediaType: gzip ? MediaType.layerGzip : MediaType.layerTar, digest: sha256(data), size: data.length };
      blobs.set(descriptor.digest, data);
      return { descriptor, diffId: config.rootfs.diff_ids[i] };
    });
    // Docker's format has no manifest: box writes the one an OCI store needs.
    const manifest: OciManifest = {
      schemaVersion: 2,
      mediaType: MediaType.manifest,
      config: { mediaType: MediaType.config, digest: configDigest, size: configBytes.length },
      layers: layers.map((l) => l.descriptor),
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const manifestDigest = sha256(manifestBytes);
    blobs.set(manifestDigest, manifestBytes);
    const tags = (item.RepoTags ?? []).map((t) => {
      try {
        return normalizeRef(t).canonical;
      } catch {
        throw new UserError(`${label}: manifest.json tags an image '${t}', which is not a valid name`);
      }
    });
    return {
      tags,
      manifest: { mediaType: MediaType.manifest, digest: manifestDigest, size: manifestBytes.length, platform: hostPlatform() },
      id: configDigest,
      blobs,
      layers,
    };
  });
}

// ---- into the store ---------------------------------------------------------------------

function install(root: string, images: Incoming[], label: string): LoadedImage[] {
  initStore(root);
  removeStaleTemps(root);
  const stage = tempPath(root, 'load');
  fs.mkdirSync(path.join(stage, 'blobs'), { recursive: true, mode: 0o700 });
  fs.mkdirSync(path.join(stage, 'layers'), { mode: 0o700 });
  try {
    // 1. Every layer: decompressed, checked against its diff id, unpacked safely. A layer the
    //    store has unpacked already is checked, not unpacked again.
    const unpacked = new Set<string>();
    const checked = new Set<string>();
    for (const image of images) {
      for (const { descriptor, diffId } of image.layers) {
        if (checked.has(descriptor.digest)) continue;
        checked.add(descriptor.digest);
        const tar = decompress(image.blobs.get(descriptor.digest)!, descriptor);
        if (sha256(tar) !== diffId) {
          throw new UserError(`layer ${descriptor.digest} in ${label} does not match the diff id ${diffId} its config gives; the archive is damaged or was altered`);
        }
        if (unpacked.has(diffId) || fs.existsSync(layerDir(root, diffId))) continue;
        const dir = path.join(stage, 'layers', digestHex(diffId));
        fs.mkdirSync(dir, { mode: 0o755 });
        unpackTar(tar, dir, { label: `layer ${descriptor.digest} of ${label}` });
        unpacked.add(diffId);
      }
    }
    // 2. Blobs the store lacks, written in full (and flushed) under the temporary directory.
    const staged: string[] = [];
    for (const image of images) {
      for (const [digest, data] of image.blobs) {
        const file = path.join(stage, 'blobs', digestHex(digest));
        if (fs.existsSync(file) || blobIntact(root, digest, data.length)) continue;
        writeFileSynced(file, data);
        staged.push(digest);
      }
    }
    // 3. Into the store: renames only, then one rewrite of index.json.
    withStoreLock(root, () => {
      for (const digest of staged) fs.renameSync(path.join(stage, 'blobs', digestHex(digest)), blobPath(root, digest));
      setTags(root, images.flatMap((image) =>
        image.tags.length ? image.tags.map((canonical) => ({ canonical, manifest: image.manifest })) : [{ manifest: image.manifest }]));
    });
    // 4. The unpacked layers; should box die before this, they are unpacked again on first use.
    fs.mkdirSync(storePaths(root).layers, { recursive: true, mode: 0o700 });
    for (const diffId of unpacked) {
      try {
        fs.renameSync(path.join(stage, 'layers', digestHex(diffId)), layerDir(root, diffId));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err; // another box unpacked it meanwhile
      }
    }
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
  return images.flatMap((image) => (image.tags.length ? image.tags.map((tag) => ({ tag, id: image.id })) : [{ id: image.id }]));
}

function blobIntact(root: string, digest: string, size: number): boolean {
  const file = blobPath(root, digest);
  const st = fs.statSync(file, { throwIfNoEntry: false });
  return st?.size === size && sha256(fs.readFileSync(file)) === digest;
}
