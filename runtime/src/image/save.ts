// `box save`: images out of the store as one tar file, in the OCI image layout that the store
// itself uses (image-spec "image-layout.md"), so any OCI tool reads it: `skopeo inspect
// oci-archive:FILE:TAG`, or `tar -x` then `umoci ls --layout DIR`.
//
//   oci-layout       {"imageLayoutVersion":"1.0.0"}
//   index.json       one entry per tag, named by org.opencontainers.image.ref.name
//   manifest.json    the same images for Docker's `docker load` (it reads this file)
//   blobs/sha256/…   manifests, configs and layers, each once, however many images share it
//
// Every entry has the epoch as its time and root as its owner: the same images always make
// the same bytes. Blobs are streamed from the store (a layer can be large) and hashed on the
// way, so a blob damaged in the store stops the save instead of travelling. The file is
// written under a temporary name and renamed: a failed save leaves no half-written FILE.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import { findImages, type StoredImage } from './catalog.ts';
import { digestHex } from './digest.ts';
import { partsOf } from './gc.ts';
import { normalizeRef } from './ref.ts';
import { blobPath, MediaType, REF_NAME, type Descriptor, type OciIndex } from './store.ts';
import { TAR_END, tarHeader, tarPadding } from './tar-write.ts';

/** The annotation Docker and containerd name an image by in an archive: the full reference. */
export const CONTAINERD_NAME = 'io.containerd.image.name';

export interface SaveResult {
  /** The tags written, `busybox:latest`; an image saved by id alone has none. */
  tags: string[];
  bytes: number;
}

interface Named {
  tag?: string;
  image: StoredImage;
}

/**
 * Write the images `refs` name to `out`: a file path (made atomically) or an open file
 * descriptor (stdout). A name with a tag saves that tag; an id saves the image under every
 * tag it has, as `docker save` does.
 */
export function saveImages(root: string, refs: string[], out: { file: string } | { fd: number }): SaveResult {
  if (!refs.length) throw new UserError("'box save' needs at least one image; usage: box save -o FILE.tar IMAGE...");
  const named: Named[] = [];
  for (const ref of refs) {
    for (const image of findImages(root, ref, { builtIn: true }).matches) {
      if (!named.some((n) => n.tag === image.tag && n.image.id === image.id)) named.push({ ...(image.tag ? { tag: image.tag } : {}), image });
    }
  }
  const blobs = new Set<string>();
  for (const { image } of named) for (const d of partsOf(root, image.entry).blobs) blobs.add(d);
  const meta = metadataFiles(named);

  if ('fd' in out) return { tags: tagsOf(named), bytes: writeArchive(root, out.fd, meta, blobs) };

  const dest = path.resolve(out.file);
  if (fs.statSync(dest, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UserError(`-o ${out.file} is a directory; give a file name, e.g. -o ${path.join(out.file, 'images.tar')}`);
  }
  const tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.${process.pid}.tmp`);
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`cannot write ${out.file} (${code}): ${code === 'ENOENT' ? 'its directory does not exist' : 'choose a writable place'}`);
  }
  try {
    const bytes = writeArchive(root, fd, meta, blobs);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, dest);
    return { tags: tagsOf(named), bytes };
  } catch (err) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

function tagsOf(named: Named[]): string[] {
  return named.filter((n) => n.tag).map((n) => n.tag!);
}

/** oci-layout, index.json and manifest.json. */
function metadataFiles(named: Named[]): [string, Buffer][] {
  const index: OciIndex = {
    schemaVersion: 2,
    mediaType: MediaType.index,
    manifests: named.map(({ tag, image }): Descriptor => {
      const { mediaType, digest, size, platform } = image.entry;
      return {
        mediaType, digest, size, ...(platform ? { platform } : {}),
        ...(tag ? { annotations: { [CONTAINERD_NAME]: fullName(tag), [REF_NAME]: tag } } : {}),
      };
    }),
  };
  // Docker's own list: one entry per image, its tags, and paths to its config and layers.
  const byId = new Map<string, { Config: string; RepoTags: string[]; Layers: string[] }>();
  for (const { tag, image } of named) {
    if (image.entry.mediaType !== MediaType.manifest && image.entry.mediaType !== MediaType.dockerManifest) continue;
    const item = byId.get(image.id) ?? {
      Config: blobName(image.id),
      RepoTags: [],
      Layers: image.manifest.layers.map((l) => blobName(l.digest)),
    };
    if (tag) item.RepoTags.push(tag);
    byId.set(image.id, item);
  }
  const json = (v: unknown) => Buffer.from(JSON.stringify(v) + '\n');
  return [
    ['oci-layout', json({ imageLayoutVersion: '1.0.0' })],
    ['index.json', json(index)],
    ['manifest.json', json([...byId.values()])],
  ];
}

/** `busybox:latest` -> `docker.io/library/busybox:latest`, as containerd names images. */
function fullName(tag: string): string {
  const r = normalizeRef(tag);
  return `${r.domain}/${r.path}:${r.tag}`;
}

function blobName(digest: string): string {
  return `blobs/sha256/${digestHex(digest)}`;
}

/** Stream the archive to fd; returns the bytes written. */
function writeArchive(root: string, fd: number, meta: [string, Buffer][], blobs: Set<string>): number {
  let written = 0;
  const put = (buf: Buffer) => {
    writeAll(fd, buf);
    written += buf.length;
  };
  const entry = (name: string, type: 'file' | 'dir', size: number) => put(tarHeader({ name, type, mode: type === 'dir' ? 0o755 : 0o644, mtime: 0 }, size));

  for (const [name, data] of meta) {
    entry(name, 'file', data.length);
    put(data);
    put(tarPadding(data.length));
  }
  entry('blobs', 'dir', 0);
  entry('blobs/sha256', 'dir', 0);
  const crypto = process.getBuiltinModule('node:crypto') as typeof import('node:crypto');
  for (const digest of [...blobs].sort()) {
    const file = blobPath(root, digest);
    let src: number;
    try {
      src = fs.openSync(file, 'r');
    } catch {
      throw new UserError(`blob ${digest} is missing from the store, so the image cannot be saved; remove the image and pull or build it again`);
    }
    try {
      const size = fs.fstatSync(src).size;
      entry(blobName(digest), 'file', size);
      const hash = crypto.createHash('sha256');
      const chunk = Buffer.alloc(1 << 20);
      let left = size;
      while (left > 0) {
        const n = fs.readSync(src, chunk, 0, Math.min(chunk.length, left), null);
        if (n === 0) throw new UserError(`blob ${digest} shrank while box was saving it; try again`);
        hash.update(chunk.subarray(0, n));
        put(chunk.subarray(0, n));
        left -= n;
      }
      if (`sha256:${hash.digest('hex')}` !== digest) {
        throw new UserError(`blob ${digest} in the store is corrupt (digest mismatch), so the image cannot be saved; remove the image and pull or build it again`);
      }
      put(tarPadding(size));
    } finally {
      fs.closeSync(src);
    }
  }
  put(TAR_END);
  return written;
}

/** write(2) until all of buf is out; a non-blocking pipe (stdout) may take it in parts. */
function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); // the reader is behind: wait a little
        continue;
      }
      if (code === 'EPIPE') throw new UserError('the reader of box save\'s output went away before the end');
      throw err;
    }
  }
}
