// box save and box load on made-up stores: the archive's layout, the round trip, the
// formats of other tools, and every way an archive is refused without touching the store.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findImage } from '../../runtime/src/image/catalog.ts';
import { sha256 } from '../../runtime/src/image/digest.ts';
import { hostPlatform, importLayerTar, readIndex, resolveImage, storePaths, writeImage, REF_NAME, MediaType } from '../../runtime/src/image/index.ts';
import { loadArchive } from '../../runtime/src/image/load.ts';
import { saveImages } from '../../runtime/src/image/save.ts';
import { readTar } from '../../runtime/src/image/tar-read.ts';
import { writeTar, type TarWriteEntry } from '../../runtime/src/image/tar-write.ts';
import { userError } from './user-error.ts';

let dir: string;
let src: string;
let dst: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'box-archive-'));
  src = path.join(dir, 'src');
  dst = path.join(dir, 'dst');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));


/** demo:1 (layers a, b) and base:1 (layer a) in the source store. */
function images() {
  const a = importLayerTar(src, writeTar([{ name: 'etc/a', type: 'file', data: 'a\n' }, { name: 'etc', type: 'dir' }]));
  const b = importLayerTar(src, writeTar([{ name: 'b', type: 'file', data: 'b\n' }]));
  const demo = writeImage(src, { ref: 'demo:1', config: { Cmd: ['sh'] }, layers: [a, b], created: '2024-01-01T00:00:00Z' });
  const base = writeImage(src, { ref: 'base:1', config: {}, layers: [a] });
  return { a, b, demo, base };
}

/** The whole state of a store on disk: every path under it and each file's bytes. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string) => {
    if (!fs.existsSync(p)) return;
    const st = fs.lstatSync(p);
    const rel = path.relative(root, p);
    if (st.isDirectory()) {
      out[`${rel}/`] = '';
      for (const n of fs.readdirSync(p)) if (n !== 'image.lock') walk(path.join(p, n));
    } else out[rel] = st.isFile() ? sha256(fs.readFileSync(p)) : 'other';
  };
  walk(root);
  return out;
}

/** An OCI layout archive holding one image made of these layer tars. */
function ociArchive(layers: Buffer[], opts: { tag?: string; annotations?: Record<string, string>; extra?: TarWriteEntry[]; diffIds?: string[] } = {}): Buffer {
  const blobs = new Map<string, Buffer>();
  const put = (data: Buffer | string) => {
    const bytes = Buffer.from(data);
    blobs.set(sha256(bytes), bytes);
    return { digest: sha256(bytes), size: bytes.length };
  };
  const layerDescs = layers.map((t) => ({ mediaType: MediaType.layerGzip, ...put(zlib.gzipSync(t)) }));
  const config = put(JSON.stringify({ ...hostPlatform(), config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: opts.diffIds ?? layers.map((t) => sha256(t)) } }));
  const manifest = put(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.manifest, config: { mediaType: MediaType.config, ...config }, layers: layerDescs }));
  const index = { schemaVersion: 2, manifests: [{ mediaType: MediaType.manifest, ...manifest, annotations: opts.annotations ?? { [REF_NAME]: opts.tag ?? 'made:1' } }] };
  return writeTar([
    { name: 'oci-layout', type: 'file', data: '{"imageLayoutVersion":"1.0.0"}' },
    { name: 'index.json', type: 'file', data: JSON.stringify(index) },
    { name: 'blobs', type: 'dir' },
    { name: 'blobs/sha256', type: 'dir' },
    ...[...blobs].map(([d, data]): TarWriteEntry => ({ name: `blobs/sha256/${d.slice(7)}`, type: 'file', data })),
    ...(opts.extra ?? []),
  ]);
}

const isGzip = (b: Buffer) => b[0] === 0x1f && b[1] === 0x8b;
const simpleLayer = writeTar([{ name: 'hello', type: 'file', data: 'hello\n' }]);

describe('box save', () => {
  it('writes an OCI image layout: oci-layout, index.json with the tags, each blob once, and docker\'s manifest.json', () => {
    const { a, b, demo, base } = images();
    const file = path.join(dir, 'out.tar');
    expect(saveImages(src, ['demo:1', 'base:1'], { file }).tags).toEqual(['demo:1', 'base:1']);
    const entries = [...readTar(fs.readFileSync(file))];
    const names = entries.map((e) => e.name);
    expect(names.slice(0, 5)).toEqual(['oci-layout', 'index.json', 'manifest.json', 'blobs', 'blobs/sha256']);
    const blobNames = names.slice(5);
    expect(blobNames).toEqual([...blobNames].sort());
    expect(new Set(blobNames).size).toBe(blobNames.length); // layer a, shared, is there once
    expect(blobNames).toContain(`blobs/sha256/${a.descriptor.digest.slice(7)}`);
    for (const e of entries.filter((x) => x.name.startsWith('blobs/sha256/'))) expect(sha256(e.data)).toBe(`sha256:${e.name.slice(13)}`);
    const index = JSON.parse(entries[1].data.toString());
    expect(index.manifests.map((d: { digest: string; annotations: Record<string, string> }) => [d.digest, d.annotations])).toEqual([
      [demo.manifestDigest, { 'io.containerd.image.name': 'docker.io/library/demo:1', [REF_NAME]: 'demo:1' }],
      [base.manifestDigest, { 'io.containerd.image.name': 'docker.io/library/base:1', [REF_NAME]: 'base:1' }],
    ]);
    expect(JSON.parse(entries[2].data.toString())).toEqual([
      { Config: `blobs/sha256/${demo.id.slice(7)}`, RepoTags: ['demo:1'], Layers: [a, b].map((l) => `blobs/sha256/${l.descriptor.digest.slice(7)}`) },
      { Config: `blobs/sha256/${base.id.slice(7)}`, RepoTags: ['base:1'], Layers: [`blobs/sha256/${a.descriptor.digest.slice(7)}`] },
    ]);
    expect(entries.every((e) => e.mtime === 0 && e.uid === 0)).toBe(true);
  });

  it('is reproducible: the same images make the same bytes', () => {
    images();
    saveImages(src, ['demo:1'], { file: path.join(dir, '1.tar') });
    saveImages(src, ['demo:1'], { file: path.join(dir, '2.tar') });
    expect(fs.readFileSync(path.join(dir, '1.tar'))).toEqual(fs.readFileSync(path.join(dir, '2.tar')));
  });

  it('stops on a damaged blob and leaves no file behind', () => {
    const { b } = images();
    const blob = path.join(storePaths(src).blobs, b.descriptor.digest.slice(7));
    const bytes = fs.readFileSync(blob);
    bytes[bytes.length - 1] ^= 1;
    fs.writeFileSync(blob, bytes);
    expect(userError(() => saveImages(src, ['demo:1'], { file: path.join(dir, 'out.tar') }))).toBe(
      `blob ${b.descriptor.digest} in the store is corrupt (digest mismatch), so the image cannot be saved; remove the image and pull or build it again`,
    );
    expect(fs.readdirSync(dir).sort()).toEqual(['src']);
  });

  it('says what is wrong with -o and with an unknown image', () => {
    images();
    expect(userError(() => saveImages(src, ['demo:1'], { file: dir }))).toMatch(/is a directory; give a file name/);
    expect(userError(() => saveImages(src, ['demo:1'], { file: path.join(dir, 'no/such/dir/x.tar') }))).toMatch(/its directory does not exist/);
    expect(userError(() => saveImages(src, ['nope'], { file: path.join(dir, 'x.tar') }))).toMatch(/no such image: 'nope'/);
  });
});

describe('box load', () => {
  it('round trip: what box saves, box loads, with the same ids, tags and files', () => {
    const { demo, base } = images();
    const file = path.join(dir, 'out.tar');
    saveImages(src, ['demo:1', 'base:1'], { file });
    expect(loadArchive(dst, fs.readFileSync(file), file)).toEqual([{ tag: 'demo:1', id: demo.id }, { tag: 'base:1', id: base.id }]);
    expect(readIndex(dst).manifests.map((d) => [d.annotations?.[REF_NAME], d.digest])).toEqual([
      ['base:1', base.manifestDigest], ['demo:1', demo.manifestDigest],
    ]);
    const image = resolveImage('demo:1', { root: dst });
    expect(fs.readFileSync(path.join(image.layerDirs[0], 'etc/a'), 'utf8')).toBe('a\n');
    expect(fs.readFileSync(path.join(image.layerDirs[1], 'b'), 'utf8')).toBe('b\n');
    expect(fs.readdirSync(path.join(dst, 'image-tmp'))).toEqual([]);
  });

  it('reads skopeo\'s bare names and Docker 25\'s io.containerd.image.name; an unnamed image loads untagged', () => {
    expect(loadArchive(dst, ociArchive([simpleLayer], { tag: 'other' }), 'x.tar')[0].tag).toBe('other:latest');
    const docker = ociArchive([simpleLayer], { annotations: { 'io.containerd.image.name': 'docker.io/library/web:2', [REF_NAME]: '2' } });
    expect(loadArchive(dst, docker, 'x.tar')[0].tag).toBe('web:2');
    const unnamed = loadArchive(dst, ociArchive([writeTar([{ name: 'u', type: 'file', data: 'u' }])], { annotations: {} }), 'x.tar');
    expect(unnamed).toEqual([{ id: expect.stringMatching(/^sha256:/) }]);
    expect(readIndex(dst).manifests.filter((d) => !d.annotations?.[REF_NAME]).map((d) => d.digest)).toHaveLength(1);
  });

  it("reads Docker's older format: manifest.json, layer tars, and symlinks between identical layers", () => {
    const config = JSON.stringify({ ...hostPlatform(), config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [sha256(simpleLayer), sha256(simpleLayer)] } });
    const tar = writeTar([
      { name: 'abc.json', type: 'file', data: config },
      { name: 'l1/layer.tar', type: 'file', data: simpleLayer },
      { name: 'l2/layer.tar', type: 'symlink', linkname: '../l1/layer.tar' },
      { name: 'manifest.json', type: 'file', data: JSON.stringify([{ Config: 'abc.json', RepoTags: ['old:1'], Layers: ['l1/layer.tar', 'l2/layer.tar'] }]) },
      { name: 'repositories', type: 'file', data: '{}' },
    ]);
    expect(loadArchive(dst, tar, 'docker.tar')).toEqual([{ tag: 'old:1', id: sha256(config) }]);
    const image = resolveImage('old:1', { root: dst });
    expect(fs.readFileSync(path.join(image.layerDirs[0], 'hello'), 'utf8')).toBe('hello\n');
  });

  describe('refuses, naming the entry, and leaves the store as it was', () => {
    const refusals: [string, TarWriteEntry, RegExp][] = [
      ['an absolute path', { name: '/etc/passwd', type: 'file', data: 'x' }, /entry '\/etc\/passwd' has an absolute path/],
      ['a .. component', { name: 'blobs/../../escape', type: 'file', data: 'x' }, /entry 'blobs\/\.\.\/\.\.\/escape' has a '\.\.' component/],
      ['a symlink out of the archive', { name: 'blobs/link', type: 'symlink', linkname: '../../etc/shadow' }, /entry 'blobs\/link' is a symlink to '\.\.\/\.\.\/etc\/shadow', which leaves the archive/],
      ['an absolute symlink', { name: 'blobs/abs', type: 'symlink', linkname: '/etc/shadow' }, /entry 'blobs\/abs' is a symlink to '\/etc\/shadow', which leaves the archive/],
      ['a hard link to a host file', { name: 'blobs/hl', type: 'hardlink', linkname: '/etc/shadow' }, /entry 'blobs\/hl' has an absolute hard link target/],
      ['a device node', { name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0 }, /entry 'dev\/sda' is a block device; an image archive holds only files and directories/],
      ['a FIFO', { name: 'fifo', type: 'fifo' }, /entry 'fifo' is a FIFO/],
    ];
    for (const [what, entry, message] of refusals) {
      it(`an archive entry with ${what}`, () => {
        loadArchive(dst, ociArchive([simpleLayer], { tag: 'first:1' }), 'first.tar');
        const before = snapshot(dst);
        const msg = userError(() => loadArchive(dst, ociArchive([simpleLayer], { tag: 'evil:1', extra: [entry] }), 'evil.tar'));
        expect(msg).toMatch(/^refusing to load evil\.tar: /);
        expect(msg).toMatch(message);
        expect(snapshot(dst)).toEqual(before);
      });
    }

    it('a layer with an entry that climbs out of it (the layer unpacker refuses it, by name)', () => {
      loadArchive(dst, ociArchive([simpleLayer], { tag: 'first:1' }), 'first.tar');
      const before = snapshot(dst);
      const evil = writeTar([{ name: 'ok', type: 'file', data: 'x' }, { name: '../../../etc/cron.d/x', type: 'file', data: 'x' }]);
      expect(userError(() => loadArchive(dst, ociArchive([evil]), 'evil.tar'))).toMatch(
        /^refusing to unpack layer sha256:[0-9a-f]{64} of evil\.tar: entry '\.\.\/\.\.\/\.\.\/etc\/cron\.d\/x' has a '\.\.' component/,
      );
      expect(snapshot(dst)).toEqual(before);
    });

    it('a blob that does not match its digest', () => {
      const good = ociArchive([simpleLayer]);
      const entries = [...readTar(good)];
      const tampered = writeTar(entries.map((e): TarWriteEntry => {
        const data = isGzip(e.data) ? Buffer.concat([e.data.subarray(0, -1), Buffer.from([e.data[e.data.length - 1] ^ 1])]) : e.data;
        return { name: e.name, type: e.type === 'dir' ? 'dir' : 'file', data };
      }));
      expect(userError(() => loadArchive(dst, tampered, 'bad.tar'))).toMatch(/^the layer sha256:[0-9a-f]{64} in bad\.tar does not match its digest; the archive is damaged or was altered$/);
      expect(readIndex(dst).manifests).toEqual([]);
    });

    it('a layer whose content is not what its config says (diff id)', () => {
      expect(userError(() => loadArchive(dst, ociArchive([simpleLayer], { diffIds: [sha256('other')] }), 'bad.tar'))).toMatch(
        /^layer sha256:[0-9a-f]{64} in bad\.tar does not match the diff id sha256:[0-9a-f]{64} its config gives/,
      );
      expect(readIndex(dst).manifests).toEqual([]);
    });

    it('something that is not an image archive, or not a tar at all', () => {
      expect(userError(() => loadArchive(dst, writeTar([{ name: 'readme', type: 'file', data: 'hi' }]), 'x.tar'))).toMatch(
        /^x\.tar is not an image archive: it has neither index\.json \(OCI layout\) nor manifest\.json \(docker save\)/,
      );
      expect(userError(() => loadArchive(dst, Buffer.from('just text, not a tar archive at all'.repeat(20)), 'y.tar'))).toMatch(
        /^y\.tar is not a readable tar archive: /,
      );
      const missing = writeTar([...readTar(ociArchive([simpleLayer]))].filter((e) => !isGzip(e.data)).map((e) => ({ name: e.name, type: e.type === 'dir' ? 'dir' as const : 'file' as const, data: e.data })));
      expect(userError(() => loadArchive(dst, missing, 'z.tar'))).toMatch(/^z\.tar lacks the layer sha256:[0-9a-f]{64}; the archive is incomplete$/);
    });
  });
});

describe('finding what was loaded', () => {
  it('an image loaded by id only is found by its id', () => {
    const [{ id }] = loadArchive(dst, ociArchive([simpleLayer], { annotations: {} }), 'x.tar');
    expect(findImage(dst, id.slice(7, 19)).image.tag).toBeUndefined();
  });
});
