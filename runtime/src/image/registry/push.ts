// `box push`: an image from the store to a registry.
//
//   1. For each layer, and the config: HEAD /v2/<repo>/blobs/<digest>. 200 means the registry
//      has it ("Layer already exists"), and it is not sent again.
//   2. Otherwise upload it: POST /v2/<repo>/blobs/uploads/ opens an upload session, whose URL
//      comes back in Location; then either one PUT <location>?digest=<digest> with all the
//      bytes (monolithic), or PATCHes of pieces with Content-Range and a final empty PUT
//      ?digest= (chunked). The registry checks the bytes against the digest before it keeps them.
//   3. PUT /v2/<repo>/manifests/<tag> with the manifest's exact bytes and its media type as
//      Content-Type: the same bytes, so the same digest, here and on the registry.

import fs from 'node:fs';
import { Transform } from 'node:stream';
import { findImage } from '../catalog.ts';
import { sha256 } from '../digest.ts';
import { normalizeRef, type ImageRef } from '../ref.ts';
import { blobPath, MediaType, readBlob, type Descriptor } from '../store.ts';
import { UserError } from '../../sys/errors.ts';
import { repositoryScope } from './auth.ts';
import { apiPath, eachLimited, fileDigest, layerId } from './blobs.ts';
import { registryError, RegistryClient, type ClientOptions } from './client.ts';
import { discard } from './http.ts';
import type { ProgressSink } from './progress.ts';

export interface PushOptions extends ClientOptions {
  progress: ProgressSink;
  /** Blobs bigger than this go up in PATCHed pieces of this size; smaller ones in one PUT. */
  chunkSize?: number;
  concurrency?: number;
}

export interface PushResult {
  /** Where it went: `localhost:5000/app:v1`. */
  target: string;
  digest: string;
  size: number;
  /** Layers sent, and layers the registry had already. */
  pushed: number;
  existing: number;
}

/** Docker's default: pieces of this size are what its registry client sends, too. */
export const DEFAULT_CHUNK = 32 * 1024 * 1024;

/**
 * Push the image `source` names (a tag or an id) as `target` (default: its own name). The
 * target's registry comes from its name: `localhost:5000/app:v1` goes to localhost:5000.
 */
export async function pushImage(root: string, source: string, target: string | undefined, opts: PushOptions): Promise<PushResult> {
  const { image } = findImage(root, source, { builtIn: true });
  const destText = target ?? image.tag;
  if (!destText) throw new UserError(`image '${source}' has no name to push it under; give one: box push ${source} REGISTRY/REPO[:TAG]`);
  const dest = normalizeRef(destText);
  if (dest.digest) throw new UserError(`'${destText}' pins a digest; push to NAME[:TAG] (the digest is the registry's answer)`);
  const client = new RegistryClient(dest.domain, opts);
  const scope = repositoryScope(dest.path, 'pull,push');
  opts.progress.line(`The push refers to repository [${dest.domain}/${dest.path}]`);

  const manifestBytes = readBlob(root, image.manifestDigest, 'manifest');
  const layers = [...new Map(image.manifest.layers.map((d) => [d.digest, d])).values()];
  let existing = 0;
  // Top layer first, as Docker lists them; the config last, without a line of its own.
  await eachLimited([...layers].reverse(), opts.concurrency ?? 3, async (d) => {
    const id = layerId(d);
    opts.progress.layer(id, 'Preparing');
    if (await registryHas(client, dest, scope, d)) {
      existing++;
      opts.progress.layer(id, 'Layer already exists');
      return;
    }
    await uploadBlob(client, dest, scope, root, d, opts.chunkSize ?? DEFAULT_CHUNK,
      (done) => opts.progress.layer(id, 'Pushing', { done, total: d.size }));
    opts.progress.layer(id, 'Pushed');
  });
  const config = image.manifest.config;
  if (!(await registryHas(client, dest, scope, config))) await uploadBlob(client, dest, scope, root, config, opts.chunkSize ?? DEFAULT_CHUNK, () => {});

  const mediaType = image.manifest.mediaType ?? (image.entry.mediaType === MediaType.dockerManifest ? MediaType.dockerManifest : MediaType.manifest);
  const url = client.url(apiPath(dest.path, `manifests/${dest.tag}`));
  const res = await client.send('PUT', url, { scope, headers: { 'content-type': mediaType }, body: manifestBytes });
  if (res.status !== 201) throw new UserError(`registry ${dest.domain} refused the manifest of ${dest.canonical} (${await registryError(res)})`);
  discard(res);
  const digest = sha256(manifestBytes);
  const theirs = res.headers['docker-content-digest'];
  if (typeof theirs === 'string' && theirs !== digest) {
    throw new UserError(`registry ${dest.domain} stored the manifest of ${dest.canonical} as ${theirs}, not ${digest}; it changed the bytes`);
  }
  opts.progress.line(`${dest.tag}: digest: ${digest} size: ${manifestBytes.length}`);
  return { target: dest.canonical, digest, size: manifestBytes.length, pushed: layers.length - existing, existing };
}

async function registryHas(client: RegistryClient, dest: ImageRef, scope: string, d: Descriptor): Promise<boolean> {
  const res = await client.send('HEAD', client.url(apiPath(dest.path, `blobs/${d.digest}`)), { scope });
  discard(res);
  if (res.status === 200) return true;
  if (res.status === 404) return false;
  throw new UserError(`registry ${dest.domain} would not say whether it has blob ${d.digest} (HTTP ${res.status})`);
}

/** Upload one blob from the store, in one PUT or in pieces; the registry checks the digest. */
async function uploadBlob(
  client: RegistryClient, dest: ImageRef, scope: string, root: string, d: Descriptor, chunkSize: number,
  onBytes: (done: number) => void,
): Promise<void> {
  const file = blobPath(root, d.digest);
  // What leaves this machine must be what the manifest names: a damaged store stops the push.
  if (fs.statSync(file, { throwIfNoEntry: false })?.size !== d.size || (await fileDigest(file)) !== d.digest) {
    throw new UserError(`blob ${d.digest} in the store is missing or corrupt, so it cannot be pushed; remove the image and pull or build it again`);
  }
  const opened = await client.send('POST', client.url(apiPath(dest.path, 'blobs/uploads/')), { scope, headers: { 'content-length': '0' } });
  if (opened.status !== 202) throw new UserError(`registry ${dest.domain} would not start an upload to ${dest.path} (${await registryError(opened)})`);
  discard(opened);
  let location = uploadLocation(client, opened);

  let sent = 0;
  const piece = (start: number, end: number) => () =>
    fs.createReadStream(file, { start, end: end - 1 }).pipe(new Transform({
      transform(chunk: Buffer, _enc, done) {
        onBytes(sent + chunk.length);
        sent += chunk.length;
        done(null, chunk);
      },
    }));
  const octets = (length: number) => ({ 'content-type': 'application/octet-stream', 'content-length': String(length) });

  if (d.size > chunkSize) {
    for (let start = 0; start < d.size; start += chunkSize) {
      const end = Math.min(d.size, start + chunkSize);
      const res = await client.send('PATCH', location, {
        scope, headers: { ...octets(end - start), 'content-range': `${start}-${end - 1}` }, body: piece(start, end),
      });
      if (res.status !== 202) throw new UserError(`registry ${dest.domain} refused a piece of blob ${d.digest} (${await registryError(res)})`);
      discard(res);
      location = uploadLocation(client, res);
    }
    location.searchParams.set('digest', d.digest);
    const res = await client.send('PUT', location, { scope, headers: octets(0) });
    return finished(res, dest, d);
  }
  location.searchParams.set('digest', d.digest);
  const res = await client.send('PUT', location, { scope, headers: octets(d.size), body: piece(0, d.size) });
  return finished(res, dest, d);
}

/** The upload session's URL, from Location (relative or absolute, often with a ?_state= query). */
function uploadLocation(client: RegistryClient, res: { headers: { location?: string }; url: URL }): URL {
  if (!res.headers.location) throw new UserError(`registry ${client.domain} opened an upload without saying where to send it (no Location header)`);
  return client.url(res.headers.location, res.url);
}

async function finished(res: Awaited<ReturnType<RegistryClient['send']>>, dest: ImageRef, d: Descriptor): Promise<void> {
  if (res.status !== 201) throw new UserError(`registry ${dest.domain} did not accept blob ${d.digest} (${await registryError(res)})`);
  discard(res);
}
