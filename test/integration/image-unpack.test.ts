// Unpacking a layer as root: owners and setuid bits kept (lchown), whiteouts made as 0/0
// character devices (mknod) and opaque directories marked with trusted.overlay.opaque, as
// overlayfs reads them. What needs no root is in test/unit/image-unpack.test.ts.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lgetxattr } from '../../runtime/src/image/native.ts';
import { writeTar, type TarWriteEntry } from '../../runtime/src/image/tar-write.ts';
import { OPAQUE_XATTR, unpackTar } from '../../runtime/src/image/unpack.ts';
import { rootReason } from './helpers.ts';
import { needs } from '../support/requires.ts';

let tmp: string;
let layer: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'box-unpack-root-'));
  layer = path.join(tmp, 'layer');
  fs.mkdirSync(layer);
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const unpack = (entries: TarWriteEntry[]) => unpackTar(writeTar(entries), layer, { label: 'layer sha256:test' });

needs(rootReason).describe('unpacking a layer as root', () => {
  it('keeps owners and setuid bits (as root)', () => {
    unpack([
      { name: 'home/user', type: 'dir', uid: 1000, gid: 1000, mode: 0o700 },
      { name: 'usr/bin/su', type: 'file', data: 'x', uid: 0, gid: 0, mode: 0o4755 },
      { name: 'home/user/link', type: 'symlink', linkname: '/nowhere', uid: 1000, gid: 1001 },
    ]);
    expect(fs.statSync(path.join(layer, 'home/user'))).toMatchObject({ uid: 1000, gid: 1000 });
    expect(fs.statSync(path.join(layer, 'usr/bin/su')).mode & 0o7777).toBe(0o4755);
    expect(fs.lstatSync(path.join(layer, 'home/user/link'))).toMatchObject({ uid: 1000, gid: 1001 });
  });
  it('turns .wh.NAME into an overlayfs whiteout: a 0/0 character device', () => {
    const stats = unpack([
      { name: 'etc', type: 'dir' },
      { name: 'etc/.wh.motd', type: 'file', data: '' },
      { name: 'var/lib/.wh.old', type: 'file', data: '' },
    ]);
    expect(stats.whiteouts).toBe(2);
    for (const p of ['etc/motd', 'var/lib/old']) {
      const st = fs.lstatSync(path.join(layer, p));
      expect(st.isCharacterDevice()).toBe(true);
      expect(st.rdev).toBe(0);
    }
    expect(fs.existsSync(path.join(layer, 'etc/.wh.motd'))).toBe(false);
  });
  it('turns .wh..wh..opq into the trusted.overlay.opaque xattr on its directory', () => {
    const stats = unpack([
      { name: 'app', type: 'dir' },
      { name: 'app/.wh..wh..opq', type: 'file', data: '' },
      { name: 'app/new', type: 'file', data: 'n' },
      { name: 'other/.wh..wh..opq', type: 'file', data: '' }, // the directory comes implicitly
      { name: 'app/.wh..wh.plnk', type: 'dir' }, // aufs bookkeeping: skipped
    ]);
    expect(stats.opaqueDirs).toBe(2);
    expect(lgetxattr(path.join(layer, 'app'), OPAQUE_XATTR)?.toString()).toBe('y');
    expect(lgetxattr(path.join(layer, 'other'), OPAQUE_XATTR)?.toString()).toBe('y');
    expect(fs.readdirSync(path.join(layer, 'app'))).toEqual(['new']);
  });
});
