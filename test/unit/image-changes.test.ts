// box diff's classification and box commit's translation, on made-up upper directories.
// The pure part (A/C/D from a list of upper entries and a view of the image) runs anywhere;
// the parts that read real directories need whiteouts (mknod) and trusted.* xattrs: root.

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

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('skipping the upper-directory tests: whiteouts need mknod and opaque directories a trusted.* xattr (root)');

/** An image that has exactly these paths (directories end with '/'). */
function fakeLower(paths: string[]): LowerView {
  const set = new Set(paths.map((p) => p.replace(/\/$/, '')));
  return {
    has: (p) => set.has(p),
    children: (dir) => [...set].filter((p) => path.posix.dirname(p) === dir).map((p) => path.posix.basename(p)).sort(),
  };
}

const lower = fakeLower(['/bin/', '/bin/sh', '/bin/ls', '/etc/', '/etc/passwd', '/etc/group', '/etc/hosts', '/home/', '/home/old']);

describe('classifyChanges (box diff)', () => {
  it('a new file is A, a copied-up file is C, a whiteout is D, and parents that existed are C', () => {
    const upper: UpperEntry[] = [
      { path: '/etc', kind: 'dir' },
      { path: '/etc/group', kind: 'whiteout' },
      { path: '/etc/motd', kind: 'file' },
      { path: '/etc/passwd', kind: 'file' },
      { path: '/new', kind: 'dir' },
      { path: '/new/dir', kind: 'dir' },
      { path: '/new/dir/f', kind: 'file' },
      { path: '/home', kind: 'whiteout' },
    ];
    expect(classifyChanges(upper, lower).map((c) => `${c.kind} ${c.path}`)).toEqual([
      'C /etc', 'D /etc/group', 'A /etc/motd', 'C /etc/passwd', 'D /home', 'A /new', 'A /new/dir', 'A /new/dir/f',
    ]);
  });

  it('an opaque directory (deleted and made again) lists what the image had there and the new one lacks as D', () => {
    const upper: UpperEntry[] = [
      { path: '/etc', kind: 'dir', opaque: true },
      { path: '/etc/hosts', kind: 'file' },
      { path: '/etc/only', kind: 'file' },
    ];
    expect(classifyChanges(upper, lower).map((c) => `${c.kind} ${c.path}`)).toEqual([
      'C /etc', 'D /etc/group', 'C /etc/hosts', 'A /etc/only', 'D /etc/passwd',
    ]);
  });

  it('an opaque directory the image never had is simply new', () => {
    const out = classifyChanges([{ path: '/srv', kind: 'dir', opaque: true }, { path: '/srv/x', kind: 'file' }], lower);
    expect(out).toEqual([{ kind: 'A', path: '/srv' }, { kind: 'A', path: '/srv/x' }]);
  });

  it('ignores a whiteout that hides nothing', () => {
    expect(classifyChanges([{ path: '/ghost', kind: 'whiteout' }], lower)).toEqual([]);
  });

  it('a file replaced by a symlink, or a directory by a file, is a change of the path', () => {
    const out = classifyChanges([{ path: '/bin', kind: 'dir' }, { path: '/bin/sh', kind: 'symlink' }, { path: '/home', kind: 'file' }], lower);
    expect(out.map((c) => `${c.kind} ${c.path}`)).toEqual(['C /bin', 'C /bin/sh', 'C /home']);
  });
});

describe('comparePaths', () => {
  it('orders as a directory walk: a directory and its contents before a sibling whose name sorts between', () => {
    const paths = ['/etc/x', '/etc-old', '/etc', '/a/b/c', '/a', '/a/b', '/etc.d', '/b'];
    expect(paths.sort(comparePaths)).toEqual(['/a', '/a/b', '/a/b/c', '/b', '/etc', '/etc/x', '/etc-old', '/etc.d']);
  });
});

describe('commitConfig', () => {
  const base = { Env: ['PATH=/bin:/usr/bin', 'LANG=C'], Cmd: ['sh'], Labels: { a: 'b' } };

  it("takes the container's command, environment, working directory and user, as docker commit does", () => {
    const config = commitConfig(base, {
      command: ['sh', '-c', 'echo hi'],
      env: ['PATH=/bin:/usr/bin', 'LANG=C', 'HOSTNAME=brave_knuth', 'HOME=/root', 'TERM=xterm', 'GREETING=hello'],
      workdir: '/srv',
      user: '1000',
    });
    expect(config).toEqual({
      Env: ['PATH=/bin:/usr/bin', 'LANG=C', 'GREETING=hello'], // what box adds to every container is left out
      Cmd: ['sh', '-c', 'echo hi'],
      Labels: { a: 'b' },
      WorkingDir: '/srv',
      User: '1000',
    });
  });

  it("keeps the image's Cmd when the container ran it, and a HOME the image set", () => {
    const config = commitConfig({ ...base, Env: [...base.Env, 'HOME=/home/app'] }, { command: [], env: ['HOME=/root'], workdir: '/' });
    expect(config.Cmd).toEqual(['sh']);
    expect(config.Env).toContain('HOME=/root');
    expect(config.WorkingDir).toBeUndefined(); // "/" is the default, not a choice
  });
});

describe('applyChange (box commit -c)', () => {
  it('applies CMD, ENTRYPOINT, ENV, LABEL, WORKDIR, USER and EXPOSE', () => {
    let c = applyChange({}, 'CMD ["cat", "/etc/motd"]');
    c = applyChange(c, 'entrypoint /bin/echo');
    c = applyChange(c, 'ENV A=1 B="two words"');
    c = applyChange(c, 'ENV OLD style value');
    c = applyChange(c, 'LABEL maintainer=ada');
    c = applyChange(c, 'WORKDIR /srv');
    c = applyChange(c, 'USER 1000:1000');
    c = applyChange(c, 'EXPOSE 80 53/udp');
    expect(c).toEqual({
      Cmd: ['cat', '/etc/motd'],
      Entrypoint: ['/bin/sh', '-c', '/bin/echo'],
      Env: ['A=1', 'B=two words', 'OLD=style value'],
      Labels: { maintainer: 'ada' },
      WorkingDir: '/srv',
      User: '1000:1000',
      ExposedPorts: { '80/tcp': {}, '53/udp': {} },
    });
  });

  it('refuses what it cannot apply, naming the instruction and the fix', () => {
    const message = (change: string) => {
      try {
        applyChange({}, change);
      } catch (err) {
        expect(err).toBeInstanceOf(UserError);
        return (err as Error).message;
      }
      throw new Error('no error');
    };
    expect(message('RUN apt-get update')).toBe("-c 'RUN apt-get update': RUN cannot be applied by commit; use CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL or EXPOSE");
    expect(message('CMD ["sh"')).toMatch(/exec form is a JSON array/);
    expect(message('WORKDIR srv')).toMatch(/absolute path/);
    expect(message('EXPOSE http')).toMatch(/'http' is not a port/);
    expect(message('CMD')).toMatch(/give an instruction and its arguments/);
  });
});

describe.skipIf(!isRoot)('real upper directories', () => {
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
