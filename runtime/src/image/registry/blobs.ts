// Blobs over the wire: download one into a file, checking its digest on the way; ask whether
// a registry has one; and the small helpers push and pull share (a worker pool, the manifest
// GET, the path of a repository's API).

import fs from 'node:fs';
import { NotFoundError, UserError } from '../../sys/errors.ts';
import { shortDigest } from '../digest.ts';
import { blobPath, type Descriptor } from '../store.ts';
import { registryError, type RegistryClient } from './client.ts';
import { readBody } from './http.ts';
import { MANIFEST_ACCEPT } from './manifest.ts';

const crypto = () => process.getBuiltinModule('node:crypto') as typeof import('node:crypto');

/** The distribution spec recommends refusing manifests over 4 MiB. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** `/v2/<repository>/<rest>`: every request of the API names the repository first. */
export function apiPath(repo: string, rest: string): string {
  return `/v2/${repo}/${rest}`;
}

/** The short id a progress line names a layer by, as Docker shows it. */
export function layerId(d: Descriptor): string {
  return shortDigest(d.digest);
}

/**
 * Run `work` on every item, at most `limit` at a time (Docker moves three layers at once).
 * After a failure no new item starts: the first error is the one the user sees.
 */
export async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      try {
        await work(items[next++]);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  // Every worker has stopped when this returns: the caller may then remove their files.
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}

/** The sha256 digest of a file, read in pieces (a layer may be larger than we want in memory). */
export async function fileDigest(file: string): Promise<string> {
  const hash = crypto().createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** Has the local store this blob, whole and unaltered? */
export async function storeHas(root: string, d: Descriptor): Promise<boolean> {
  const file = blobPath(root, d.digest);
  if (fs.statSync(file, { throwIfNoEntry: false })?.size !== d.size) return false;
  return (await fileDigest(file)) === d.digest;
}

/** A manifest, by tag or digest, as the registry sends it. */
export async function getManifest(client: RegistryClient, repo: string, reference: string, scope: string, what: string) {
  const res = await client.send('GET', client.url(apiPath(repo, `manifests/${reference}`)), { scope, headers: { accept: MANIFEST_ACCEPT } });
  if (res.status === 404) throw new NotFoundError(`${what} not found in registry ${client.domain} (${await registryError(res)}); check the name and tag`);
  if (res.status !== 200) throw new UserError(`registry ${client.domain} would not send the manifest of ${what} (${await registryError(res)})`);
  const bytes = await readBody(res, MAX_MANIFEST_BYTES);
  const header = res.headers['docker-content-digest'];
  return { bytes, contentType: res.headers['content-type'], headerDigest: typeof header === 'string' ? header : undefined };
}

/**
 * Download blob `d` into `file` (which must not exist), hashing it on the way: more bytes than
 * the manifest promised, fewer, or other bytes than the digest names, and the file is removed
 * and the pull stops. Nothing unchecked ever reaches the store.
 */
export async function downloadBlob(
  client: RegistryClient, repo: string, scope: string, d: Descriptor, file: string,
  onBytes: (done: number) => void,
): Promise<void> {
  const url = client.url(apiPath(repo, `blobs/${d.digest}`));
  const res = await client.send('GET', url, { scope });
  if (res.status !== 200) throw new UserError(`registry ${client.domain} would not send blob ${d.digest} (${await registryError(res)})`);
  const hash = crypto().createHash('sha256');
  const fd = fs.openSync(file, 'wx', 0o644);
  let done = 0;
  try {
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        done += chunk.length;
        if (done > d.size) {
          res.body.destroy();
          throw new UserError(`registry ${client.domain} sent more than the ${d.size} bytes blob ${d.digest} has; refused, nothing stored`);
        }
        hash.update(chunk);
        for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off);
        onBytes(done);
      }
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw new UserError(`the download of blob ${shortDigest(d.digest)} from ${client.domain} broke off after ${done} bytes (${(err as Error).message}); pull again`);
    }
    if (done !== d.size) {
      throw new UserError(`registry ${client.domain} sent ${done} of the ${d.size} bytes of blob ${d.digest}; refused, nothing stored; pull again`);
    }
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== d.digest) {
      throw new UserError(`blob ${d.digest} from ${client.domain} does not match its digest (its bytes hash to ${got}); refused, nothing stored`);
    }
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    throw err;
  }
  fs.closeSync(fd);
}
