// Tags, removal and pruning in a store of made-up images: which names go, which blobs and
// unpacked layers go, and which stay because another image or a container still needs them.
// Also what history and inspect read from a store.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findImage, readCatalog } from '../../runtime/src/image/catalog.ts';
import { sha256 } from '../../runtime/src/image/digest.ts';
import { historyRows, inspectView } from '../../runtime/src/image/describe.ts';
import { hostPlatform, importLayerTar, readIndex, resolveImage, storePaths, writeImage, REF_NAME, type LayerRecord } from '../../runtime/src/image/index.ts';
import { layerDir } from '../../runtime/src/image/layers.ts';
import { pruneImages, removeImage } from '../../runtime/src/image/remove.ts';
import { layerSize } from '../../runtime/src/image/sizes.ts';
import { blobPath } from '../../runtime/src/image/store.ts';
import { tagImage } from '../../runtime/src/image/tag.ts';
import { writeTar } from '../../runtime/src/image/tar-write.ts';
import { userError } from './user-error.ts';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'box-rm-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const nobody = () => [];
const layer = (name: string, data = name) => importLayerTar(root, writeTar([{ name, type: 'file', data }]));
const tags = () => readIndex(root).manifests.map((d) => d.annotations?.[REF_NAME] ?? `<none> ${d.digest.slice(7, 13)}`);
const blobs = () => fs.readdirSync(storePaths(root).blobs).sort();


/** base:1 (layer a), app:1 = base + layer b, both unpacked. */
function twoImages() {
  const a = layer('a');
  const b = layer('b', 'b'.repeat(5000));
  const base = writeImage(root, { ref: 'base:1', config: { Cmd: ['sh'] }, layers: [a], created: '2024-01-01T00:00:00Z', history: [{ created: '2024-01-01T00:00:00Z', created_by: 'make base' }] });
  const app = writeImage(root, {
    ref: 'app:1', config: { Cmd: ['app'] }, layers: [a, b], created: '2024-02-01T00:00:00Z',
    history: [{ created: '2024-01-01T00:00:00Z', created_by: 'make base' }, { created: '2024-02-01T00:00:00Z', created_by: 'ENV X=1', empty_layer: true }, { created: '2024-02-01T00:00:00Z', created_by: 'add b', comment: 'the app' }],
  });
  resolveImage('app:1', { root });
  return { a, b, base, app };
}

const digestsOf = (...layers: LayerRecord[]) => layers.map((l) => l.descriptor.digest.slice(7));

describe('box tag', () => {
  it('adds a name for the same image; both names show one id', () => {
    const { base } = twoImages();
    expect(tagImage(root, 'base:1', 'localhost:5000/team/base')).toBe('localhost:5000/team/base:latest');
    expect(findImage(root, 'localhost:5000/team/base').image.id).toBe(base.id);
    expect(tags()).toEqual(['app:1', 'base:1', 'localhost:5000/team/base:latest']);
  });

  it('moving a tag leaves the image it named before as <none>', () => {
    const { base } = twoImages();
    tagImage(root, 'app:1', 'base:1');
    expect(tags()).toEqual(['app:1', 'base:1', `<none> ${base.manifestDigest.slice(7, 13)}`]);
  });

  it('refuses a digest as a tag and an unknown source', () => {
    twoImages();
    expect(userError(() => tagImage(root, 'base:1', `x@sha256:${'a'.repeat(64)}`))).toMatch(/has a digest; a tag is NAME\[:TAG\]/);
    expect(userError(() => tagImage(root, 'nothing', 'x'))).toBe("no such image: 'nothing'; `box images` lists the images you have");
    expect(userError(() => tagImage(root, 'base:1', 'Bad'))).toMatch(/invalid image reference 'Bad'/);
  });
});

describe('box rmi', () => {
  it('removing one of two tags only untags', () => {
    twoImages();
    tagImage(root, 'app:1', 'app:latest');
    const before = blobs();
    expect(removeImage(root, 'app:1', { usedBy: nobody })).toEqual({ untagged: ['app:1'], deleted: [], bytes: 0 });
    expect(blobs()).toEqual(before);
  });

  it('removing the last tag deletes the image and its own layer, and keeps the layer another image shares', () => {
    const { a, b, app } = twoImages();
    const removal = removeImage(root, 'app:1', { usedBy: nobody });
    expect(removal.untagged).toEqual(['app:1']);
    expect(removal.deleted).toEqual([app.id, b.descriptor.digest]);
    expect(removal.bytes).toBeGreaterThan(0);
    expect(tags()).toEqual(['base:1']);
    expect(fs.existsSync(layerDir(root, a.diffId))).toBe(true);
    expect(fs.existsSync(layerDir(root, b.diffId))).toBe(false);
    expect(fs.existsSync(blobPath(root, a.descriptor.digest))).toBe(true);
    expect(fs.existsSync(blobPath(root, app.manifestDigest))).toBe(false);
    expect(resolveImage('base:1', { root }).layerDirs).toEqual([layerDir(root, a.diffId)]);
    expect(fs.readdirSync(path.join(root, 'image-tmp'))).toEqual([]);
  });

  it('also removes the copies of a layer made for user namespaces', () => {
    const { b } = twoImages();
    const copy = path.join(storePaths(root).usernsLayers, '100000', b.diffId.slice(7));
    fs.mkdirSync(copy, { recursive: true });
    removeImage(root, 'app:1', { usedBy: nobody });
    expect(fs.existsSync(copy)).toBe(false);
  });

  it('refuses an image a container was made from, naming the container; -f keeps it as <none>', () => {
    const { app } = twoImages();
    const usedBy = (id: string) => (id === app.id ? ['web'] : []);
    expect(userError(() => removeImage(root, 'app:1', { usedBy }))).toBe(
      "conflict: unable to remove 'app:1': container 'web' was made from it; remove it first (box rm web), or keep the image untagged with box rmi -f",
    );
    expect(removeImage(root, 'app:1', { usedBy, force: true })).toEqual({ untagged: ['app:1'], deleted: [], bytes: 0 });
    expect(tags()).toEqual(['base:1', `<none> ${app.manifestDigest.slice(7, 13)}`]);
    expect(resolveImage(app.id, { root }).id).toBe(app.id); // the container's image is still whole
  });

  it('by id: with several tags it needs -f, and then removes them all', () => {
    const { base } = twoImages();
    tagImage(root, 'base:1', 'base:2');
    const short = base.id.slice(7, 19);
    expect(userError(() => removeImage(root, short, { usedBy: nobody }))).toBe(
      `conflict: image ${short} has 2 tags (base:1, base:2); remove them one by one (box rmi NAME:TAG), or all at once with box rmi -f ${short}`,
    );
    const removal = removeImage(root, short, { usedBy: nobody, force: true });
    expect(removal.untagged).toEqual(['base:1', 'base:2']);
    expect(removal.deleted).toEqual([base.id]); // its layer stays: app:1 uses it
    expect(tags()).toEqual(['app:1']);
  });

  it('removes an image whose manifest is missing, as the damage message says to', () => {
    const { app } = twoImages();
    fs.rmSync(blobPath(root, app.manifestDigest));
    expect(userError(() => findImage(root, 'app:1'))).toMatch(/is missing from the store; remove the image/);
    expect(removeImage(root, 'app:1', { usedBy: nobody }).untagged).toEqual(['app:1']);
    expect(tags()).toEqual(['base:1']);
  });

  it('says what to do about an image that is not there', () => {
    expect(userError(() => removeImage(root, 'nope', { usedBy: nobody }))).toBe("no such image: 'nope'; `box images` lists the images you have");
  });
});

describe('box image prune', () => {
  it('removes untagged images no container was made from, and keeps tagged and used ones', () => {
    const { base, app } = twoImages();
    const c = writeImage(root, { config: {}, layers: [layer('c')] }); // untagged, used by a container
    tagImage(root, 'app:1', 'base:1'); // the old base:1 is now <none>, unused
    const removal = pruneImages(root, { usedBy: (id) => (id === c.id ? ['keeper'] : []) });
    expect(removal.untagged).toEqual([]);
    expect(removal.deleted).toEqual([base.id]);
    expect(tags()).toEqual(['app:1', 'base:1', `<none> ${c.manifestDigest.slice(7, 13)}`]);
    expect(findImage(root, 'base:1').image.id).toBe(app.id);
  });

  it('-a removes every image no container uses', () => {
    twoImages();
    const removal = pruneImages(root, { all: true, usedBy: nobody });
    expect(removal.untagged.sort()).toEqual(['app:1', 'base:1']);
    expect(tags()).toEqual([]);
    expect(blobs()).toEqual([]);
    expect(fs.readdirSync(storePaths(root).layers)).toEqual([]);
  });

  it('removes blobs and layers nothing points at once they are old, and leaves young ones to the build writing them', () => {
    const { a } = twoImages();
    const orphan = layer('orphan');
    resolveImage('app:1', { root });
    fs.mkdirSync(layerDir(root, orphan.diffId));
    expect(pruneImages(root, { usedBy: nobody }).deleted).toEqual([]);
    const old = new Date(Date.now() - 2 * 3600 * 1000);
    fs.utimesSync(blobPath(root, orphan.descriptor.digest), old, old);
    fs.utimesSync(layerDir(root, orphan.diffId), old, old);
    expect(pruneImages(root, { usedBy: nobody }).deleted).toEqual([orphan.descriptor.digest]);
    expect(fs.existsSync(layerDir(root, orphan.diffId))).toBe(false);
    expect(fs.existsSync(layerDir(root, a.diffId))).toBe(true);
    expect(tags()).toEqual(['app:1', 'base:1']);
  });
});

describe('history and inspect', () => {
  it('history: one row per step, newest first; a step that made a layer has its size; known images are named', () => {
    const { a, b, base, app } = twoImages();
    const { catalog, image } = findImage(root, 'app:1');
    expect(historyRows(root, catalog, image)).toEqual([
      { id: app.id, created: '2024-02-01T00:00:00Z', createdBy: 'add b', size: layerSize(root, b.descriptor), comment: 'the app' },
      { created: '2024-02-01T00:00:00Z', createdBy: 'ENV X=1', size: 0, comment: '' },
      { id: base.id, created: '2024-01-01T00:00:00Z', createdBy: 'make base', size: layerSize(root, a.descriptor), comment: '' },
    ]);
    expect(layerSize(root, b.descriptor)).toBe(writeTar([{ name: 'b', type: 'file', data: 'b'.repeat(5000) }]).length);
  });

  it('history: layers without history entries still get rows', () => {
    const l = layer('x');
    writeImage(root, { ref: 'bare:1', config: {}, layers: [l] });
    const { catalog, image } = findImage(root, 'bare:1');
    expect(historyRows(root, catalog, image)).toEqual([{ id: image.id, createdBy: '', size: layerSize(root, l.descriptor), comment: '' }]);
  });

  it('inspect: tags, digests, config, layers and where they are unpacked', () => {
    const { a, b, app } = twoImages();
    tagImage(root, 'app:1', 'app:2');
    const { catalog, image } = findImage(root, 'app:2');
    expect(inspectView(root, catalog, image)).toMatchObject({
      Id: app.id,
      RepoTags: ['app:1', 'app:2'],
      RepoDigests: [`app@${app.manifestDigest}`],
      Comment: 'the app',
      Created: '2024-02-01T00:00:00Z',
      Config: { Cmd: ['app'] },
      RootFS: { Type: 'layers', Layers: [a.diffId, b.diffId] },
      GraphDriver: { Name: 'overlay', Data: { LowerDir: `${layerDir(root, b.diffId)}:${layerDir(root, a.diffId)}` } },
    });
  });

  it('finds by id prefix every tag of the image, and says when a prefix is ambiguous', () => {
    const { base } = twoImages();
    tagImage(root, 'base:1', 'other');
    expect(readCatalog(root).images.filter((i) => i.id === base.id).map((i) => i.tag)).toEqual(['base:1', 'other:latest']);
    expect(findImage(root, base.id.slice(7, 15)).image.id).toBe(base.id);
    // Two configs whose digests start with the same four hex digits (a birthday search: ~300 tries).
    const configFor = (n: number) => JSON.stringify({ ...hostPlatform(), config: { Labels: { n: String(n) } }, rootfs: { type: 'layers', diff_ids: [] } });
    const seen = new Map<string, number>();
    let pair: [number, number] | undefined;
    for (let n = 0; !pair; n++) {
      const prefix = sha256(configFor(n)).slice(7, 11);
      if (seen.has(prefix)) pair = [seen.get(prefix)!, n];
      else seen.set(prefix, n);
    }
    const ids = pair.map((n) => writeImage(root, { ref: `twin:${n}`, config: { Labels: { n: String(n) } }, layers: [] }).id);
    expect(ids[0].slice(0, 11)).toBe(ids[1].slice(0, 11));
    expect(userError(() => findImage(root, ids[0].slice(7, 11)))).toBe(
      `image id '${ids[0].slice(7, 11)}' is ambiguous: 2 images start with it; give more digits`,
    );
    expect(findImage(root, ids[0].slice(7, 30)).image.id).toBe(ids[0]);
  });
});
