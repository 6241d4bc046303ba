import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readTar, TarError, type TarEntry } from '../../runtime/src/image/tar-read.ts';
import { writeTar } from '../../runtime/src/image/tar-write.ts';
import { needs } from '../support/requires.ts';

const hasGnuTar = (() => {
  try {
    return execFileSync('tar', ['--version'], { encoding: 'utf8' }).includes('GNU tar');
  } catch {
    return false;
  }
})();

const entries = (tar: Buffer): TarEntry[] => [...readTar(tar)];

describe('tar reader and writer', () => {
  it('reads back each kind of entry with its metadata', () => {
    const tar = writeTar([
      { name: 'bin', type: 'dir', mode: 0o755, mtime: 1_700_000_000 },
      { name: 'bin/tool', type: 'file', mode: 0o4755, uid: 1000, gid: 100, mtime: 1_600_000_000, data: 'hello\n' },
      { name: 'bin/alias', type: 'symlink', linkname: 'tool' },
      { name: 'bin/again', type: 'hardlink', linkname: 'bin/tool' },
      { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3 },
      { name: 'pipe', type: 'fifo' },
    ]);
    const got = entries(tar);
    expect(got.map((e) => [e.name, e.type])).toEqual([
      ['bin', 'dir'], ['bin/tool', 'file'], ['bin/alias', 'symlink'], ['bin/again', 'hardlink'], ['dev/null', 'char'], ['pipe', 'fifo'],
    ]);
    expect(got[0]).toMatchObject({ mode: 0o755, mtime: 1_700_000_000 });
    expect(got[1]).toMatchObject({ mode: 0o4755, uid: 1000, gid: 100, mtime: 1_600_000_000 });
    expect(got[1].data.toString()).toBe('hello\n');
    expect(got[2].linkname).toBe('tool');
    expect(got[3].linkname).toBe('bin/tool');
    expect(got[4]).toMatchObject({ devmajor: 1, devminor: 3 });
  });

  it('carries names and link targets longer than 100 bytes in pax headers', () => {
    const long = 'a/'.repeat(70) + 'file.txt';
    const target = 'b/'.repeat(80) + 'target';
    const got = entries(writeTar([
      { name: long, type: 'file', data: 'x' },
      { name: 'link', type: 'symlink', linkname: target },
    ]));
    expect(got.map((e) => e.name)).toEqual([long, 'link']);
    expect(got[1].linkname).toBe(target);
  });

  it('carries them in GNU long-name entries too', () => {
    const long = 'd/'.repeat(90) + 'f';
    const target = 't/'.repeat(90) + 'x';
    const got = entries(writeTar([
      { name: long, type: 'file', data: 'data' },
      { name: 'link', type: 'symlink', linkname: target },
    ], { longNames: 'gnu' }));
    expect(got.map((e) => e.name)).toEqual([long, 'link']);
    expect(got[0].data.toString()).toBe('data');
    expect(got[1].linkname).toBe(target);
  });

  it('reads numbers too big for octal (GNU base-256) and xattrs from pax', () => {
    const got = entries(writeTar([
      { name: 'f', type: 'file', uid: 100_000_000, gid: 3_000_000, data: '', xattrs: { 'user.note': 'hi' } },
    ]));
    expect(got[0]).toMatchObject({ uid: 100_000_000, gid: 3_000_000 });
    expect(got[0].xattrs.get('user.note')?.toString()).toBe('hi');
  });

  it('refuses a header with a bad checksum', () => {
    const tar = writeTar([{ name: 'f', type: 'file', data: 'abc' }]);
    tar[0] ^= 0x20; // 'f' -> 'F', checksum now wrong
    expect(() => entries(tar)).toThrow(TarError);
    expect(() => entries(tar)).toThrow(/bad checksum/);
  });

  it('refuses an archive cut short in the middle of a file', () => {
    const tar = writeTar([{ name: 'f', type: 'file', data: Buffer.alloc(2000, 1) }]);
    expect(() => entries(tar.subarray(0, 1024))).toThrow(/truncated/);
  });

  it('refuses garbage that is not a tar at all', () => {
    expect(() => entries(Buffer.alloc(1024, 0x41))).toThrow(TarError);
  });

  it('stops at the end-of-archive blocks', () => {
    const tar = Buffer.concat([writeTar([{ name: 'f', type: 'file', data: 'x' }]), Buffer.from('trailing junk')]);
    expect(entries(tar).map((e) => e.name)).toEqual(['f']);
  });
});

needs(!hasGnuTar && 'GNU tar is not installed (apt-get install tar)').describe('tar reader against archives GNU tar writes', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'box-tar-'));
    const src = path.join(dir, 'src');
    const deep = path.join(src, 'a-directory-with-a-long-name/'.repeat(4), 'and-a-file-whose-name-is-long-as-well.txt');
    fs.mkdirSync(path.dirname(deep), { recursive: true });
    fs.writeFileSync(deep, 'deep\n');
    fs.writeFileSync(path.join(src, 'plain'), 'plain\n', { mode: 0o640 });
    fs.chmodSync(path.join(src, 'plain'), 0o640);
    fs.symlinkSync('x'.repeat(150), path.join(src, 'dangling-long-link'));
    fs.linkSync(path.join(src, 'plain'), path.join(src, 'plain-hard'));
    fs.utimesSync(path.join(src, 'plain'), 1_234_567_890, 1_234_567_890);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each(['gnu', 'pax', 'ustar'])('reads --format=%s', (format) => {
    const file = path.join(dir, `${format}.tar`);
    // ustar cannot hold a 150-byte symlink target; leave that one out for it.
    const exclude = format === 'ustar' ? ['--exclude=./dangling-long-link'] : [];
    execFileSync('tar', ['-C', path.join(dir, 'src'), `--format=${format}`, '--sort=name', ...exclude, '-cf', file, '.']);
    const got = entries(fs.readFileSync(file));
    const byName = new Map(got.map((e) => [e.name.replace(/^\.\//, ''), e]));
    const deepName = 'a-directory-with-a-long-name/'.repeat(4) + 'and-a-file-whose-name-is-long-as-well.txt';
    expect(byName.get(deepName)?.data.toString()).toBe('deep\n');
    expect(byName.get('plain')).toMatchObject({ type: 'file', mode: 0o640, mtime: 1_234_567_890 });
    // GNU tar stores the first name as a file and each later name as a hard link to it.
    const hard = [byName.get('plain'), byName.get('plain-hard')].find((e) => e?.type === 'hardlink');
    expect(hard?.linkname).toMatch(/^(\.\/)?plain(-hard)?$/);
    if (format !== 'ustar') expect(byName.get('dangling-long-link')?.linkname).toBe('x'.repeat(150));
  });

  it('writes archives GNU tar lists the same way', () => {
    const long = 'n/'.repeat(60) + 'end';
    const file = path.join(dir, 'mine.tar');
    fs.writeFileSync(file, writeTar([
      { name: 'n', type: 'dir' },
      { name: long, type: 'file', data: 'abc', mode: 0o600 },
      { name: 'sym', type: 'symlink', linkname: 'n' },
    ]));
    const listing = execFileSync('tar', ['-tvf', file], { encoding: 'utf8' }).trim().split('\n');
    expect(listing).toHaveLength(3);
    expect(listing[1]).toMatch(new RegExp(`^-rw------- root/root +3 .* ${long}$`));
    expect(listing[2]).toMatch(/^lrwxrwxrwx .* sym -> n$/);
  });
});
