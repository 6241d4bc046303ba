// box diff's classification and box commit's translation, on made-up upper directories:
// the pure part (A/C/D from a list of upper entries and a view of the image). The parts that
// read real directories need whiteouts (mknod) and trusted.* xattrs, as root:
// test/integration/image-changes.test.ts.

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
