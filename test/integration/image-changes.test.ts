// box diff and box commit on real upper directories: whiteouts (mknod) and opaque
// directories (a trusted.* xattr) as overlayfs leaves them, which needs root. The pure
// classification is in test/unit/image-changes.test.ts.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { classifyChanges, comparePaths, containerChanges, mergedLayers, type LowerView, type UpperEntry } from '../../runtime/src/image/changes.ts';
import { applyChange, commitConfig, upperLayerEntries, upperToLayer } from '../../runtime/src/image/commit.ts';
import { lsetxattr, mknodWhiteout } from '../../runtime/src/image/native.ts';
import { readTar } from '../../runtime/src/image/tar-read.ts';
import { UserError } from '../../runtime/src/sys/errors.ts';

import { rootReason } from './helpers.ts';
import { needs } from '../support/requires.ts';

needs(rootReason).describe('real upper directories', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'box-upper-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A directory tree: 'x/' is a directory, 'x' a file, 'x -> t' a symlink, '!x' a whiteout, 'x/*' an opaque directory. */
  function tree(base: string, spec: string[]): string {
    fs.mkdirSync(base, { recursive: true });
    for (const item of spec) {
      const [name, target] = item.split(' -> ');
      const full = path.join(base, name.replace(/^!/, '').replace(/\/\*$/, '').replace(/\/$/, ''));
      fs.mkdirSync(path.dirname(full), { recursive: true });
      if (target) fs.symlinkSync(target, full);
      else if (name.startsWith('!')) mknodWhiteout(full);
      else if (name.endsWith('/*')) {
        fs.mkdirSync(full, { recursive: true });
        lsetxattr(full, 'trusted.overlay.opaque', Buffer.from('y'));
      } else if (name.endsWith('/')) fs.mkdirSync(full, { recursive: true });
      else fs.writeFileSync(full, `${name}\n`);
    }
    return base;
  }

  it('translates whiteouts and opaque directories into OCI whiteouts, markers before siblings', () => {
    const upper = tree(path.join(dir, 'upper'), ['etc/', '!etc/group', 'etc/motd', 'etc/-first', 'var/*', 'var/new', 'bin -> usr/bin', '!home']);
    const names = upperLayerEntries(upper).map((e) => `${e.type} ${e.name}${e.linkname ? ` -> ${e.linkname}` : ''}`);
    expect(names).toEqual([
      'file .wh.home',
      'symlink bin -> usr/bin',
      'dir etc',
      'file etc/.wh.group',
      'file etc/-first',
      'file etc/motd',
      'dir var',
      'file var/.wh..wh..opq',
      'file var/new',
    ]);
  });

  it('reads user.overlay.opaque too (overlayfs mounted with userxattr, in a user namespace), and carries user.* xattrs but not overlayfs\'s', () => {
    const upper = tree(path.join(dir, 'upper'), ['srv/', 'srv/f']);
    lsetxattr(path.join(upper, 'srv'), 'user.overlay.opaque', Buffer.from('y'));
    lsetxattr(path.join(upper, 'srv/f'), 'user.overlay.origin', Buffer.from('x'));
    lsetxattr(path.join(upper, 'srv/f'), 'user.note', Buffer.from('kept'));
    const entries = upperLayerEntries(upper);
    expect(entries.map((e) => e.name)).toEqual(['srv', 'srv/.wh..wh..opq', 'srv/f']);
    expect(entries[2].xattrs).toEqual({ 'user.note': Buffer.from('kept') });
  });

  it('refuses an upper directory overlayfs wrote with redirect_dir on, saying how to turn it off', () => {
    const upper = tree(path.join(dir, 'upper'), ['moved/']);
    lsetxattr(path.join(upper, 'moved'), 'trusted.overlay.redirect', Buffer.from('/orig'));
    expect(() => containerChanges(upper, [])).toThrow(/\/moved in the container's upper directory has trusted\.overlay\.redirect: overlayfs ran with redirect_dir=on/);
  });

  it('makes the same bytes from the same directory, and hard links stay links', () => {
    const upper = tree(path.join(dir, 'upper'), ['usr/bin/', 'usr/bin/tool']);
    fs.linkSync(path.join(upper, 'usr/bin/tool'), path.join(upper, 'usr/bin/tool2'));
    const a = upperToLayer(upper);
    expect(upperToLayer(upper)).toEqual(a);
    const entries = [...readTar(a)];
    expect(entries.find((e) => e.name === 'usr/bin/tool2')).toMatchObject({ type: 'hardlink', linkname: 'usr/bin/tool' });
  });

  it('shifts the owners of a user-namespaced container back to the ids inside', () => {
    const upper = tree(path.join(dir, 'upper'), ['root/', 'root/f', 'home/ann/', 'home/ann/x']);
    fs.lchownSync(path.join(upper, 'root'), 100000, 100000);
    fs.lchownSync(path.join(upper, 'root/f'), 100000, 100000);
    fs.lchownSync(path.join(upper, 'home/ann/x'), 101000, 101000);
    fs.lchownSync(path.join(upper, 'home'), 0, 0); // a host id outside the range: nobody inside
    const owners = Object.fromEntries(upperLayerEntries(upper, { idShift: 100000 }).map((e) => [e.name, `${e.uid}:${e.gid}`]));
    expect(owners).toMatchObject({ root: '0:0', 'root/f': '0:0', 'home/ann/x': '1000:1000', home: '65534:65534' });
  });

  it('leaves out device nodes and FIFOs, saying so', () => {
    const upper = tree(path.join(dir, 'upper'), ['tmp/']);
    fs.mkdirSync(path.join(upper, 'dev'));
    execFileSync('mknod', [path.join(upper, 'dev/null'), 'c', '1', '3']);
    execFileSync('mkfifo', [path.join(upper, 'tmp/pipe')]);
    const warnings: string[] = [];
    const names = upperLayerEntries(upper, { warn: (m) => warnings.push(m) }).map((e) => e.name);
    expect(names).toEqual(['dev', 'tmp']);
    expect(warnings).toEqual([
      'left out /dev/null: it is a device node, and image layers carry none (a container\'s /dev comes from the runtime)',
      'left out /tmp/pipe: it is a FIFO, and image layers carry none (a container\'s /dev comes from the runtime)',
    ]);
  });

  it('refuses a symlink that climbs above the root, naming it and the fix', () => {
    const upper = tree(path.join(dir, 'upper'), ['a/b -> ../../../etc']);
    expect(() => upperLayerEntries(upper)).toThrow(/cannot commit: \/a\/b is a symlink to '\.\.\/\.\.\/\.\.\/etc', which climbs above the root.*ln -sfn/);
  });

  it('reads a container the way overlayfs shows it: through opaque directories and whiteouts in lower layers', () => {
    const l1 = tree(path.join(dir, 'l1'), ['etc/', 'etc/a', 'etc/b', 'opt/x', 'gone/file']);
    const l2 = tree(path.join(dir, 'l2'), ['etc/*', 'etc/c', '!gone']);
    const view = mergedLayers([l1, l2]);
    expect(['/etc', '/etc/a', '/etc/c', '/opt/x', '/gone', '/gone/file', '/nothing'].map((p) => [p, view.has(p)])).toEqual([
      ['/etc', true], ['/etc/a', false], ['/etc/c', true], ['/opt/x', true], ['/gone', false], ['/gone/file', false], ['/nothing', false],
    ]);
    expect(view.children('/etc')).toEqual(['c']);
    const upper = tree(path.join(dir, 'upper'), ['etc/', 'etc/a', '!etc/c', 'opt/*', 'opt/y']);
    expect(containerChanges(upper, [l1, l2]).map((c) => `${c.kind} ${c.path}`)).toEqual([
      'C /etc', 'A /etc/a', 'D /etc/c', 'C /opt', 'D /opt/x', 'A /opt/y',
    ]);
  });
});
