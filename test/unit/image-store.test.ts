import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  importLayerTar, listImages, normalizeRef, readIndex, resolveImage, storePaths, writeImage, REF_NAME, MediaType,
} from '../../runtime/src/image/index.ts';
import { findStaticBusybox } from '../../runtime/src/image/busybox.ts';
import { labLayer } from '../../runtime/src/image/lab.ts';
import { sha256 } from '../../runtime/src/image/digest.ts';
import { blobPath, writeBlob } from '../../runtime/src/image/store.ts';
import { readTar } from '../../runtime/src/image/tar-read.ts';
import { writeTar } from '../../runtime/src/image/tar-write.ts';
import { userError } from './user-error.ts';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'box-store-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));


/** A two-layer image: the lower layer has a and b, the upper one changes a and adds c. */
function twoLayerImage(ref = 'demo:1') {
  const lower = importLayerTar(root, writeTar([
    { name: 'a', type: 'file', data: 'lower a' },
    { name: 'b', type: 'file', data: 'lower b' },
  ]));
  const upper = importLayerTar(root, writeTar([
    { name: 'a', type: 'file', data: 'upper a' },
    { name: 'c', type: 'file', data: 'upper c' },
  ]));
  const written = writeImage(root, { ref, config: { Cmd: ['sh'], Env: ['A=1'] }, layers: [lower, upper] });
  return { lower, upper, ...written };
}

const tmpLeftovers = () => {
  const dir = path.join(root, 'image-tmp');
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
};

describe('the image store', () => {
  it('is an OCI image layout, with the tag in the ref.name annotation', () => {
    const { manifestDigest } = twoLayerImage();
    expect(JSON.parse(fs.readFileSync(path.join(root, 'oci/oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = readIndex(root);
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]).toMatchObject({ mediaType: MediaType.manifest, digest: manifestDigest, annotations: { [REF_NAME]: 'demo:1' } });
    for (const name of fs.readdirSync(storePaths(root).blobs)) {
      expect(sha256(fs.readFileSync(path.join(storePaths(root).blobs, name)))).toBe(`sha256:${name}`);
    }
  });

  it('resolves an image to its unpacked layers, lowest first, with its config', () => {
    const { id, manifestDigest } = twoLayerImage();
    const image = resolveImage('demo:1', { root });
    expect(image).toMatchObject({ ref: 'demo:1', id, manifestDigest, config: { Cmd: ['sh'], Env: ['A=1'] } });
    expect(image.layerDirs).toHaveLength(2);
    const [lower, upper] = image.layerDirs;
    expect(fs.readFileSync(path.join(lower, 'a'), 'utf8')).toBe('lower a');
    expect(fs.readFileSync(path.join(lower, 'b'), 'utf8')).toBe('lower b');
    expect(fs.readFileSync(path.join(upper, 'a'), 'utf8')).toBe('upper a');
    expect(fs.existsSync(path.join(upper, 'b'))).toBe(false);
    expect(tmpLeftovers()).toEqual([]);
  });

  it('names unpacked layers by the digest of the uncompressed tar (the diff id)', () => {
    const { lower } = twoLayerImage();
    const image = resolveImage('demo:1', { root });
    expect(path.basename(image.layerDirs[0])).toBe(lower.diffId.slice('sha256:'.length));
    expect(lower.descriptor.digest).not.toBe(lower.diffId); // the blob is gzip-compressed
  });

  it('unpacks once: a second resolve does not read the layer blobs again', () => {
    const { lower, upper } = twoLayerImage();
    resolveImage('demo:1', { root });
    fs.rmSync(blobPath(root, lower.descriptor.digest));
    fs.rmSync(blobPath(root, upper.descriptor.digest));
    expect(resolveImage('demo:1', { root }).layerDirs).toHaveLength(2);
  });

  it('says how to find images when one is not there', () => {
    expect(userError(() => resolveImage('foo', { root }))).toBe(
      "image 'foo' not found; `box images` lists what you have (busybox is built in)",
    );
  });

  it('refuses a malformed reference before looking', () => {
    expect(userError(() => resolveImage('Foo', { root }))).toMatch(/invalid image reference 'Foo'.*lowercase/);
  });

  it('refuses a layer whose blob does not match its digest, and unpacks nothing', () => {
    const { lower } = twoLayerImage();
    const file = blobPath(root, lower.descriptor.digest);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 1] ^= 0xff;
    fs.writeFileSync(file, bytes);
    expect(userError(() => resolveImage('demo:1', { root }))).toBe(
      `layer ${lower.descriptor.digest} is corrupt (digest mismatch); remove the image and pull again`,
    );
    expect(fs.existsSync(storePaths(root).layers) ? fs.readdirSync(storePaths(root).layers) : []).toEqual([]);
    expect(tmpLeftovers()).toEqual([]);
  });

  it('refuses a layer whose content does not match the diff id in the config', () => {
    const good = importLayerTar(root, writeTar([{ name: 'f', type: 'file', data: 'real' }]));
    const liar = { descriptor: good.descriptor, diffId: sha256('something else') };
    writeImage(root, { ref: 'liar:1', config: {}, layers: [liar] });
    expect(userError(() => resolveImage('liar:1', { root }))).toBe(
      `layer ${good.descriptor.digest} is corrupt (digest mismatch); remove the image and pull again`,
    );
  });

  it('repairs a damaged blob when the same content is written again', () => {
    const { lower } = twoLayerImage();
    const file = blobPath(root, lower.descriptor.digest);
    const good = fs.readFileSync(file);
    const bad = Buffer.from(good);
    bad[bad.length - 1] ^= 0xff; // same size, wrong bytes
    fs.writeFileSync(file, bad);
    twoLayerImage(); // as a second pull or build would
    expect(fs.readFileSync(file)).toEqual(good);
    expect(resolveImage('demo:1', { root }).layerDirs).toHaveLength(2);
  });

  it('lists a damaged image with its problem, and the others as usual', () => {
    const { manifestDigest } = twoLayerImage('broken:1');
    const other = importLayerTar(root, writeTar([{ name: 'other', type: 'file', data: 'o' }]));
    writeImage(root, { ref: 'fine:1', config: {}, layers: [other] });
    fs.rmSync(blobPath(root, manifestDigest));
    const byRef = new Map(listImages({ root }).map((i) => [i.ref, i]));
    expect(byRef.get('broken:1')?.problem).toBe(`manifest ${manifestDigest} is missing from the store; remove the image and pull again`);
    expect(byRef.get('fine:1')?.problem).toBeUndefined();
  });

  it('refuses a manifest that was altered', () => {
    const { manifestDigest } = twoLayerImage();
    fs.appendFileSync(blobPath(root, manifestDigest), ' ');
    expect(userError(() => resolveImage('demo:1', { root }))).toBe(
      `manifest ${manifestDigest} is corrupt (digest mismatch); remove the image and pull again`,
    );
  });

  it('refuses an unsafe layer with the entry named, and leaves no half-unpacked directory', () => {
    const evil = importLayerTar(root, writeTar([
      { name: 'ok', type: 'file', data: 'fine' },
      { name: '../../escape', type: 'file', data: 'x' },
    ]));
    writeImage(root, { ref: 'evil:1', config: {}, layers: [evil] });
    expect(userError(() => resolveImage('evil:1', { root }))).toMatch(/entry '\.\.\/\.\.\/escape' has a '\.\.' component/);
    expect(fs.readdirSync(storePaths(root).layers)).toEqual([]);
    expect(tmpLeftovers()).toEqual([]);
  });

  it('reads uncompressed and zstd layers too', () => {
    const tar = writeTar([{ name: 'z', type: 'file', data: 'zstd!' }]);
    const plain = importLayerTar(root, writeTar([{ name: 'p', type: 'file', data: 'plain' }]), { compress: 'none' });
    const zstd = { descriptor: { mediaType: MediaType.layerZstd, ...writeBlob(root, zlib.zstdCompressSync(tar)) }, diffId: sha256(tar) };
    writeImage(root, { ref: 'mixed', config: {}, layers: [plain, zstd] });
    const [p, z] = resolveImage('mixed', { root }).layerDirs;
    expect(fs.readFileSync(path.join(p, 'p'), 'utf8')).toBe('plain');
    expect(fs.readFileSync(path.join(z, 'z'), 'utf8')).toBe('zstd!');
  });

  it('moves a tag: writing the same name:tag again points it at the new image and leaves the old one untagged', () => {
    const first = twoLayerImage('demo:1');
    const layer = importLayerTar(root, writeTar([{ name: 'x', type: 'file', data: 'new' }]));
    const second = writeImage(root, { ref: 'demo:1', config: {}, layers: [layer] });
    expect(readIndex(root).manifests.map((d) => [d.digest, d.annotations?.[REF_NAME]])).toEqual([
      [second.manifestDigest, 'demo:1'],
      [first.manifestDigest, undefined], // dangling, as docker leaves it: <none> in box images, until box image prune
    ]);
    expect(resolveImage('demo:1', { root }).id).toBe(second.id);
  });

  it('finds an image by tag, by digest, by id prefix, and by a bare name another tool wrote', () => {
    const { id, manifestDigest } = twoLayerImage('demo:1');
    expect(resolveImage(`demo@${manifestDigest}`, { root }).id).toBe(id);
    expect(resolveImage(id.slice(7, 19), { root }).ref).toBe('demo:1');
    expect(resolveImage(id, { root }).ref).toBe('demo:1');
    // skopeo copy ... oci:DIR:foo writes ref.name "foo": box reads it as foo:latest
    const index = JSON.parse(fs.readFileSync(storePaths(root).index, 'utf8'));
    index.manifests[0].annotations[REF_NAME] = 'foreign';
    fs.writeFileSync(storePaths(root).index, JSON.stringify(index));
    expect(resolveImage('foreign', { root }).id).toBe(id);
  });

  it('lists images with their ids, sizes and layers', () => {
    const { id, lower, upper } = twoLayerImage('demo:1');
    const [image] = listImages({ root });
    expect(image).toMatchObject({ ref: 'demo:1', name: 'demo', tag: '1', id });
    expect(image.layers.map((l) => l.diffId)).toEqual([lower.diffId, upper.diffId]);
    expect(image.size).toBeGreaterThan(lower.descriptor.size + upper.descriptor.size);
  });

  it('clears temporary files left by a box that died, and keeps those of live ones', () => {
    twoLayerImage();
    const tmpDir = path.join(root, 'image-tmp');
    fs.mkdirSync(tmpDir, { recursive: true });
    // pid_max is at most 4194304 (2^22): a pid above it never belongs to a live process.
    fs.mkdirSync(path.join(tmpDir, '99999999-abc-layer-dead'));
    fs.mkdirSync(path.join(tmpDir, `${process.pid}-abc-layer-mine`));
    resolveImage('demo:1', { root });
    expect(fs.readdirSync(tmpDir)).toEqual([`${process.pid}-abc-layer-mine`]);
  });

  it('normalizeRef is the public name check', () => {
    expect(normalizeRef('busybox').canonical).toBe('busybox:latest');
  });
});

describe('the built-in images', () => {
  it('refuses a dynamically linked busybox, saying which package to install', () => {
    const dynamic = ['/usr/bin/ls', '/bin/ls'].find((p) => fs.existsSync(p))!;
    expect(userError(() => findStaticBusybox([dynamic]))).toBe(
      `${dynamic} is dynamically linked, and the busybox image needs a static one: apt-get install busybox-static`,
    );
  });

  it('says to install busybox-static when there is no busybox', () => {
    expect(userError(() => findStaticBusybox([path.join(root, 'none')]))).toBe(
      'busybox-static is not installed, and box builds its busybox image from it: apt-get install busybox-static',
    );
  });

  it('lays out the lab image for the host: symlinks where the host has them, directories to bind where not', () => {
    const host = path.join(root, 'host');
    fs.mkdirSync(path.join(host, 'usr/bin'), { recursive: true });
    fs.writeFileSync(path.join(host, 'usr/bin/bash'), '');
    fs.symlinkSync('usr/bin', path.join(host, 'bin'));
    fs.symlinkSync('usr/lib', path.join(host, 'lib'));
    fs.mkdirSync(path.join(host, 'sbin')); // not usr-merged here
    const { tar, shell, hostBinds } = labLayer(host);
    const entries = new Map([...readTar(tar)].map((e) => [e.name, e]));
    expect(entries.get('bin')).toMatchObject({ type: 'symlink', linkname: 'usr/bin' });
    expect(entries.get('lib')).toMatchObject({ type: 'symlink', linkname: 'usr/lib' });
    expect(entries.get('sbin')).toMatchObject({ type: 'dir' });
    expect(entries.has('lib64')).toBe(false);
    expect(entries.get('tmp')?.mode).toBe(0o1777);
    expect(entries.get('opt/box')?.type).toBe('dir');
    expect(entries.get('etc/passwd')?.data.toString()).toMatch(/^root:x:0:0:root:\/root:\/bin\/bash\n/);
    expect(shell).toBe('/bin/bash');
    expect(hostBinds).toEqual(['/usr', '/sbin']);
    expect([...entries.keys()]).toEqual([...entries.keys()].sort());
  });
});

describe('a store box may not write', () => {
  it('says to use sudo or set BOX_ROOT, instead of a file-system stack trace', () => {
    // sysfs refuses new directories to everyone, root included (EPERM; EACCES for others).
    expect(userError(() => resolveImage('busybox', { root: '/sys/box-store' }))).toMatch(
      /^cannot write the image store in \/sys\/box-store \(E(PERM|ACCES)\): run box as root \(sudo\), or set BOX_ROOT/,
    );
  });
});
