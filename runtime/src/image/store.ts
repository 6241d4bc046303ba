// The image store: an OCI image layout (image-spec "image-layout.md"), so umoci, skopeo and
// other tools read what box writes and box reads what they write.
//
//   $BOX_ROOT/oci/oci-layout            {"imageLayoutVersion":"1.0.0"}
//   $BOX_ROOT/oci/index.json            the tags: one manifest descriptor per name:tag
//   $BOX_ROOT/oci/blobs/sha256/<hex>    every manifest, config and layer, named by its digest
//
// Blobs never change once written (their name is their content), so only index.json is
// ever rewritten. Every file is written under a temporary name and renamed into place:
// rename(2) is atomic, so a reader sees the old file or the new one, never half of one,
// and a box killed mid-write leaves only a stray temporary file.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import { digestHex, sha256, shortDigest } from './digest.ts';
import type { Healthcheck } from './healthcheck.ts';
import { flock, LOCK_EX } from './native.ts';
import { storePaths } from './paths.ts';
import { normalizeRef } from './ref.ts';

export const MediaType = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  // What Docker's registry API still serves for most images; box reads these too.
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** The annotation that names an image in an OCI layout's index.json: here, "name:tag". */
export const REF_NAME = 'org.opencontainers.image.ref.name';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
}

export interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

export interface OciManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** The runtime settings an image carries (image-spec "config.md", the `config` object). */
export interface ImageConfig {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, object>;
  StopSignal?: string;
  Hostname?: string;
  /** HEALTHCHECK: { Test, Interval, Timeout, StartPeriod, Retries }, durations in ns (image/healthcheck.ts). */
  Healthcheck?: Healthcheck;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface OciImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  config?: ImageConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: HistoryEntry[];
}

/** Create the layout's skeleton if it is not there yet. */
export function initStore(root: string): void {
  const p = storePaths(root);
  if (fs.existsSync(p.index)) return;
  try {
    fs.mkdirSync(p.blobs, { recursive: true });
  } catch (err) {
    throw notWritable(root, err);
  }
  const layout = path.join(p.oci, 'oci-layout');
  if (!fs.existsSync(layout)) writeFileAtomic(root, layout, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  withStoreLock(root, () => {
    if (!fs.existsSync(p.index)) writeIndex(root, { schemaVersion: 2, mediaType: MediaType.index, manifests: [] });
  });
}

/** index.json, or an empty index if the store was never made. */
export function readIndex(root: string): OciIndex {
  let text: string;
  try {
    text = fs.readFileSync(storePaths(root).index, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { schemaVersion: 2, mediaType: MediaType.index, manifests: [] };
    throw notReadable(root, err);
  }
  try {
    const index = JSON.parse(text) as OciIndex;
    if (!Array.isArray(index.manifests)) throw new Error('no manifests array');
    return index;
  } catch {
    throw new UserError(`the image index ${storePaths(root).index} is damaged; move it away and run box again to start a fresh store`);
  }
}

function writeIndex(root: string, index: OciIndex): void {
  writeFileAtomic(root, storePaths(root).index, JSON.stringify(index, null, 2) + '\n');
}

/**
 * Change index.json: read, modify, write back, with the store lock held so that two box
 * processes adding tags at once do not lose one of them.
 */
export function updateIndex(root: string, change: (index: OciIndex) => void): void {
  initStore(root);
  withStoreLock(root, () => {
    const index = readIndex(root);
    change(index);
    writeIndex(root, index);
  });
}

/**
 * Point a tag (`name:tag`) at a manifest. Whatever the tag pointed at before stays in the
 * store as an untagged ("dangling") image, as Docker leaves one when a tag moves: `box images`
 * shows it as <none>, and `box image prune` removes it.
 */
export function setTag(root: string, canonical: string, manifest: Descriptor): void {
  setTags(root, [{ canonical, manifest }]);
}

/** Several tags in one rewrite of index.json: all of them appear at once, or none (`box load`). */
export function setTags(root: string, tags: { canonical?: string; manifest: Descriptor }[]): void {
  updateIndex(root, (index) => {
    for (const { canonical, manifest } of tags) {
      if (canonical === undefined) {
        if (!index.manifests.some((d) => d.digest === manifest.digest)) index.manifests.push(untagged(manifest));
        continue;
      }
      const replaced = index.manifests.filter((d) => namesTag(d, canonical));
      // The new entry replaces the old tag, and an untagged entry for the same manifest.
      index.manifests = index.manifests.filter((d) => !namesTag(d, canonical) && !(isUntagged(d) && d.digest === manifest.digest));
      const { [REF_NAME]: _old, ...annotations } = manifest.annotations ?? {};
      index.manifests.push({
        mediaType: manifest.mediaType,
        digest: manifest.digest,
        size: manifest.size,
        ...(manifest.platform ? { platform: manifest.platform } : {}),
        annotations: { ...annotations, [REF_NAME]: canonical },
      });
      for (const old of replaced) {
        if (!index.manifests.some((d) => d.digest === old.digest)) index.manifests.push(untagged(old));
      }
    }
    sortIndex(index);
  });
}

/** Keep a manifest in the store without a tag (unless an entry already points at it). */
export function addUntagged(root: string, manifest: Descriptor): void {
  setTags(root, [{ manifest }]);
}

/** An index entry without a name: an image the store keeps, but no tag points at. */
export function untagged(entry: Descriptor): Descriptor {
  const { [REF_NAME]: _name, ...annotations } = entry.annotations ?? {};
  const { annotations: _a, ...rest } = entry;
  return Object.keys(annotations).length ? { ...rest, annotations } : rest;
}

export function isUntagged(entry: Descriptor): boolean {
  return !entry.annotations?.[REF_NAME];
}

/** Does this entry carry the tag `canonical`, as box writes it or as another tool did ("foo" for foo:latest)? */
function namesTag(entry: Descriptor, canonical: string): boolean {
  const name = entry.annotations?.[REF_NAME];
  if (!name) return false;
  if (name === canonical) return true;
  try {
    return normalizeRef(name).canonical === canonical;
  } catch {
    return false;
  }
}

/** Tags in name order, untagged images last (by digest): index.json stays easy to read and diff. */
export function sortIndex(index: OciIndex): void {
  const key = (d: Descriptor) => (isUntagged(d) ? `1 ${d.digest}` : `0 ${d.annotations![REF_NAME]}`);
  index.manifests.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** The manifest descriptor a tag points at, if the store has that tag. */
export function findTag(index: OciIndex, canonical: string): Descriptor | undefined {
  return index.manifests.find((d) => d.annotations?.[REF_NAME] === canonical);
}

export function blobPath(root: string, digest: string): string {
  return path.join(storePaths(root).blobs, digestHex(digest));
}

/**
 * A blob's bytes, checked against its digest (and size, when known). `what` names it in
 * the message if it is missing or damaged: "layer", "manifest", "config".
 */
export function readBlob(root: string, digest: string, what: string, size?: number): Buffer {
  let data: Buffer;
  try {
    data = fs.readFileSync(blobPath(root, digest));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    throw new UserError(`${what} ${digest} is missing from the store; remove the image and pull again`);
  }
  if ((size !== undefined && data.length !== size) || sha256(data) !== digest) {
    throw new UserError(`${what} ${digest} is corrupt (digest mismatch); remove the image and pull again`);
  }
  return data;
}

export function readJsonBlob<T>(root: string, digest: string, what: string, size?: number): T {
  const data = readBlob(root, digest, what, size);
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch {
    throw new UserError(`${what} ${shortDigest(digest)} is not valid JSON; remove the image and pull again`);
  }
}

/**
 * Store bytes as a blob; returns its digest. A blob already there intact is left alone; a
 * damaged one is replaced, so pulling or building again repairs the store.
 */
export function writeBlob(root: string, data: Buffer | string): { digest: string; size: number } {
  initStore(root);
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const digest = sha256(bytes);
  const file = blobPath(root, digest);
  if (!blobIntact(file, digest, bytes.length)) writeFileAtomic(root, file, bytes);
  return { digest, size: bytes.length };
}

function blobIntact(file: string, digest: string, size: number): boolean {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  return st?.size === size && sha256(fs.readFileSync(file)) === digest;
}

/** Create `file` (it must not exist), write it whole and flush it to disk. */
export function writeFileSynced(file: string, data: Buffer | string): void {
  const fd = fs.openSync(file, 'wx', 0o644);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Write a file under a temporary name, flush it to disk, and rename it into place. */
export function writeFileAtomic(root: string, file: string, data: Buffer | string): void {
  const tmp = tempPath(root, path.basename(file));
  writeFileSynced(tmp, data);
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * A fresh name in $BOX_ROOT/image-tmp, on the same filesystem as the store so that rename
 * works. The name starts with our pid, so a later box can tell a dead process's leftovers.
 */
export function tempPath(root: string, hint: string): string {
  const dir = path.join(root, 'image-tmp');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const random = (process.getBuiltinModule('node:crypto') as typeof import('node:crypto')).randomBytes(6).toString('hex');
  return path.join(dir, `${process.pid}-${random}-${hint}`);
}

/** Remove temporary files and directories left by box processes that no longer run. */
export function removeStaleTemps(root: string): void {
  const dir = path.join(root, 'image-tmp');
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(name.split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Lock depth per lock file in this process: the lock is reentrant within one box. */
const held = new Map<string, number>();

/**
 * Run `fn` holding the store's lock: flock(2) on $BOX_ROOT/image.lock. The kernel drops the
 * lock when the holder exits, however it exits, so a killed box never leaves the store locked.
 */
export function withStoreLock<T>(root: string, fn: () => T): T {
  const lockPath = storePaths(root).lock;
  const depth = held.get(lockPath) ?? 0;
  if (depth > 0) {
    // flock locks belong to an open file: a second open() and flock() in the same process
    // would wait for itself forever. So nested callers just run.
    held.set(lockPath, depth + 1);
    try {
      return fn();
    } finally {
      held.set(lockPath, depth);
    }
  }
  let fd: number;
  try {
    fs.mkdirSync(root, { recursive: true });
    fd = fs.openSync(lockPath, 'a', 0o600);
  } catch (err) {
    throw notWritable(root, err);
  }
  try {
    flock(fd, LOCK_EX);
    held.set(lockPath, 1);
    return fn();
  } finally {
    held.delete(lockPath);
    fs.closeSync(fd); // closing the file releases the lock
  }
}

/** The store cannot be read (a non-root user and /var/lib/box): say what to do. */
function notReadable(root: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') {
    return new UserError(`cannot read the image store in ${root} (${code}): run box as root (sudo), or set BOX_ROOT to a directory you own`);
  }
  return err as Error;
}

/** The store's directory cannot be written: say why and what to do, instead of an fs stack trace. */
function notWritable(root: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') {
    return new UserError(`cannot write the image store in ${root} (${code}): run box as root (sudo), or set BOX_ROOT to a directory you own`);
  }
  if (code === 'EROFS') return new UserError(`cannot write the image store in ${root}: the filesystem is read-only; set BOX_ROOT elsewhere`);
  return err as Error;
}
