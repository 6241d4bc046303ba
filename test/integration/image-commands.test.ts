// The image commands as a user runs them: the real runtime/bin/box, real containers on the
// real kernel's overlayfs, and umoci and skopeo reading what box writes (and box loading
// what skopeo writes). Each test looks at what a user would see: the output and the store.

import { execFileSync, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../runtime/src/image/digest.ts';
import { hostPlatform } from '../../runtime/src/image/images.ts';
import { storePaths } from '../../runtime/src/image/paths.ts';
import { writeTar } from '../../runtime/src/image/tar-write.ts';
import { box, boxBin, has, isRoot, until } from './helpers.ts';

const hasUmoci = has('umoci');
const hasSkopeo = has('skopeo');
if (!hasUmoci) console.warn('skipping the umoci round trips: umoci is not installed (apt-get install umoci)');
if (!hasSkopeo) console.warn('skipping the skopeo round trips: skopeo is not installed (apt-get install skopeo)');

let root: string;
let scratch: string;
beforeAll(() => {
  if (!isRoot) return;
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'box-imgcmd-'));
  fs.chmodSync(root, 0o711); // --userns containers' root (uid 100000) must pass through it
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'box-imgcmd-scratch-'));
});
afterAll(() => {
  if (!isRoot) return;
  for (const id of fs.existsSync(path.join(root, 'containers')) ? fs.readdirSync(path.join(root, 'containers')) : []) {
    box(root, ['rm', '-f', id]);
  }
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** Run box and expect success; returns stdout. */
function ok(args: string[], opts: { root?: string; input?: string } = {}): string {
  const r = box(opts.root ?? root, args, { input: opts.input });
  if (r.code !== 0) throw new Error(`box ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Run box and expect one line on stderr and a non-zero exit. */
function fails(args: string[], r = box(root, args)): { code: number; message: string; stdout: string } {
  expect(r.code).not.toBe(0);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^box: /);
  return { code: r.code, message: r.stderr.trim().replace(/^box: /, ''), stdout: r.stdout };
}

/** `box images` as rows of cells (the header first), and the footer line. */
function imagesTable(args: string[] = []): { rows: string[][]; footer: string } {
  const lines = ok(['images', ...args]).trimEnd().split('\n');
  return { rows: lines.slice(0, -1).map((l) => l.split(/ {3,}/)), footer: lines[lines.length - 1] };
}

const snapshotStore = (r: string) => {
  const p = storePaths(r);
  const list = (d: string) => (fs.existsSync(d) ? fs.readdirSync(d).sort() : []);
  return { index: fs.readFileSync(p.index, 'utf8'), blobs: list(p.blobs), layers: list(p.layers) };
};

describe.skipIf(!isRoot)('box diff and box commit on a real container', () => {
  it('box images on an empty store prints the header and a zero total', () => {
    expect(ok(['images'])).toBe('REPOSITORY   TAG   IMAGE ID   CREATED   SIZE\nTotal: 0 images, 0B on disk (0B shared)\n');
  });

  it('box diff lists what the container added, changed and deleted, a directory before its contents', () => {
    ok(['run', '--name', 'changer', 'busybox', 'sh', '-c',
      'echo hello > /etc/motd; echo extra >> /etc/passwd; rm /etc/group; rm -rf /home; mkdir -p /srv/www; echo page > /srv/www/index.html']);
    expect(ok(['diff', 'changer'])).toBe([
      'C /etc', 'D /etc/group', 'A /etc/motd', 'C /etc/passwd', 'D /home', 'A /srv', 'A /srv/www', 'A /srv/www/index.html', '',
    ].join('\n'));
  });

  it('box diff shows a directory deleted and made again (opaque) with what it lost', () => {
    ok(['run', '--name', 'remade', 'busybox', 'sh', '-c', 'rm -rf /etc && mkdir /etc && echo x > /etc/only']);
    expect(ok(['diff', 'remade'])).toBe('C /etc\nD /etc/group\nA /etc/only\nD /etc/passwd\n');
  });

  it('box commit makes an image that runs with the change: the new file there, the deleted ones gone', () => {
    const out = ok(['commit', '-m', 'a web page', 'changer', 'web:v1']);
    expect(out).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(ok(['run', '--rm', 'web:v1', 'sh', '-c', 'cat /etc/motd /srv/www/index.html; tail -1 /etc/passwd; ls /etc/group /home 2>&1; true']))
      .toBe('hello\npage\nextra\nls: /etc/group: No such file or directory\nls: /home: No such file or directory\n');
    // Like docker commit, the image's default command is what the container ran.
    expect(JSON.parse(ok(['inspect', '-f', '{{json .Config.Cmd}}', 'web:v1']))[0]).toBe('sh');
  });

  it('box commit of an opaque directory: the image has only the new directory\'s contents', () => {
    ok(['commit', '-c', 'CMD ["ls", "/etc"]', 'remade', 'remade:1']);
    // --network none: on a network, box adds resolv.conf, hosts and hostname to /etc (as Docker does).
    expect(ok(['run', '--rm', '--network', 'none', 'remade:1'])).toBe('only\n');
  });

  it('box history shows the commit on top of busybox, with sizes, comment, and the base image\'s id', () => {
    const busyboxId = ok(['images', '-q', 'busybox']).trim();
    const lines = ok(['history', 'web:v1']).trimEnd().split('\n').map((l) => l.split(/ {3,}/));
    expect(lines[0]).toEqual(['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT']);
    expect(lines).toHaveLength(3);
    expect(lines[1][0]).toBe(ok(['images', '-q', 'web:v1']).trim());
    expect(lines[1][1]).toMatch(/^(Less than a second|\d+ seconds?) ago$/);
    expect(lines[1][2]).toBe("sh -c 'echo hello > /etc/motd; echo extra >>…"); // 45 characters, as docker cuts
    expect(lines[1][3]).toMatch(/^\d+(\.\d+)?kB$/);
    expect(lines[1][4]).toBe('a web page');
    expect(lines[2][0]).toBe(busyboxId);
    expect(lines[2][2]).toMatch(/^box: BusyBox v/);
    expect(ok(['history', '--no-trunc', 'web:v1'])).toContain("sh -c 'echo hello > /etc/motd; echo extra >> /etc/passwd; rm /etc/group;");
  });

  it('box images: one row per tag, newest first, and the busybox layer counted once in the total', () => {
    const { rows, footer } = imagesTable();
    expect(rows[0]).toEqual(['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']);
    expect(rows.slice(1).map((r) => `${r[0]}:${r[1]}`).sort()).toEqual(['busybox:latest', 'remade:1', 'web:v1']);
    expect(rows[rows.length - 1][0]).toBe('busybox'); // created at the epoch: oldest
    const busyboxSize = rows.find((r) => r[0] === 'busybox')![4];
    expect(footer).toMatch(new RegExp(`^Total: 3 images, \\S+ on disk \\(${busyboxSize.replace('.', '\\.')} shared\\)$`));
  });

  it('box inspect NAME: a container first, then an image', () => {
    expect(JSON.parse(ok(['inspect', 'changer']))[0]).toMatchObject({ Name: 'changer', State: { Status: 'exited' } });
    const [image] = JSON.parse(ok(['inspect', 'web:v1']));
    expect(image).toMatchObject({ RepoTags: ['web:v1'], Comment: 'a web page', Os: 'linux' });
    expect(image.RootFS.Layers).toHaveLength(2);
    expect(JSON.parse(ok(['image', 'inspect', 'web:v1']))[0].Id).toBe(image.Id);
    expect(fails(['inspect', 'nothing-here']).message).toBe("no such container: 'nothing-here'; `box ps -a` lists them");
  });

  it('a --userns container\'s files are committed with the owners they have inside', () => {
    ok(['run', '--name', 'mapped', '--userns', 'busybox', 'sh', '-c', 'echo secret > /root/f; mkdir /home/ann; chown 1000:1000 /home/ann']);
    const uid = fs.statSync(path.join(root, 'containers', JSON.parse(ok(['inspect', 'mapped']))[0].Id, 'upper/root/f')).uid;
    expect(uid >= 100000 && (uid - 100000) % 65536 === 0, String(uid)).toBe(true); // its own range's root
    ok(['commit', 'mapped', 'mapped:1']);
    expect(ok(['run', '--rm', 'mapped:1', 'sh', '-c', 'stat -c "%u:%g %n" /root/f /home/ann'])).toBe('0:0 /root/f\n1000:1000 /home/ann\n');
  });

  it('bad input: one line naming the fix, nothing written', () => {
    const before = snapshotStore(root);
    expect(fails(['diff', 'ghost']).message).toBe("no such container: 'ghost'; `box ps -a` lists them");
    expect(fails(['commit', 'changer', 'Bad:Name']).message).toMatch(/^invalid image reference 'Bad:Name': repository names must be lowercase/);
    expect(fails(['commit', '-c', 'RUN make', 'changer', 'x']).message).toMatch(/^-c 'RUN make': RUN cannot be applied by commit/);
    expect(fails(['commit']).message).toMatch(/^'box commit' needs a container/);
    expect(snapshotStore(root)).toEqual(before);
  });
});

describe.skipIf(!isRoot)('box tag, box rmi and box image prune', () => {
  it('box tag gives a second name; box rmi of one name only untags', () => {
    expect(ok(['tag', 'web:v1', 'localhost:5000/team/web:prod'])).toBe('');
    const ids = ok(['images', '-q', '--no-trunc']);
    expect(ok(['images', 'localhost:5000/team/web'])).toContain('localhost:5000/team/web   prod');
    expect(ok(['rmi', 'localhost:5000/team/web:prod'])).toBe('Untagged: localhost:5000/team/web:prod\n');
    expect(ok(['images', '-q', '--no-trunc'])).toBe(ids);
  });

  it('box rmi refuses an image a container was made from, and -f leaves it as <none> for the container', () => {
    const r = fails(['rmi', 'busybox']);
    expect(r.code).toBe(1);
    expect(r.message).toMatch(/^conflict: unable to remove 'busybox:latest': containers .*'changer'.* were made from it; remove them first \(box rm /);
    const busyboxId = ok(['images', '-q', 'busybox']).trim();
    expect(ok(['rmi', '-f', 'busybox'])).toBe('Untagged: busybox:latest\n');
    const dangling = imagesTable().rows.find((row) => row[2] === busyboxId);
    expect(dangling?.slice(0, 2)).toEqual(['<none>', '<none>']);
    expect(ok(['run', '--rm', 'web:v1', 'cat', '/etc/motd'])).toBe('hello\n'); // its layers are all still there
  });

  it('box rmi of an image nothing else uses deletes it and its layer; shared layers stay', () => {
    ok(['run', '--name', 'tmpc', 'web:v1', 'touch', '/only-here']);
    ok(['commit', 'tmpc', 'throwaway:1']);
    ok(['rm', 'tmpc']);
    const layers = fs.readdirSync(storePaths(root).layers).length;
    const out = ok(['rmi', 'throwaway:1']);
    expect(out).toMatch(/^Untagged: throwaway:1\nDeleted: sha256:[0-9a-f]{64}\nDeleted: sha256:[0-9a-f]{64}\n$/);
    expect(fs.readdirSync(storePaths(root).layers)).toHaveLength(layers - 1);
    expect(ok(['run', '--rm', 'web:v1', 'cat', '/srv/www/index.html'])).toBe('page\n');
  });

  it('box image prune removes the <none> image once no container uses it, and says how much it freed', () => {
    expect(ok(['image', 'prune', '-f'])).toBe('Total reclaimed space: 0B\n'); // still used by the containers
    for (const c of ['changer', 'remade', 'mapped']) ok(['rm', c]);
    const out = ok(['image', 'prune', '-f']);
    expect(out).toMatch(/^Deleted Images:\ndeleted: sha256:[0-9a-f]{64}\n\nTotal reclaimed space: \d+(\.\d+)?kB\n$/);
    expect(imagesTable().rows.some((r) => r[0] === '<none>')).toBe(false);
    // Its layer is busybox's, which web:v1 and the others still use.
    expect(ok(['run', '--rm', 'web:v1', 'cat', '/etc/motd'])).toBe('hello\n');
  });

  it('box image prune without -f asks, and does nothing unless told yes', () => {
    ok(['run', '--name', 'p1', 'web:v1', 'true']);
    ok(['commit', 'p1']); // untagged, as docker commit without a name makes it
    ok(['rm', 'p1']);
    const r = box(root, ['image', 'prune'], { input: 'n\n' });
    expect(r.stderr).toContain('WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ');
    expect(r.stdout).toBe('');
    expect(imagesTable().rows.some((row) => row[0] === '<none>')).toBe(true);
    expect(box(root, ['image', 'prune'], { input: 'y\n' }).stdout).toMatch(/^Deleted Images:\n/);
    expect(imagesTable().rows.some((row) => row[0] === '<none>')).toBe(false);
  });

  it('bad input: unknown images, bad names, missing arguments', () => {
    expect(fails(['rmi', 'nothing']).message).toBe("no such image: 'nothing'; `box images` lists the images you have");
    expect(fails(['tag', 'web:v1']).message).toMatch(/^'box tag' needs a source image and a new name/);
    expect(fails(['tag', 'web:v1', 'UPPER']).message).toMatch(/^invalid image reference 'UPPER'/);
    expect(fails(['history', 'nothing']).message).toBe("no such image: 'nothing'; `box images` lists the images you have");
    expect(fails(['image', 'frob']).message).toBe("'box image frob' is not a command; see 'box image --help'");
    expect(ok(['image', 'prune', '--help'])).toMatch(/^Usage: box image prune \[-a\] \[-f\]/);
  });
});

describe.skipIf(!isRoot)('box save and box load', () => {
  it('save writes an OCI layout that umoci lists and unpacks, whiteouts applied', { skip: !hasUmoci }, () => {
    const file = path.join(scratch, 'web.tar');
    expect(ok(['save', '-o', file, 'web:v1', 'busybox:latest'])).toBe('');
    const layout = path.join(scratch, 'web-layout');
    fs.mkdirSync(layout);
    execFileSync('tar', ['-xf', file, '-C', layout]);
    expect(execFileSync('umoci', ['ls', '--layout', layout], { encoding: 'utf8' }).trim().split('\n').sort()).toEqual(['busybox:latest', 'web:v1']);
    const bundle = path.join(scratch, 'web-bundle');
    execFileSync('umoci', ['unpack', '--image', `${layout}:web:v1`, bundle], { stdio: 'ignore' });
    const rootfs = path.join(bundle, 'rootfs');
    expect(fs.readFileSync(path.join(rootfs, 'etc/motd'), 'utf8')).toBe('hello\n');
    expect(fs.existsSync(path.join(rootfs, 'etc/group'))).toBe(false); // box's .wh.group, applied by umoci
    expect(fs.existsSync(path.join(rootfs, 'home'))).toBe(false);
    expect(fs.existsSync(path.join(rootfs, 'etc/passwd'))).toBe(true);
  });

  it('skopeo inspects box\'s archive and copies an image out of it', { skip: !hasSkopeo }, () => {
    const file = path.join(scratch, 'web.tar');
    if (!fs.existsSync(file)) ok(['save', '-o', file, 'web:v1', 'busybox:latest']);
    const info = JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${file}:web:v1`], { encoding: 'utf8' }));
    const [image] = JSON.parse(ok(['inspect', 'web:v1']));
    expect(info.Digest).toBe(image.RepoDigests[0].split('@')[1]);
    expect(info.Layers).toHaveLength(2);
    const dest = path.join(scratch, 'skopeo-oci');
    execFileSync('skopeo', ['copy', '--quiet', `oci-archive:${file}:web:v1`, `oci:${dest}:copied`]);
    expect(JSON.parse(fs.readFileSync(path.join(dest, 'index.json'), 'utf8')).manifests[0].annotations['org.opencontainers.image.ref.name']).toBe('copied');
  });

  it('box loads what skopeo writes, and runs it', { skip: !hasSkopeo }, () => {
    const file = path.join(scratch, 'from-skopeo.tar');
    execFileSync('skopeo', ['copy', '--quiet', `oci:${storePaths(root).oci}:web:v1`, `oci-archive:${file}:other`]);
    const fresh = fs.mkdtempSync(path.join(scratch, 'root-'));
    expect(ok(['load', '-i', file], { root: fresh })).toBe('Loaded image: other:latest\n');
    expect(ok(['run', '--rm', 'other', 'cat', '/etc/motd'], { root: fresh })).toBe('hello\n');
    expect(ok(['images', '-q', '--no-trunc'], { root: fresh })).toBe(`${JSON.parse(ok(['inspect', 'web:v1']))[0].Id}\n`);
  });

  it('box save | box load: through a pipe into another store', () => {
    const fresh = fs.mkdtempSync(path.join(scratch, 'root-'));
    const out = execFileSync('sh', ['-c', `BOX_ROOT=${root} ${boxBin} save web:v1 | BOX_ROOT=${fresh} ${boxBin} load`], { encoding: 'utf8' });
    expect(out).toBe('Loaded image: web:v1\n');
    expect(ok(['run', '--rm', 'web:v1', 'cat', '/srv/www/index.html'], { root: fresh })).toBe('page\n');
    // Loading a tag that names another image moves it, and says so as docker does.
    ok(['run', '--name', 'edit', 'web:v1', 'touch', '/new'], { root: fresh });
    const edited = ok(['commit', 'edit', 'web:v1'], { root: fresh }).trim();
    const again = execFileSync('sh', ['-c', `BOX_ROOT=${root} ${boxBin} save web:v1 | BOX_ROOT=${fresh} ${boxBin} load`], { encoding: 'utf8' });
    expect(again).toBe(`The image web:v1 already exists, renaming the old one with ID ${edited} to empty string\nLoaded image: web:v1\n`);
    expect(ok(['images', '-q', '--no-trunc'], { root: fresh }).split('\n')).toContain(edited); // still there, untagged, for its container
  });

  it('save will not write to a terminal, and load will not read one', { skip: !has('script') }, () => {
    // script(1) runs the command on a pseudo-terminal, as a user at a shell would.
    const onTerminal = (cmd: string) => execFileSync('script', ['-qec', `BOX_ROOT=${root} ${boxBin} ${cmd}; echo "exit $?"`, '/dev/null'], { encoding: 'utf8' });
    expect(onTerminal('save web:v1')).toBe('box: refusing to write a tar archive to the terminal; give -o FILE.tar or redirect: box save IMAGE > FILE.tar\r\nexit 125\r\n');
    expect(onTerminal('load')).toBe('box: standard input is a terminal, not a tar archive; give -i FILE.tar or redirect: box load < FILE.tar\r\nexit 125\r\n');
  });

  it('refuses an archive entry that would leave the archive, naming it, and leaves the store as it was', () => {
    const before = snapshotStore(root);
    const evil = path.join(scratch, 'evil.tar');
    fs.writeFileSync(evil, writeTar([
      { name: 'oci-layout', type: 'file', data: '{"imageLayoutVersion":"1.0.0"}' },
      { name: '../../etc/cron.d/evil', type: 'file', data: '* * * * * root reboot\n' },
    ]));
    const r = fails(['load', '-i', evil]);
    expect(r.code).toBe(125);
    expect(r.message).toBe(`refusing to load ${evil}: entry '../../etc/cron.d/evil' has a '..' component in its path (the archive is unsafe; do not use it)`);
    const layer = writeTar([{ name: 'bin', type: 'dir' }, { name: 'bin/sh', type: 'symlink', linkname: '../../../../usr/bin/bash' }]);
    const config = JSON.stringify({ ...hostPlatform(), rootfs: { type: 'layers', diff_ids: [sha256(layer)] } });
    const gz = zlib.gzipSync(layer);
    const manifest = JSON.stringify({ schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(gz), size: gz.length }] });
    fs.writeFileSync(evil, writeTar([
      { name: 'oci-layout', type: 'file', data: '{"imageLayoutVersion":"1.0.0"}' },
      { name: 'index.json', type: 'file', data: JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'evil:1' } }] }) },
      ...[manifest, config, gz].map((data) => ({ name: `blobs/sha256/${sha256(data).slice(7)}`, type: 'file' as const, data })),
    ]));
    expect(fails(['load', '-i', evil]).message).toMatch(/^refusing to unpack layer sha256:[0-9a-f]{64} of .*evil\.tar: entry 'bin\/sh' is a symlink to '\.\.\/\.\.\/\.\.\/\.\.\/usr\/bin\/bash', which leaves the layer/);
    expect(snapshotStore(root)).toEqual(before);
    expect(fails(['load', '-i', path.join(scratch, 'missing.tar')]).message).toMatch(/missing\.tar: no such file/);
    expect(fails(['load', '-i', '/etc/hostname']).message).toMatch(/^\/etc\/hostname is not a readable tar archive|^\/etc\/hostname is not an image archive/);
  });

  it('a load killed midway leaves the store as it was; the next box clears its temporary files', async () => {
    // An image with 64 MB of incompressible data: long enough to kill while it is being checked and unpacked.
    const data = Buffer.alloc(64 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 65536) randomFillSync(data, i, 65536);
    const layer = writeTar([{ name: 'big', type: 'file', data }]);
    const config = JSON.stringify({ ...hostPlatform(), rootfs: { type: 'layers', diff_ids: [sha256(layer)] } });
    const manifest = JSON.stringify({ schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }] });
    const file = path.join(scratch, 'big.tar');
    fs.writeFileSync(file, writeTar([
      { name: 'oci-layout', type: 'file', data: '{"imageLayoutVersion":"1.0.0"}' },
      { name: 'index.json', type: 'file', data: JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'big:1' } }] }) },
      ...[manifest, config, layer].map((d) => ({ name: `blobs/sha256/${sha256(d).slice(7)}`, type: 'file' as const, data: d })),
    ]));
    const before = snapshotStore(root);
    const tmp = path.join(root, 'image-tmp');
    const child = spawn(boxBin, ['load', '-i', file], { env: { ...process.env, BOX_ROOT: root }, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    // Wait for its temporary directory: the load is under way, checking and unpacking.
    await until(() => fs.existsSync(tmp) && fs.readdirSync(tmp).some((n) => n.startsWith(`${child.pid}-`) && n.endsWith('-load')), 20_000, 'the load to start staging');
    child.kill('SIGKILL');
    await exited;
    expect(snapshotStore(root)).toEqual(before);
    expect(fs.readdirSync(tmp).some((n) => n.startsWith(`${child.pid}-`))).toBe(true); // what it left...
    expect(ok(['load', '-i', file])).toBe('Loaded image: big:1\n'); // ...the next box removes, and the load works
    expect(fs.readdirSync(tmp)).toEqual([]);
    const [image] = JSON.parse(ok(['inspect', 'big:1']));
    expect(fs.statSync(path.join(image.GraphDriver.Data.LowerDir, 'big')).size).toBe(data.length);
  }, 120_000);
});
