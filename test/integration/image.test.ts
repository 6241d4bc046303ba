// The image store on the real machine: the busybox image built from busybox-static and run,
// the OCI layout read by umoci and skopeo (and what they write read by box), whiteouts and
// opaque directories honoured by the kernel's overlayfs, and several box processes at once.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureBaseImages, importLayerTar, listImages, readIndex, resolveImage, storePaths, writeImage,
} from '../../runtime/src/image/index.ts';
import { sha256 } from '../../runtime/src/image/digest.ts';
import { readElf } from '../../runtime/src/image/elf.ts';
import { findStaticBusybox } from '../../runtime/src/image/busybox.ts';
import { writeTar } from '../../runtime/src/image/tar-write.ts';
import { copyLayerShifted } from '../../runtime/src/image/layer-copy.ts';
import { lgetxattr } from '../../runtime/src/image/native.ts';
import { has } from './helpers.ts';
import { need, needs, skipUnless } from '../support/requires.ts';

const IMAGE_INDEX = new URL('../../runtime/src/image/index.ts', import.meta.url).pathname;

function staticBusybox(): boolean {
  try {
    findStaticBusybox();
    return true;
  } catch {
    return false;
  }
}

const isRoot = process.getuid?.() === 0;
const hasBusybox = staticBusybox();
const hasUmoci = has('umoci');
const hasSkopeo = has('skopeo');
const hasUnshare = has('unshare');
/** What the tests of this file need, each as the reason it is missing ('' when it is here). */
const runReason = need(
  !isRoot && 'needs root (layers keep owners; overlay mounts)',
  !hasBusybox && 'no static busybox (apt-get install busybox-static)',
);
const umociReason = !hasUmoci && 'umoci is not installed (apt-get install umoci)';
const skopeoReason = !hasSkopeo && 'skopeo is not installed (apt-get install skopeo)';
const unshareReason = !hasUnshare && 'unshare is not installed (util-linux)';
const run = !runReason;
let root: string;
let scratch: string;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'box-images-'));
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'box-images-scratch-'));
});
afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** Run a script in a fresh Node process (another box, as far as the store can tell). */
function nodeProcess(script: string, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** Mount the layers (lowest first) as an overlay in a private mount namespace and run `sh -c cmd` on it. */
function onOverlay(layerDirs: string[], cmd: string): string {
  const work = fs.mkdtempSync(path.join(scratch, 'ovl-'));
  for (const d of ['upper', 'work', 'merged']) fs.mkdirSync(path.join(work, d));
  const lower = [...layerDirs].reverse().join(':'); // overlayfs wants the top layer first
  const script = `mount -t overlay overlay -o lowerdir=${lower},upperdir=${work}/upper,workdir=${work}/work ${work}/merged && cd ${work}/merged && ${cmd}`;
  return execFileSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8' });
}

needs(runReason).describe('the built-in images', () => {
  it('ensureBaseImages builds busybox:latest and lab:latest', () => {
    ensureBaseImages({ root });
    expect(listImages({ root }).map((i) => i.ref)).toEqual(['busybox:latest', 'lab:latest']);
  });

  it('busybox resolves to one layer with a static, executable /bin/busybox that runs', () => {
    const image = resolveImage('busybox', { root });
    expect(image.ref).toBe('busybox:latest');
    expect(image.config).toEqual({ Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] });
    expect(image.layerDirs).toHaveLength(1);
    const busybox = path.join(image.layerDirs[0], 'bin/busybox');
    expect(fs.statSync(busybox).mode & 0o111).toBe(0o111);
    expect(readElf(busybox)?.isStatic).toBe(true);
    expect(fs.statSync(path.join(image.layerDirs[0], 'tmp')).mode & 0o7777).toBe(0o1777);
    // chroot into the layer: the applet symlinks and /etc/passwd work as in a container.
    const out = execFileSync('chroot', [image.layerDirs[0], '/bin/sh', '-c', 'echo $((6*7)); id -un; which awk; readlink /usr/bin/awk'], { encoding: 'utf8' });
    expect(out).toBe('42\nroot\n/usr/bin/awk\n../../bin/busybox\n');
  });

  it('lab resolves to a skeleton whose /bin follows the host (usr-merged or not)', () => {
    const image = resolveImage('lab', { root });
    const layer = image.layerDirs[0];
    for (const name of ['bin', 'sbin', 'lib', 'lib64']) {
      const host = fs.lstatSync(`/${name}`, { throwIfNoEntry: false });
      if (host?.isSymbolicLink()) expect(fs.readlinkSync(path.join(layer, name))).toBe(fs.readlinkSync(`/${name}`));
    }
    expect(fs.readdirSync(path.join(layer, 'usr'))).toEqual([]); // the host's /usr is mounted here
    expect(fs.existsSync(path.join(layer, 'opt/box'))).toBe(true);
    expect(image.config.Cmd).toEqual(fs.existsSync('/usr/bin/bash') ? ['/bin/bash', '-l'] : ['/bin/sh']);
    expect(image.config.Env?.[0]).toMatch(/:\/opt\/box\/runtime\/bin$/);
  });

  it('is reproducible: another store built from the same busybox gets the same digests', () => {
    const other = path.join(scratch, 'other-root');
    ensureBaseImages({ root: other });
    const digests = (r: string) => readIndex(r).manifests.map((d) => d.digest);
    expect(digests(other)).toEqual(digests(root));
  });

  it('a second ensureBaseImages is a no-op: nothing in the store is written again', () => {
    // (How fast: npm run bench, BENCH_ONLY=image.)
    ensureBaseImages({ root });
    const p = storePaths(root);
    const snapshot = () => [p.index, ...fs.readdirSync(p.blobs).map((b) => path.join(p.blobs, b)), ...fs.readdirSync(p.layers).map((l) => path.join(p.layers, l))]
      .map((f) => `${f} ${fs.statSync(f).mtimeMs} ${fs.statSync(f).ino}`);
    const before = snapshot();
    ensureBaseImages({ root });
    expect(snapshot()).toEqual(before);
  });
});

needs(runReason, umociReason).describe('umoci reads and writes the store', () => {
  it('umoci ls lists the tags', () => {
    const out = execFileSync('umoci', ['ls', '--layout', storePaths(root).oci], { encoding: 'utf8' });
    expect(out.trim().split('\n').sort()).toEqual(['busybox:latest', 'lab:latest']);
  });

  it('umoci unpacks busybox to the same tree box unpacked', () => {
    const bundle = path.join(scratch, 'bundle');
    execFileSync('umoci', ['unpack', '--image', `${storePaths(root).oci}:busybox:latest`, bundle], { stdio: 'ignore' });
    const layer = resolveImage('busybox', { root }).layerDirs[0];
    const tree = (dir: string) =>
      execFileSync('find', ['.', '-mindepth', '1', '-printf', '%p %y %m %U %l\n'], { cwd: dir, encoding: 'utf8' }).split('\n').sort();
    expect(tree(path.join(bundle, 'rootfs'))).toEqual(tree(layer));
  });

  needs(unshareReason).it('an image umoci made (a deleted file, an added file) runs on overlayfs as expected', () => {
    const bundle = path.join(scratch, 'bundle-mod');
    const layout = storePaths(root).oci;
    execFileSync('umoci', ['unpack', '--image', `${layout}:busybox:latest`, bundle], { stdio: 'ignore' });
    fs.rmSync(path.join(bundle, 'rootfs/etc/group'));
    fs.writeFileSync(path.join(bundle, 'rootfs/etc/motd'), 'made by umoci\n');
    execFileSync('umoci', ['repack', '--image', `${layout}:busybox-mod:v1`, bundle], { stdio: 'ignore' });

    const image = resolveImage('busybox-mod:v1', { root });
    expect(image.layerDirs).toHaveLength(2);
    const whiteout = fs.lstatSync(path.join(image.layerDirs[1], 'etc/group'));
    expect(whiteout.isCharacterDevice() && whiteout.rdev === 0).toBe(true);
    expect(onOverlay(image.layerDirs, 'ls etc; cat etc/motd')).toBe('motd\npasswd\nmade by umoci\n');
  });
});

needs(runReason, unshareReason).describe('whiteouts on the real overlayfs', () => {
  it('an opaque directory hides everything below it; a whiteout hides one file', () => {
    const base = resolveImage('busybox', { root });
    const top = importLayerTar(root, writeTar([
      { name: 'etc', type: 'dir' },
      { name: 'etc/.wh..wh..opq', type: 'file', data: '' },
      { name: 'etc/only', type: 'file', data: 'alone\n' },
      { name: 'bin/.wh.busybox', type: 'file', data: '' },
    ]));
    const busyboxLayer = listImages({ root }).find((i) => i.ref === 'busybox:latest')!.layers[0];
    writeImage(root, { ref: 'opaque:1', config: {}, layers: [busyboxLayer, top] });
    const image = resolveImage('opaque:1', { root });
    expect(image.layerDirs[0]).toBe(base.layerDirs[0]); // the shared layer is unpacked once
    expect(onOverlay(image.layerDirs, 'ls etc; ls bin | grep -c busybox || true')).toBe('only\n0\n');
  });
});

needs(runReason).describe('a layer copied for a user namespace', () => {
  it('keeps whiteouts, opaque directories, hard links and setuid bits, and shifts every owner', () => {
    const layer = importLayerTar(root, writeTar([
      { name: 'etc', type: 'dir', mode: 0o755, mtime: 1_000_000_000 },
      { name: 'etc/.wh..wh..opq', type: 'file', data: '' },
      { name: 'etc/.wh.gone', type: 'file', data: '' },
      { name: 'usr/bin/su', type: 'file', data: 'su', mode: 0o4755 },
      { name: 'usr/bin/su-again', type: 'hardlink', linkname: 'usr/bin/su' },
      { name: 'home/me', type: 'dir', uid: 1000, gid: 1000, mode: 0o700 },
      { name: 'home/me/link', type: 'symlink', linkname: '/etc', uid: 1000, gid: 1000 },
    ]));
    writeImage(root, { ref: 'shiftme:1', config: {}, layers: [layer] });
    const [src] = resolveImage('shiftme:1', { root }).layerDirs;
    const dst = path.join(scratch, 'shifted');
    copyLayerShifted(src, dst, 100000);
    const st = (p: string) => fs.lstatSync(path.join(dst, p));
    expect(st('etc/gone').isCharacterDevice() && st('etc/gone').rdev === 0).toBe(true);
    expect(lgetxattr(path.join(dst, 'etc'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(st('etc')).toMatchObject({ uid: 100000, gid: 100000, mtimeMs: 1_000_000_000_000 });
    expect(st('usr/bin/su')).toMatchObject({ uid: 100000, mode: fs.constants.S_IFREG | 0o4755 });
    expect(st('usr/bin/su-again').ino).toBe(st('usr/bin/su').ino);
    expect(st('home/me')).toMatchObject({ uid: 101000, gid: 101000, mode: fs.constants.S_IFDIR | 0o700 });
    expect(st('home/me/link').uid).toBe(101000);
    expect(fs.readlinkSync(path.join(dst, 'home/me/link'))).toBe('/etc');
  });
});

needs(runReason, skopeoReason).describe('skopeo reads the store', () => {
  it('skopeo inspect shows the config box wrote', () => {
    const info = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${storePaths(root).oci}:busybox:latest`], { encoding: 'utf8' }));
    const manifest = readIndex(root).manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === 'busybox:latest')!;
    expect(info.Digest).toBe(manifest.digest);
    expect(info.Architecture).toBe(process.arch === 'x64' ? 'amd64' : process.arch);
    expect(info.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    expect(info.Layers).toEqual([listImages({ root }).find((i) => i.ref === 'busybox:latest')!.layers[0].descriptor.digest]);
  });

  it('skopeo copies the images out, checking every blob digest on the way', () => {
    for (const tag of ['busybox:latest', 'lab:latest']) {
      const dest = path.join(scratch, `copy-${tag.replace(':', '-')}`);
      execFileSync('skopeo', ['copy', '--quiet', `oci:${storePaths(root).oci}:${tag}`, `dir:${dest}`]);
      expect(fs.existsSync(path.join(dest, 'manifest.json'))).toBe(true);
    }
  });

  it('box runs an image skopeo copied into the store', () => {
    const src = `oci:${storePaths(root).oci}:busybox:latest`;
    execFileSync('skopeo', ['copy', '--quiet', src, `oci:${storePaths(root).oci}:copied`]);
    const image = resolveImage('copied', { root }); // skopeo wrote ref.name "copied": box reads copied:latest
    expect(image.id).toBe(resolveImage('busybox', { root }).id);
  });
});

needs(runReason).describe('several box processes at once', () => {
  const script = (call: string) =>
    `import * as image from ${JSON.stringify(IMAGE_INDEX)}; try { ${call} } catch (e) { console.error(e.message); process.exit(1); }`;

  it('four concurrent ensureBaseImages on an empty store build each image once and corrupt nothing', async () => {
    const fresh = path.join(scratch, 'race-root');
    const results = await Promise.all(
      [1, 2, 3, 4].map(() => nodeProcess(script('image.ensureBaseImages();'), { BOX_ROOT: fresh })),
    );
    expect(results).toEqual(results.map(() => ({ code: 0, stderr: '' })));
    const index = readIndex(fresh);
    expect(index.manifests.map((d) => d.annotations?.['org.opencontainers.image.ref.name'])).toEqual(['busybox:latest', 'lab:latest']);
    const blobs = storePaths(fresh).blobs;
    for (const name of fs.readdirSync(blobs)) expect(sha256(fs.readFileSync(path.join(blobs, name)))).toBe(`sha256:${name}`);
    expect(fs.readdirSync(storePaths(fresh).layers)).toHaveLength(2);
    expect(fs.readdirSync(path.join(fresh, 'image-tmp'))).toEqual([]);
    if (hasUmoci) execFileSync('umoci', ['ls', '--layout', storePaths(fresh).oci], { stdio: 'ignore' });
  });

  it('four concurrent first resolves unpack the layer into one directory and leave no temporary files', async () => {
    const fresh = path.join(scratch, 'race-root');
    fs.rmSync(storePaths(fresh).layers, { recursive: true });
    const results = await Promise.all(
      [1, 2, 3, 4].map(() => nodeProcess(script(`console.error(image.resolveImage('busybox').layerDirs[0]);`), { BOX_ROOT: fresh })),
    );
    const dirs = new Set(results.map((r) => r.stderr.trim()));
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    expect(dirs.size).toBe(1);
    const [dir] = dirs;
    expect(fs.readdirSync(storePaths(fresh).layers)).toEqual([path.basename(dir)]);
    expect(fs.statSync(path.join(dir, 'bin/busybox')).size).toBe(fs.statSync(findStaticBusybox()).size);
    expect(fs.readdirSync(path.join(fresh, 'image-tmp'))).toEqual([]);
  });
});

describe('the postinstall script', () => {
  const POSTINSTALL = new URL('../../runtime/scripts/postinstall.ts', import.meta.url).pathname;

  it('never fails the install: with no busybox and no apt-get it prints one line and exits 0', () => {
    const out = execFileSync(process.execPath, [POSTINSTALL], {
      env: { ...process.env, BOX_BUSYBOX: '/nonexistent/busybox', PATH: '/nonexistent' },
      encoding: 'utf8',
    });
    expect(out).toMatch(/^box: no static busybox here .*apt-get install busybox-static.*\n$/);
  });

  it('fetches busybox-static with apt-get into a cache when the system has none', async (ctx) => {
    skipUnless(ctx, (!has('apt-get') || !has('dpkg-deb')) && 'apt-get and dpkg-deb are not available (a Debian system)');
    const { ensureStaticBusybox } = await import('../../runtime/scripts/postinstall.ts');
    const cacheDir = path.join(scratch, 'cache');
    const line = await ensureStaticBusybox({ cacheDir, force: true });
    skipUnless(ctx, line?.includes('failed') && `no route to the Debian mirror: ${line}`);
    expect(line).toMatch(/^box: fetched busybox-static into .*busybox for the offline busybox image$/);
    const fetched = [path.join(cacheDir, 'bin/busybox'), path.join(cacheDir, 'usr/bin/busybox')].find((p) => fs.existsSync(p))!;
    expect(readElf(fetched)?.isStatic).toBe(true);
    expect(findStaticBusybox([fetched])).toBe(fetched);
  });
});
