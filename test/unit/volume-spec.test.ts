// -v, --mount, --tmpfs and --volumes-from as a user types them, and the mount ops they become,
// without root. The same mounts are made for real in test/integration/volume.test.ts.

import { describe, expect, it } from 'vitest';
import { runConfigFrom } from '../../runtime/src/container/run-flags.ts';
import { containerPlan, processSpec } from '../../runtime/src/container/build-plan.ts';
import type { RootfsSpec } from '../../runtime/src/rootfs/rootfs.ts';
import {
  checkDuplicates, parseMountFlag, parseTmpfsFlag, parseVolumeFlag, parseVolumesFrom, requestsFrom,
} from '../../runtime/src/volume/spec.ts';
import { userError } from './user-error.ts';

describe('-v', () => {
  it('tells a host path, a named volume and an anonymous volume apart', () => {
    expect(parseVolumeFlag('/srv/www:/usr/share/www:ro')).toEqual({ type: 'bind', source: '/srv/www', target: '/usr/share/www', readOnly: true });
    expect(parseVolumeFlag('data:/var/lib/db')).toEqual({ type: 'volume', source: 'data', target: '/var/lib/db', readOnly: false, noCopy: false });
    expect(parseVolumeFlag('data:/d:ro,nocopy')).toEqual({ type: 'volume', source: 'data', target: '/d', readOnly: true, noCopy: true });
    expect(parseVolumeFlag('/cache/')).toEqual({ type: 'volume', source: '', target: '/cache', readOnly: false, noCopy: false });
  });

  it('refuses bad input in one line that names the problem', () => {
    expect(userError(() => parseVolumeFlag('data:rel'))).toMatch(/container path 'rel' is relative; give an absolute path/);
    expect(userError(() => parseVolumeFlag('rel'))).toMatch(/relative/);
    expect(userError(() => parseVolumeFlag('bad!name:/d'))).toMatch(/'bad!name' is not a valid volume name/);
    expect(userError(() => parseVolumeFlag('x:/d'))).toMatch(/not a valid volume name/); // Docker's rule: 2 or more
    expect(userError(() => parseVolumeFlag('./here:/d'))).toMatch(/must be absolute/);
    expect(userError(() => parseVolumeFlag('data:/d:rx'))).toMatch(/unknown option 'rx'/);
    expect(userError(() => parseVolumeFlag('data:/'))).toMatch(/cannot replace the container's root/);
    expect(userError(() => parseVolumeFlag('a:b:c:d'))).toMatch(/HOST:CONTAINER/);
  });
});

describe('--mount', () => {
  it("reads Docker's keys and their aliases", () => {
    expect(parseMountFlag('type=bind,source=/h,target=/c,readonly')).toEqual({ type: 'bind', source: '/h', target: '/c', readOnly: true });
    expect(parseMountFlag('src=data,dst=/d,ro=true')).toEqual({ type: 'volume', source: 'data', target: '/d', readOnly: true, noCopy: false });
    expect(parseMountFlag('type=volume,destination=/d,volume-nocopy')).toEqual({ type: 'volume', source: '', target: '/d', readOnly: false, noCopy: true });
    expect(parseMountFlag('type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=700'))
      .toEqual({ type: 'tmpfs', target: '/t', readOnly: false, sizeBytes: 1024 * 1024, mode: 0o700 });
  });

  it('names the bad key or value', () => {
    expect(userError(() => parseMountFlag('type=volume,src=x1,dst=/d,colour=red'))).toMatch(/unknown key 'colour'/);
    expect(userError(() => parseMountFlag('type=bind,src=/h,dst=/d,tmpfs-size=1m'))).toMatch(/unknown key 'tmpfs-size' for type=bind/);
    expect(userError(() => parseMountFlag('type=nfs,dst=/d'))).toMatch(/type 'nfs'/);
    expect(userError(() => parseMountFlag('type=bind,src=/h'))).toMatch(/target is missing/);
    expect(userError(() => parseMountFlag('type=bind,target=/d'))).toMatch(/source is missing/);
    expect(userError(() => parseMountFlag('type=bind,src=h,dst=/d'))).toMatch(/absolute host path/);
    expect(userError(() => parseMountFlag('type=tmpfs,src=x,dst=/d'))).toMatch(/a tmpfs has no source/);
    expect(userError(() => parseMountFlag('src=data,dst=/d,readonly=maybe'))).toMatch(/readonly=maybe: use true or false/);
    expect(userError(() => parseMountFlag('type=tmpfs,dst=/d,tmpfs-mode=rwx'))).toMatch(/octal/);
  });
});

describe('--tmpfs and --volumes-from', () => {
  it('reads size and mode', () => {
    expect(parseTmpfsFlag('/run:size=64m,mode=755')).toEqual({ type: 'tmpfs', target: '/run', readOnly: false, sizeBytes: 64 * 1024 * 1024, mode: 0o755 });
    expect(parseTmpfsFlag('/run')).toEqual({ type: 'tmpfs', target: '/run', readOnly: false, sizeBytes: undefined, mode: undefined });
    expect(userError(() => parseTmpfsFlag('/run:size=lots'))).toMatch(/not a size/);
    expect(userError(() => parseTmpfsFlag('/run:uid=5'))).toMatch(/unknown option 'uid'/);
  });

  it("takes another container's binds and volumes, not its tmpfs, with :ro applied to all", () => {
    const records = [
      { Type: 'volume' as const, Name: 'data', Source: '/v/data/_data', Destination: '/d', Driver: 'local', Mode: '', RW: true, Propagation: '' },
      { Type: 'bind' as const, Source: '/h', Destination: '/h', Mode: '', RW: false, Propagation: 'rprivate' },
      { Type: 'tmpfs' as const, Source: '', Destination: '/t', Mode: 'mode=1777', RW: true, Propagation: '' },
    ];
    expect(requestsFrom(records, '')).toEqual([
      { type: 'volume', source: 'data', target: '/d', readOnly: false, noCopy: true },
      { type: 'bind', source: '/h', target: '/h', readOnly: true },
    ]);
    expect(requestsFrom(records, 'ro').every((r) => r.readOnly)).toBe(true);
    expect(parseVolumesFrom('web:ro')).toEqual({ container: 'web', mode: 'ro' });
    expect(userError(() => parseVolumesFrom('web:rx'))).toMatch(/CONTAINER:ro/);
    expect(userError(() => checkDuplicates([{ target: '/d' }, { target: '/d' }]))).toMatch(/two mounts at \/d/);
  });

  it('box run puts host binds in volumes and the rest in mounts', () => {
    const cfg = runConfigFrom(['-v', '/h:/c', '-v', 'data:/d', '--mount', 'type=bind,src=/x,dst=/y', '--tmpfs', '/t', '--volumes-from', 'web', 'busybox']);
    expect(cfg.volumes).toEqual([{ host: '/h', container: '/c', readOnly: false }, { host: '/x', container: '/y', readOnly: false }]);
    expect(cfg.mounts!.map((m) => m.type)).toEqual(['volume', 'tmpfs']);
    expect(cfg.volumesFrom).toEqual(['web']);
  });
});

describe('mount targets in the plan', () => {
  const rootfs = (): RootfsSpec => ({
    rootfs: '/r/rootfs', lowerDirs: ['/l/1'], upperDir: '/r/upper', workDir: '/r/work', readOnly: false, chroot: false, maskPaths: true, devices: [],
    volumes: [{ host: '/', container: '/data', readOnly: true }], tmpfs: [{ path: '/t', options: 'size=1024', flags: 0 }],
  });

  it('are resolved by box-init under the root (RESOLVE_IN_ROOT), and a read-only bind is remounted there too', () => {
    const cfg = runConfigFrom(['busybox', 'true']);
    const plan = containerPlan(cfg, rootfs(), processSpec(cfg, { Cmd: ['true'] }));
    const ins = plan.ops.filter((o) => o.args[0] === 'mountin');
    expect(ins.map((o) => [o.args[1], o.args[2], o.args[3]])).toEqual([
      ['/', '/r/rootfs', '/data'], ['', '/r/rootfs', '/data'], ['tmpfs', '/r/rootfs', '/t'],
    ]);
    expect(plan.ops.filter((o) => o.args[0] === 'mkdirin').map((o) => o.args.slice(1))).toEqual([
      ['/r/rootfs', '/data', 'dir'], ['/r/rootfs', '/t', 'dir'],
    ]);
    // No path-based mount of a volume: nothing mounted under /r/rootfs/data by path.
    expect(plan.ops.some((o) => o.args[0] === 'mount' && o.args[2].startsWith('/r/rootfs/data'))).toBe(false);
  });

  it('with --userns, volumes are bound before the user namespace exists (so they are locked)', () => {
    const cfg = runConfigFrom(['--userns', 'busybox', 'true']);
    const plan = containerPlan(cfg, rootfs(), processSpec(cfg, { Cmd: ['true'] }));
    const ops = plan.ops.map((o) => o.args[0] + (o.args[0] === 'unshare' ? o.text : ''));
    expect(ops.indexOf('mountin')).toBeLessThan(ops.indexOf('unshareCLONE_NEWUSER'));
  });
});
