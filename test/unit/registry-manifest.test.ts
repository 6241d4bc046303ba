import { describe, expect, it } from 'vitest';
import { bar, Progress } from '../../runtime/src/image/registry/progress.ts';
import { MANIFEST_ACCEPT, parseManifest, selectPlatform } from '../../runtime/src/image/registry/manifest.ts';
import { userError } from './user-error.ts';

const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const image = (mediaType?: string) => Buffer.from(JSON.stringify({
  schemaVersion: 2, ...(mediaType ? { mediaType } : {}),
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d(1), size: 10 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d(2), size: 20 }],
}));
const list = (manifests: object[], mediaType = 'application/vnd.docker.distribution.manifest.list.v2+json') =>
  Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests }));
const entry = (n: number, os: string, architecture: string, variant?: string) =>
  ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d(n), size: 100, platform: { os, architecture, ...(variant ? { variant } : {}) } });

describe('parseManifest', () => {
  it('asks for OCI and Docker manifests and lists', () => {
    expect(MANIFEST_ACCEPT.split(', ')).toEqual([
      'application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json',
      'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json',
    ]);
  });

  it('an image manifest, its kind from its mediaType field or else from the Content-Type', () => {
    const docker = parseManifest(image('application/vnd.docker.distribution.manifest.v2+json'), 'text/plain', 'x');
    expect(docker).toMatchObject({ kind: 'image', mediaType: 'application/vnd.docker.distribution.manifest.v2+json' });
    const oci = parseManifest(image(), 'application/vnd.oci.image.manifest.v1+json; charset=utf-8', 'x');
    expect(oci).toMatchObject({ kind: 'image', mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    if (oci.kind === 'image') expect(oci.manifest.layers[0].digest).toBe(d(2));
  });

  it('a Docker manifest list and an OCI index', () => {
    expect(parseManifest(list([entry(3, 'linux', 'amd64')]), undefined, 'x').kind).toBe('index');
    expect(parseManifest(list([entry(3, 'linux', 'amd64')], 'application/vnd.oci.image.index.v1+json'), undefined, 'x').kind).toBe('index');
  });

  it('refuses schema 1, non-sha256 digests, missing sizes, and what is not JSON, in one line each', () => {
    expect(userError(() => parseManifest(Buffer.from('{"schemaVersion":1,"fsLayers":[]}'), undefined, 'old:1')))
      .toBe('old:1 has a Docker schema 1 manifest, which registries stopped serving in 2019 and box does not read; push the image again with a newer tool');
    const sha512 = JSON.parse(image().toString());
    sha512.layers[0].digest = `sha512:${'a'.repeat(128)}`;
    expect(userError(() => parseManifest(Buffer.from(JSON.stringify(sha512)), undefined, 'x:1')))
      .toBe('a layer of x:1 has a sha512 digest; box handles sha256 digests only');
    const noSize = JSON.parse(image().toString());
    delete noSize.config.size;
    expect(userError(() => parseManifest(Buffer.from(JSON.stringify(noSize)), undefined, 'x:1'))).toBe('a config of x:1 has no valid size');
    expect(userError(() => parseManifest(Buffer.from('<html>'), undefined, 'x:1'))).toBe('the manifest of x:1 is not valid JSON; the registry sent something else');
    expect(userError(() => parseManifest(Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'), undefined, 'x:1')))
      .toBe('x:1 is not an image (its manifest has media type application/vnd.oci.image.manifest.v1+json and no config and layers)');
  });
});

describe('selectPlatform', () => {
  const amd64 = { os: 'linux', architecture: 'amd64' };
  it('picks linux/amd64 among others, passing over attestation entries', () => {
    const index = { schemaVersion: 2 as const, manifests: [entry(4, 'linux', 'arm64', 'v8'), entry(5, 'unknown', 'unknown'), entry(6, 'linux', 'amd64'), entry(7, 'windows', 'amd64')] };
    expect(selectPlatform(index, amd64, 'x').digest).toBe(d(6));
  });

  it('prefers the variant asked for, and takes another variant rather than none', () => {
    const index = { schemaVersion: 2 as const, manifests: [entry(4, 'linux', 'arm', 'v6'), entry(5, 'linux', 'arm', 'v7')] };
    expect(selectPlatform(index, { os: 'linux', architecture: 'arm', variant: 'v7' }, 'x').digest).toBe(d(5));
    expect(selectPlatform(index, { os: 'linux', architecture: 'arm', variant: 'v8' }, 'x').digest).toBe(d(4));
  });

  it('says which platforms there are when this one is not', () => {
    const index = { schemaVersion: 2 as const, manifests: [entry(4, 'linux', 'arm64', 'v8'), entry(5, 'unknown', 'unknown'), entry(6, 'linux', 's390x')] };
    expect(userError(() => selectPlatform(index, amd64, 'app:1'))).toBe('app:1 has no image for linux/amd64 (it has linux/arm64/v8, linux/s390x)');
  });
});

describe('progress lines', () => {
  it('draws Docker\'s bar: 50 columns, = for done, > at the head', () => {
    expect(bar(0, 100)).toBe(`[>${' '.repeat(49)}]`);
    expect(bar(50, 100)).toBe(`[${'='.repeat(24)}>${' '.repeat(25)}]`);
    expect(bar(100, 100)).toBe(`[${'='.repeat(50)}]`);
  });

  it('into a pipe: one plain line per change of status, no bars', () => {
    let text = '';
    const p = new Progress({ write: (t) => { text += t; }, tty: false, size: (n) => `${n}B` });
    p.layer('aaa', 'Downloading', { done: 1, total: 3 });
    p.layer('aaa', 'Downloading', { done: 2, total: 3 });
    p.layer('aaa', 'Pull complete');
    expect(text).toBe('aaa: Downloading\naaa: Pull complete\n');
  });

  it('on a terminal: a layer\'s line is redrawn in place, cursor up and back down', () => {
    let text = '';
    const p = new Progress({ write: (t) => { text += t; }, tty: true, size: (n) => `${n}B` });
    p.layer('aaa', 'Waiting');
    p.layer('bbb', 'Waiting');
    text = '';
    p.layer('aaa', 'Downloading', { done: 3, total: 3 });
    expect(text).toBe(`\x1b[2A\r\x1b[2Kaaa: Downloading [${'='.repeat(50)}]  3B/3B\n\x1b[1B`);
  });
});
