import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lgetxattr } from '../../runtime/src/image/native.ts';
import { writeTar, type TarWriteEntry } from '../../runtime/src/image/tar-write.ts';
import { OPAQUE_XATTR, symlinkStaysInside, unpackTar } from '../../runtime/src/image/unpack.ts';
import { UserError } from '../../runtime/src/sys/errors.ts';
import { needs } from '../support/requires.ts';

let tmp: string;
let layer: string;
let outside: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'box-unpack-'));
  layer = path.join(tmp, 'layer');
  outside = path.join(tmp, 'outside');
  fs.mkdirSync(layer);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret'), 'untouched\n');
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const unpack = (entries: TarWriteEntry[]) => unpackTar(writeTar(entries), layer, { label: 'layer sha256:test' });

/** Unpacking must fail with a one-line UserError naming the entry, and nothing may appear outside. */
function expectRefused(entries: TarWriteEntry[], entryName: string, why: RegExp): void {
  let error: unknown;
  try {
    unpack(entries);
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(UserError);
  const message = (error as Error).message;
  expect(message).toContain(`entry '${entryName}'`);
  expect(message).toContain('layer sha256:test');
  expect(message).toMatch(why);
  expect(message).not.toContain('\n');
  expect(fs.readdirSync(outside)).toEqual(['secret']);
  expect(fs.readFileSync(path.join(outside, 'secret'), 'utf8')).toBe('untouched\n');
  expect(fs.readdirSync(tmp).sort()).toEqual(['layer', 'outside']);
}

describe('unpacking a layer', () => {
  it('writes files, directories, symlinks and hard links with their modes and times', () => {
    const stats = unpack([
      { name: 'etc', type: 'dir', mode: 0o750, mtime: 1_500_000_000 },
      { name: 'etc/motd', type: 'file', data: 'hello\n', mode: 0o640, mtime: 1_600_000_000 },
      { name: 'bin/tool', type: 'file', data: '#!/bin/sh\n', mode: 0o755 }, // parent never listed
      { name: 'etc/greeting', type: 'symlink', linkname: 'motd', mtime: 1_400_000_000 },
      { name: 'etc/localtime', type: 'symlink', linkname: '/usr/share/zoneinfo/UTC' },
      { name: 'etc/motd.again', type: 'hardlink', linkname: 'etc/motd' },
      { name: 'tmp', type: 'dir', mode: 0o1777 },
    ]);
    expect(stats).toMatchObject({ entries: 7, bytes: 16, whiteouts: 0 });
    const st = (p: string) => fs.lstatSync(path.join(layer, p));
    expect(fs.readFileSync(path.join(layer, 'etc/motd'), 'utf8')).toBe('hello\n');
    expect(st('etc/motd').mode & 0o7777).toBe(0o640);
    expect(st('etc/motd').mtimeMs).toBe(1_600_000_000_000);
    expect(st('etc').mode & 0o7777).toBe(0o750);
    expect(st('etc').mtimeMs).toBe(1_500_000_000_000); // set after its children were added
    expect(st('bin/tool').mode & 0o7777).toBe(0o755);
    expect(st('tmp').mode & 0o7777).toBe(0o1777);
    expect(fs.readlinkSync(path.join(layer, 'etc/greeting'))).toBe('motd');
    expect(st('etc/greeting').mtimeMs).toBe(1_400_000_000_000);
    expect(fs.readlinkSync(path.join(layer, 'etc/localtime'))).toBe('/usr/share/zoneinfo/UTC');
    expect(st('etc/motd.again').ino).toBe(st('etc/motd').ino);
  });

  it('lets a later entry replace an earlier one, replacing a symlink rather than writing through it', () => {
    unpack([
      { name: 'x', type: 'symlink', linkname: path.join(outside, 'secret') },
      { name: 'x', type: 'file', data: 'mine\n' },
    ]);
    expect(fs.lstatSync(path.join(layer, 'x')).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(layer, 'x'), 'utf8')).toBe('mine\n');
    expect(fs.readFileSync(path.join(outside, 'secret'), 'utf8')).toBe('untouched\n');
  });

  it('does not copy user.overlay.* xattrs either (they steer an overlay mounted with userxattr), and keeps other user.* ones', () => {
    unpack([{ name: 'd', type: 'dir', xattrs: { 'user.overlay.redirect': '/etc', 'user.comment': 'kept' } }]);
    expect(lgetxattr(path.join(layer, 'd'), 'user.overlay.redirect')).toBeUndefined();
    expect(lgetxattr(path.join(layer, 'd'), 'user.comment')?.toString()).toBe('kept');
  });

  it('does not copy trusted.* xattrs from an archive (they steer overlayfs)', () => {
    unpack([{ name: 'd', type: 'dir', xattrs: { 'trusted.overlay.redirect': '/etc' } }]);
    expect(lgetxattr(path.join(layer, 'd'), 'trusted.overlay.redirect')).toBeUndefined();
  });
});

describe('unpacking refuses what could leave the layer', () => {
  it('an entry with a .. component', () => {
    expectRefused([{ name: '../outside/evil', type: 'file', data: 'x' }], '../outside/evil', /'\.\.' component/);
  });

  it('an entry that climbs out halfway through its path', () => {
    expectRefused([{ name: 'a/../../outside/evil', type: 'file', data: 'x' }], 'a/../../outside/evil', /'\.\.' component/);
  });

  it('an absolute path', () => {
    const evil = path.join(outside, 'evil');
    expectRefused([{ name: evil, type: 'file', data: 'x' }], evil, /absolute path/);
  });

  it('a symlink whose relative target climbs above the layer', () => {
    expectRefused([{ name: 'etc/link', type: 'symlink', linkname: '../../outside/secret' }], 'etc/link', /leaves the layer/);
  });

  it('a file written through a symlink to outside (tar slip)', () => {
    expectRefused([
      { name: 'escape', type: 'symlink', linkname: outside },
      { name: 'escape/secret', type: 'file', data: 'overwritten\n' },
    ], 'escape/secret', /through the symlink 'escape'/);
  });

  it('a file written through a symlink even when it points inside', () => {
    expectRefused([
      { name: 'real', type: 'dir' },
      { name: 'alias', type: 'symlink', linkname: 'real' },
      { name: 'alias/file', type: 'file', data: 'x' },
    ], 'alias/file', /through the symlink 'alias'/);
  });

  it('a directory created through a symlink', () => {
    expectRefused([
      { name: 'escape', type: 'symlink', linkname: outside },
      { name: 'escape/newdir', type: 'dir' },
    ], 'escape/newdir', /through the symlink 'escape'/);
  });

  it('a hard link to a path outside', () => {
    expectRefused([{ name: 'hl', type: 'hardlink', linkname: '../outside/secret' }], 'hl', /'\.\.' component in its hard link target/);
  });

  it('a hard link to an absolute path', () => {
    expectRefused([{ name: 'hl', type: 'hardlink', linkname: path.join(outside, 'secret') }], 'hl', /absolute hard link target/);
  });

  it('a hard link through a symlink to outside', () => {
    expectRefused([
      { name: 'escape', type: 'symlink', linkname: outside },
      { name: 'hl', type: 'hardlink', linkname: 'escape/secret' },
    ], 'hl', /through the symlink 'escape'/);
  });

  it('a hard link to a file that is not in the layer', () => {
    expectRefused([{ name: 'hl', type: 'hardlink', linkname: 'missing' }], 'hl', /not in this layer/);
  });

  it('a whiteout written through a symlink', () => {
    expectRefused([
      { name: 'escape', type: 'symlink', linkname: outside },
      { name: 'escape/.wh.secret', type: 'file', data: '' },
    ], 'escape/.wh.secret', /through the symlink 'escape'/);
  });

  it('a character device', () => {
    expectRefused([{ name: 'dev/mem', type: 'char', devmajor: 1, devminor: 1 }], 'dev/mem', /character device 1:1/);
  });

  it('a block device', () => {
    expectRefused([{ name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0 }], 'dev/sda', /block device 8:0/);
  });

  it('a FIFO', () => {
    expectRefused([{ name: 'run/pipe', type: 'fifo' }], 'run/pipe', /FIFO/);
  });

  it('an entry type box does not know', () => {
    expectRefused([{ name: 'vol', type: 'file', typeflag: 'V' }], 'vol', /tar type 'V'/);
  });

  it('a damaged archive, as a message rather than a crash', () => {
    const tar = writeTar([{ name: 'f', type: 'file', data: 'abc' }]);
    tar[10] ^= 1;
    expect(() => unpackTar(tar, layer, { label: 'layer sha256:test' })).toThrow(/cannot unpack layer sha256:test: .*bad checksum/);
  });
});

describe('symlinkStaysInside', () => {
  it.each([
    [['a', 'link'], 'b', true],
    [['a', 'link'], '../b', true],
    [['a', 'link'], '../../b', false],
    [['link'], '/etc/passwd', true], // absolute: the container's root, never followed while unpacking
    [['link'], '/../etc', false],
    [['a', 'b', 'link'], '../c/../../d', true],
    [['a', 'b', 'link'], '../c/../../../d', false],
  ])('%j -> %s is inside: %s', (parts, target, inside) => {
    expect(symlinkStaysInside(parts as string[], target as string)).toBe(inside);
  });
});

const hasGnuTar = (() => {
  try {
    return execFileSync('tar', ['--version'], { encoding: 'utf8' }).includes('GNU tar');
  } catch {
    return false;
  }
})();

needs(!hasGnuTar && 'GNU tar is not installed (apt-get install tar)').describe('unpacking what GNU tar packed', () => {
  it('gives back the same tree', () => {
    const src = path.join(tmp, 'src');
    fs.mkdirSync(path.join(src, 'deep/er/still'), { recursive: true });
    fs.writeFileSync(path.join(src, 'deep/er/still/file'), 'content');
    fs.chmodSync(path.join(src, 'deep/er'), 0o711);
    fs.symlinkSync('er/still/file', path.join(src, 'deep/link'));
    fs.linkSync(path.join(src, 'deep/er/still/file'), path.join(src, 'hard'));
    fs.utimesSync(path.join(src, 'deep/er'), 1_111_111_111, 1_111_111_111);
    const tar = execFileSync('tar', ['-C', src, '--format=pax', '-cf', '-', '.']);
    unpackTar(tar, layer, { label: 'layer sha256:gnu' });
    const describe = (root: string) =>
      execFileSync('find', ['.', '-printf', '%p %y %m %l %n\n'], { cwd: root, encoding: 'utf8' }).split('\n').sort();
    expect(describe(layer)).toEqual(describe(src));
    expect(fs.statSync(path.join(layer, 'deep/er')).mtimeMs).toBe(1_111_111_111_000);
  });
});
