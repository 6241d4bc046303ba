// box push and box pull against the real registry (Debian's docker-registry, on loopback),
// and against a small token server in front of it for the anonymous bearer-token flow. What
// is checked is what a user sees: the output, the store, and the container the pulled image
// runs.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findImage } from '../../runtime/src/image/catalog.ts';
import { sha256 } from '../../runtime/src/image/digest.ts';
import { storePaths } from '../../runtime/src/image/paths.ts';
import { pushImage } from '../../runtime/src/image/registry/push.ts';
import { boxAsync, isRoot, tempBoxRoot, type Result } from './helpers.ts';
import { makeThreeLayerImage, registryBlobFile, registryReason, startRegistry, type RunningRegistry } from './registry-server.ts';
import { need, needs } from '../support/requires.ts';

const missing = need(registryReason, !isRoot && 'needs root: box run and the busybox image');
const skip = !!missing;

let registry: RunningRegistry;
const roots: string[] = [];
/** A fresh, empty box root, removed after the file. */
function freshRoot(tag: string): string {
  const root = tempBoxRoot(`reg-${tag}`);
  fs.chmodSync(root, 0o711);
  roots.push(root);
  return root;
}

beforeAll(async () => {
  if (!skip) registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
});

/**
 * Run box without blocking this process: the token server below lives in it. (spawnSync
 * would stop its event loop, and box would wait for a token forever.)
 */
function box(root: string, args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const child = boxAsync(root, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    child.on('exit', (code, signal) => resolve({ code: code ?? 128 + (signal ? os.constants.signals[signal] : 0), stdout, stderr }));
  });
}

async function ok(root: string, args: string[]): Promise<string> {
  const r = await box(root, args);
  if (r.code !== 0) throw new Error(`box ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** A failure as the user sees it: one line on stderr, a non-zero exit. Returns the message. */
async function fails(root: string, args: string[]): Promise<string> {
  const r = await box(root, args);
  expect(r.code).not.toBe(0);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^box: /);
  return r.stderr.trim().replace(/^box: /, '');
}

const short = (digest: string) => digest.slice(7, 19);

/** The layer digests of a stored image, bottom first. */
function layersOf(root: string, ref: string): string[] {
  return findImage(root, ref).image.manifest.layers.map((l) => l.digest);
}

/** index.json, the blobs and the unpacked layers of a store: what must not change when a pull fails. */
function snapshot(root: string) {
  const p = storePaths(root);
  const list = (d: string) => (fs.existsSync(d) ? fs.readdirSync(d).sort() : []);
  return { index: fs.existsSync(p.index) ? fs.readFileSync(p.index, 'utf8') : null, blobs: list(p.blobs), layers: list(p.layers) };
}

needs(missing).describe('box push and box pull with the real registry', () => {
  let source: string;
  let busyboxLayer: string;
  let manifestDigest: string;

  beforeAll(() => {
    source = freshRoot('source');
  });

  it('box push sends busybox: one line per layer, then the tag, digest and size', async () => {
    const out = await ok(source, ['push', 'busybox', `${registry.host}/bb:v1`]);
    [busyboxLayer] = layersOf(source, 'busybox');
    manifestDigest = findImage(source, 'busybox').image.manifestDigest;
    const size = fs.statSync(path.join(storePaths(source).blobs, manifestDigest.slice(7))).size;
    expect(out).toBe([
      `The push refers to repository [${registry.host}/bb]`,
      `${short(busyboxLayer)}: Preparing`,
      `${short(busyboxLayer)}: Pushing`,
      `${short(busyboxLayer)}: Pushed`,
      `v1: digest: ${manifestDigest} size: ${size}`,
      '',
    ].join('\n'));
    // The registry has it, under the same digest.
    const res = await fetch(`http://${registry.host}/v2/bb/manifests/v1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(res.headers.get('docker-content-digest')).toBe(manifestDigest);
  });

  it('box push again sends nothing: the layer already exists', async () => {
    const out = await ok(source, ['push', 'busybox', `${registry.host}/bb:v1`]);
    expect(out).toContain(`${short(busyboxLayer)}: Layer already exists\n`);
    expect(out).not.toContain('Pushed');
  });

  it('box pull into an empty store: the same image, and it runs', async () => {
    const target = freshRoot('pull');
    const ref = `${registry.host}/bb:v1`;
    expect(await ok(target, ['pull', ref])).toBe([
      'v1: Pulling from bb',
      `${short(busyboxLayer)}: Pulling fs layer`,
      `${short(busyboxLayer)}: Downloading`,
      `${short(busyboxLayer)}: Download complete`,
      `${short(busyboxLayer)}: Extracting`,
      `${short(busyboxLayer)}: Pull complete`,
      `Digest: ${manifestDigest}`,
      `Status: Downloaded newer image for ${ref}`,
      ref,
      '',
    ].join('\n'));
    expect(findImage(target, ref).image.id).toBe(findImage(source, 'busybox').image.id);
    expect(await ok(target, ['run', '--rm', ref, 'echo', 'pulled and running'])).toBe('pulled and running\n');
    expect(await ok(target, ['pull', ref])).toContain(`Status: Image is up to date for ${ref}\n`);
  });

  it('a three-layer image: the layer the registry has is not sent again; a store with busybox pulls only two', async () => {
    const ref = `${registry.host}/bb:three`;
    await makeThreeLayerImage(source, ref);
    const layers = layersOf(source, ref);
    expect(layers).toHaveLength(3);
    const pushed = await ok(source, ['push', ref]);
    expect(pushed).toContain(`${short(layers[0])}: Layer already exists\n`); // busybox's, pushed to this repository before
    for (const l of layers.slice(1)) expect(pushed).toContain(`${short(l)}: Pushed\n`);

    const target = freshRoot('three');
    await ok(target, ['images']); // an empty store...
    await ok(target, ['run', '--rm', 'busybox', 'true']); // ...with busybox in it, as every box store has once used
    const out = await ok(target, ['pull', ref]);
    expect(out).toContain(`${short(layers[0])}: Already exists\n`);
    for (const l of layers.slice(1)) expect(out).toContain(`${short(l)}: Pull complete\n`);
    // The layers stack: layer three's file is there, and its whiteout hides layer two's motd.
    expect(await ok(target, ['run', '--rm', ref])).toMatch(/^hello from layer three [0-9a-f]{8}\n$/);
    expect(await ok(target, ['run', '--rm', ref, 'sh', '-c', 'test -e /etc/motd && echo motd || echo no motd; wc -c < /srv/blob'])).toBe(`no motd\n${256 * 1024}\n`);
  });

  it('a manifest list: box pulls the linux/amd64 image out of it', async () => {
    // An OCI index naming busybox as linux/amd64 and the three-layer image as linux/arm64.
    const amd64 = findImage(source, 'busybox').image;
    const arm = findImage(source, `${registry.host}/bb:three`).image;
    await ok(source, ['push', 'busybox', `${registry.host}/multi:amd64`]);
    await ok(source, ['push', `${registry.host}/bb:three`, `${registry.host}/multi:arm64`]);
    const entry = (img: typeof amd64, architecture: string) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: img.manifestDigest,
      size: fs.statSync(path.join(storePaths(source).blobs, img.manifestDigest.slice(7))).size, platform: { os: 'linux', architecture },
    });
    const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [entry(arm, 'arm64'), entry(amd64, 'amd64')] });
    const put = await fetch(`http://${registry.host}/v2/multi/manifests/both`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: index });
    expect(put.status).toBe(201);
    const target = freshRoot('multi');
    const out = await ok(target, ['pull', `${registry.host}/multi:both`]);
    expect(out).toContain(`Digest: ${sha256(index)}\n`); // the list's digest, as docker prints it
    expect(findImage(target, `${registry.host}/multi:both`).image.id).toBe(amd64.id);
  });

  it('a layer altered in the registry\'s storage is refused, and the store stays as it was', async () => {
    const ref = `${registry.host}/tamper:v1`;
    await makeThreeLayerImage(source, ref);
    await ok(source, ['push', ref]);
    const layer = layersOf(source, ref)[1];
    const file = registryBlobFile(registry.storage, layer);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length >> 1] ^= 0xff; // same size, one byte changed
    fs.writeFileSync(file, bytes);
    const target = freshRoot('tamper');
    await ok(target, ['images']);
    const before = snapshot(target);
    const message = await fails(target, ['pull', ref]);
    expect(message).toMatch(new RegExp(`^blob ${layer} from ${registry.host} does not match its digest \\(its bytes hash to sha256:[0-9a-f]{64}\\); refused, nothing stored$`));
    expect(snapshot(target)).toEqual(before);
    expect(fs.readdirSync(path.join(target, 'image-tmp'))).toEqual([]);
  });

  it('two pulls at once into one store: both succeed, each blob stored once, and the image runs', async () => {
    const ref = `${registry.host}/bb:three`;
    const target = freshRoot('twice');
    const [a, b] = await Promise.all([box(target, ['pull', '-q', ref]), box(target, ['pull', '-q', ref])]);
    expect([a.code, b.code, a.stdout, b.stdout]).toEqual([0, 0, `${ref}\n`, `${ref}\n`]);
    const image = findImage(target, ref).image;
    expect(snapshot(target).blobs).toEqual([image.manifestDigest, image.id, ...image.manifest.layers.map((l) => l.digest)].map((d) => d.slice(7)).sort());
    expect(await ok(target, ['run', '--rm', ref])).toMatch(/^hello from layer three/);
    expect(fs.readdirSync(path.join(target, 'image-tmp'))).toEqual([]);
  });

  it('a blob bigger than the chunk size goes up in PATCHed pieces, and comes back intact', async () => {
    const ref = `${registry.host}/chunked:v1`;
    await makeThreeLayerImage(source, ref, 300 * 1024);
    const proxy = await startProxy(registry.host, { requireToken: false });
    try {
      const lines: string[] = [];
      await pushImage(source, ref, `${proxy.host}/chunked:v1`, { chunkSize: 64 * 1024, progress: { layer: () => {}, line: (t) => lines.push(t) } });
      const big = findImage(source, ref).image.manifest.layers[1];
      expect(proxy.log.filter((l) => l.startsWith('PATCH ')).length).toBeGreaterThanOrEqual(Math.ceil(big.size / (64 * 1024)));
    } finally {
      await proxy.stop();
    }
    const target = freshRoot('chunked');
    await ok(target, ['pull', '-q', ref]);
    expect(findImage(target, ref).image.id).toBe(findImage(source, ref).image.id);
    expect(await ok(target, ['run', '--rm', ref, 'wc', '-c', '/srv/blob'])).toBe(`${300 * 1024} /srv/blob\n`);
  });

  it('a pull killed mid-download leaves the store as it was; the next box clears its temporary files', async () => {
    const ref = `${registry.host}/bb:three`;
    const proxy = await startProxy(registry.host, { requireToken: false, stallBlob: layersOf(source, ref)[1] });
    try {
      const target = freshRoot('killed');
      await ok(target, ['images']);
      const before = snapshot(target);
      const child = boxAsync(target, ['pull', `${proxy.host}/bb:three`], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      await new Promise<void>((resolve) => child.stdout!.on('data', (d) => {
        stdout += d;
        if (stdout.includes(`${short(layersOf(source, ref)[1])}: Downloading`)) resolve();
      }));
      const exited = new Promise((r) => child.on('exit', r));
      child.kill('SIGKILL');
      await exited;
      expect(snapshot(target)).toEqual(before);
      expect(fs.readdirSync(path.join(target, 'image-tmp')).length).toBeGreaterThan(0); // the dead pull's stage
      await ok(target, ['pull', '-q', ref]); // the next pull (from the registry itself) clears it
      expect(fs.readdirSync(path.join(target, 'image-tmp'))).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('errors are one line: an unknown image, a registry that is down, bad arguments', async () => {
    const root = freshRoot('errors');
    expect(await fails(root, ['pull', `${registry.host}/nothing:here`]))
      .toBe(`${registry.host}/nothing:here not found in registry ${registry.host} (HTTP 404, manifest unknown); check the name and tag`);
    expect(await fails(root, ['pull', `${registry.host}/bb:nosuchtag`]))
      .toBe(`${registry.host}/bb:nosuchtag not found in registry ${registry.host} (HTTP 404, manifest unknown); check the name and tag`);
    const closed = (await import('./registry-server.ts')).freePort;
    const port = await closed();
    expect(await fails(root, ['pull', `127.0.0.1:${port}/bb:v1`]))
      .toBe(`cannot reach registry 127.0.0.1:${port}: connection refused; is the registry running, and is the address right?`);
    expect(await fails(root, ['push', 'busybox', `127.0.0.1:${port}/bb:v1`]))
      .toBe(`cannot reach registry 127.0.0.1:${port}: connection refused; is the registry running, and is the address right?`);
    expect(await fails(root, ['push', 'nosuchimage', `${registry.host}/x`])).toBe("no such image: 'nosuchimage'; `box images` lists the images you have");
    expect(await fails(root, ['pull'])).toBe("'box pull' needs one image; usage: box pull [REGISTRY/]NAME[:TAG]");
    expect(await fails(root, ['push'])).toBe("'box push' needs an image, and optionally where to push it; usage: box push IMAGE[:TAG] [REGISTRY/]REPO[:TAG]");
    expect(await fails(root, ['pull', 'Bad/Name'])).toBe("invalid image reference 'Bad/Name': repository names must be lowercase");
    // Nothing was stored by the failures: only busybox, which `box push busybox` made first.
    const names = JSON.parse(snapshot(root).index!).manifests.map((m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name']);
    expect(names).toEqual(['busybox:latest']);
  });
});

needs(missing).describe('the anonymous bearer-token flow', () => {
  it('401 with a Bearer challenge -> GET the token -> the same request again, for push and for pull', async () => {
    const proxy = await startProxy(registry.host, { requireToken: true });
    try {
      const source = freshRoot('token-src');
      const ref = `${proxy.host}/secured/app:v1`;
      await makeThreeLayerImage(source, ref, 1024);
      const pushed = await ok(source, ['push', ref]);
      expect(pushed).toMatch(/^v1: digest: sha256:[0-9a-f]{64} size: \d+$/m);
      const target = freshRoot('token-dst');
      await ok(target, ['pull', '-q', ref]);
      expect(findImage(target, ref).image.id).toBe(findImage(source, ref).image.id);
      // Tokens were asked for the scopes the challenges named, anonymously, for the service named.
      expect(new Set(proxy.tokenRequests)).toEqual(new Set([
        'service=box-test scope=repository:secured/app:pull',
        'service=box-test scope=repository:secured/app:pull,push',
      ]));
      // Every request the registry saw carried the token: only 401s went without one.
      expect(proxy.log.every((l) => l.endsWith(' token'))).toBe(true);
      expect(proxy.unauthorized).toBeGreaterThan(0);
    } finally {
      await proxy.stop();
    }
  });

  it('a registry asking for a password, and a token server that refuses, are one line each', async () => {
    const proxy = await startProxy(registry.host, { requireToken: true, basic: true });
    try {
      const root = freshRoot('token-basic');
      expect(await fails(root, ['pull', `${proxy.host}/x/y:v1`]))
        .toBe(`registry ${proxy.host} asks for a user name and password (Basic auth); box pulls and pushes anonymously only`);
    } finally {
      await proxy.stop();
    }
    const refusing = await startProxy(registry.host, { requireToken: true, refuseTokens: true });
    try {
      const root = freshRoot('token-refused');
      expect(await fails(root, ['pull', `${refusing.host}/x/y:v1`]))
        .toBe(`the token server 127.0.0.1:${refusing.host.split(':')[1]} refused an anonymous token for repository:x/y:pull (HTTP 403); the repository may not exist or may need a login`);
    } finally {
      await refusing.stop();
    }
  });
});

interface Proxy {
  host: string;
  /** `METHOD /path token|none` for every request passed on to the registry. */
  log: string[];
  tokenRequests: string[];
  unauthorized: number;
  stop(): Promise<void>;
}

/**
 * An HTTP server in front of the real registry. With requireToken it is a registry behind
 * token auth: a request without the token gets 401 and a Bearer challenge naming the scope;
 * /token hands the token out (anonymously). stallBlob: send half of that blob, then nothing.
 */
function startProxy(upstream: string, opts: { requireToken: boolean; basic?: boolean; refuseTokens?: boolean; stallBlob?: string }): Promise<Proxy> {
  const token = randomBytes(12).toString('hex');
  const [upHost, upPort] = upstream.split(':');
  const state: Proxy = { host: '', log: [], tokenRequests: [], unauthorized: 0, stop: async () => {} };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://proxy');
    if (url.pathname === '/token') {
      state.tokenRequests.push(`service=${url.searchParams.get('service')} scope=${url.searchParams.get('scope')}`);
      if (opts.refuseTokens) {
        res.writeHead(403).end('{"details":"no"}');
        return;
      }
      // A token grants the scope it was asked for, no more: `<secret> <scope>`.
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${token} ${url.searchParams.get('scope')}`, expires_in: 300 }));
      return;
    }
    const repo = /^\/v2\/(.+?)\/(?:blobs|manifests)\//.exec(url.pathname)?.[1] ?? '';
    const actions = req.method === 'GET' || req.method === 'HEAD' ? 'pull' : 'pull,push';
    const granted = /^Bearer (\S+) repository:(.+):([a-z,]+)$/.exec(req.headers.authorization ?? '');
    const authorized = granted?.[1] === token && granted[2] === repo && (granted[3] === actions || granted[3] === 'pull,push');
    if (opts.requireToken && !authorized) {
      state.unauthorized++;
      const challenge = opts.basic ? 'Basic realm="registry"'
        : `Bearer realm="http://${state.host}/token",service="box-test",scope="repository:${repo}:${actions}"`;
      req.resume();
      res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' })
        .end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    state.log.push(`${req.method} ${url.pathname} ${authorized ? 'token' : 'none'}`);
    const { authorization: _a, ...headers } = req.headers;
    const up = http.request({ host: upHost, port: Number(upPort), method: req.method, path: req.url, headers }, (upRes) => {
      res.writeHead(upRes.statusCode!, upRes.headers);
      if (opts.stallBlob && req.method === 'GET' && url.pathname.endsWith(`/blobs/${opts.stallBlob}`)) {
        let sent = 0;
        const half = Number(upRes.headers['content-length']) >> 1;
        upRes.on('data', (chunk: Buffer) => {
          if (sent < half) res.write(chunk.subarray(0, half - sent));
          sent += chunk.length;
        });
        return; // and never end
      }
      upRes.pipe(res);
    });
    req.pipe(up);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      state.host = `127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
      state.stop = () => new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      });
      resolve(state);
    });
  });
}
