// The cgroup drivers without a kernel: a temporary directory laid out like a v1 or a v2
// hierarchy stands in for /sys/fs/cgroup, a fake mountinfo says what is "mounted" there, and
// the fake Sys records every file write. The tests assert the exact files and values each
// driver writes. test/integration/cgroups.test.ts runs the same drivers on the real kernel.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectCgroups } from '../../runtime/src/cgroups/index.ts';
import { killEach } from '../../runtime/src/cgroups/kill.ts';
import { parseMountinfo, parseProcCgroup } from '../../runtime/src/cgroups/mounts.ts';
import { UserError } from '../../runtime/src/sys/errors.ts';
import { fakeSys, type FakeSys } from '../support/fake-sys.ts';
import { dirOps, put, temporaryTrees, writes } from '../support/cgroup-tree.ts';

const tree = temporaryTrees('boxtest-cg-');
function clearTrace(sys: FakeSys): void {
  sys.trace.events.length = 0;
}

const v2Line = (mp: string) => `29 23 0:26 / ${mp} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`;
const v1Line = (id: number, mp: string, opts: string) => `${id} 25 0:${id} / ${mp} rw,nosuid,nodev,noexec,relatime shared:${id} - cgroup cgroup rw,${opts}`;
const tmpfsLine = (mp: string) => `25 23 0:24 / ${mp} ro,nosuid,nodev,noexec shared:3 - tmpfs tmpfs ro,mode=755`;

/** A v2-only host: /sys/fs/cgroup is cgroup2, we run in user.slice/session-1.scope. */
function unifiedHost(opts: { scopeSubtree?: string; swap?: boolean; offered?: string } = {}) {
  const root = tree({
    'cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc',
    'cgroup.subtree_control': 'cpuset cpu io memory pids',
    'user.slice/cgroup.controllers': 'cpu memory pids',
    'user.slice/cgroup.subtree_control': 'cpu memory pids',
    'user.slice/session-1.scope/cgroup.controllers': opts.offered ?? 'cpu memory pids',
    'user.slice/session-1.scope/cgroup.subtree_control': opts.scopeSubtree ?? '',
  });
  const sys = fakeSys();
  const driver = detectCgroups(sys, {
    root,
    mountinfo: [v2Line(root), ''].join('\n'),
    procSelfCgroup: '0::/user.slice/session-1.scope\n',
  });
  return { root, sys, driver };
}

/** A v1 host with cpu and cpuacct co-mounted, as systemd mounts them, plus an empty v2 (hybrid). */
function hybridHost(opts: { memsw?: boolean; without?: string } = {}) {
  const ctrls = ['cpu,cpuacct', 'memory', 'pids', 'cpuset', 'freezer', 'devices', 'blkio'].filter((c) => c !== opts.without);
  const files: Record<string, string> = {
    'unified/cgroup.controllers': '',
    'cpuset/cpuset.cpus': '0-3\n',
    'cpuset/cpuset.mems': '0\n',
    'cpuset/user.slice/cpuset.cpus': '\n',
    'cpuset/user.slice/cpuset.mems': '\n',
  };
  for (const c of ctrls) files[`${c}/user.slice/tasks`] = '';
  const root = tree(files);
  const mountinfo = [
    tmpfsLine(root),
    ...ctrls.map((c, i) => v1Line(30 + i, path.join(root, c), c)),
    v2Line(path.join(root, 'unified')),
    v1Line(40, path.join(root, 'systemd'), 'xattr,name=systemd'),
  ].join('\n');
  const procSelfCgroup = [
    '0::/user.slice/session-1.scope',
    ...ctrls.map((c, i) => `${i + 1}:${c}:/user.slice`),
    '12:name=systemd:/user.slice/session-1.scope',
  ].join('\n');
  const sys = fakeSys();
  const driver = detectCgroups(sys, { root, mountinfo, procSelfCgroup });
  return { root, sys, driver, mountinfo, procSelfCgroup };
}

describe('reading mountinfo and /proc/self/cgroup', () => {
  it('finds v1 controllers in the super options, ignores flags and named hierarchies', () => {
    const mounts = parseMountinfo([
      v1Line(32, '/sys/fs/cgroup/cpu,cpuacct', 'cpu,cpuacct'),
      v1Line(33, '/sys/fs/cgroup/cpuset', 'cpuset,clone_children'),
      v1Line(40, '/sys/fs/cgroup/systemd', 'xattr,name=systemd'),
      v2Line('/sys/fs/cgroup/unified'),
      tmpfsLine('/sys/fs/cgroup'),
    ].join('\n'));
    expect(mounts).toEqual([
      { version: 1, mountpoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/', controllers: ['cpu', 'cpuacct'] },
      { version: 1, mountpoint: '/sys/fs/cgroup/cpuset', root: '/', controllers: ['cpuset'] },
      { version: 2, mountpoint: '/sys/fs/cgroup/unified', root: '/', controllers: [] },
    ]);
  });

  it('unescapes octal escapes in mount points', () => {
    const [m] = parseMountinfo('41 31 0:38 / /tmp/my\\040cgroups rw - cgroup2 cgroup2 rw');
    expect(m!.mountpoint).toBe('/tmp/my cgroups');
  });

  it('maps each controller, and "" for v2, to our cgroup path', () => {
    const mine = parseProcCgroup('4:memory:/a/b\n1:cpu,cpuacct:/c\n9:name=systemd:/d\n0::/e\n');
    expect(Object.fromEntries(mine)).toEqual({ memory: '/a/b', cpu: '/c', cpuacct: '/c', 'name=systemd': '/d', '': '/e' });
  });
});

describe('detection', () => {
  it('a unified-only host with controllers is v2', () => {
    const { driver } = unifiedHost();
    expect(driver.version).toBe(2);
    expect(driver.available()).toEqual(['memory', 'cpu', 'pids']);
    expect(driver.describe()).toMatch(/^cgroup v2 at .* \(memory, cpu, pids\)$/);
  });

  it('a hybrid host (v1 controllers + an empty v2 at unified) is v1', () => {
    const { driver } = hybridHost();
    expect(driver.version).toBe(1);
    expect(driver.describe()).toBe('cgroup v1 (memory, cpu, cpuacct, pids, freezer, cpuset, blkio, devices)');
  });

  it("this lab host's real layout (separately mounted cpu and cpuacct, memory in a sub-cgroup) is v1", () => {
    const names = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids'];
    const root = tree({ 'unified/cgroup.controllers': '', 'memory/process_api/abc/tasks': '', ...Object.fromEntries(names.map((c) => [`${c}/tasks`, ''])) });
    const mountinfo = [tmpfsLine(root), ...names.map((c, i) => v1Line(32 + i, `${root}/${c}`, c)), v1Line(40, `${root}/systemd`, 'name=systemd'), v2Line(`${root}/unified`)].join('\n');
    const procSelfCgroup = '9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n4:memory:/process_api/abc\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n';
    const sys = fakeSys();
    const driver = detectCgroups(sys, { root, mountinfo, procSelfCgroup });
    expect(driver.version).toBe(1);
    const cg = driver.create('web');
    expect(cg.paths.map((p) => path.relative(root, p))).toEqual([
      'cpu/box/web', 'cpuacct/box/web', 'cpuset/box/web', 'memory/process_api/abc/box/web',
      'devices/box/web', 'freezer/box/web', 'blkio/box/web', 'pids/box/web',
    ]);
  });

  it('directories named like controllers are not enough: only mounts count', () => {
    const root = tree({ 'memory/memory.limit_in_bytes': '9223372036854771712', 'cpu/cpu.shares': '1024', 'cgroup.controllers': 'memory' });
    expect(() => detectCgroups(fakeSys(), { root, mountinfo: tmpfsLine(root), procSelfCgroup: '0::/\n' })).toThrow(
      `no cgroup filesystem is mounted under ${root}; mount one with 'mount -t cgroup2 none ${root}'`,
    );
  });

  it('mounts elsewhere than the cgroup root are not used', () => {
    const root = tree({ 'cgroup.controllers': 'memory cpu pids' });
    expect(() => detectCgroups(fakeSys(), { root, mountinfo: v2Line('/mnt/elsewhere/deep'), procSelfCgroup: '0::/\n' })).toThrow(UserError);
  });

  it('v2 wins when it holds more of the needed controllers than v1 does', () => {
    const root = tree({ 'unified/cgroup.controllers': 'memory cpu pids' });
    const mountinfo = [v1Line(32, `${root}/net_cls`, 'net_cls'), v1Line(33, `${root}/freezer`, 'freezer'), v2Line(`${root}/unified`)].join('\n');
    const driver = detectCgroups(fakeSys(), { root, mountinfo, procSelfCgroup: '2:net_cls:/\n1:freezer:/\n0::/\n' });
    expect(driver.version).toBe(2);
  });

  it('reports missing v2 controllers by name', () => {
    const { driver } = unifiedHost({ offered: 'memory' });
    expect(driver.available()).toEqual(['memory']);
    expect(driver.describe()).toMatch(/\(memory; missing: cpu, pids\)$/);
  });

  it('reports missing v1 controllers by name', () => {
    const { driver } = hybridHost({ without: 'pids' });
    expect(driver.describe()).toBe('cgroup v1 (memory, cpu, cpuacct, freezer, cpuset, blkio, devices; missing: pids)');
  });

  it('can be told to use v2 on a hybrid host, and says it has no controllers there', () => {
    const { root, mountinfo, procSelfCgroup } = hybridHost();
    const driver = detectCgroups(fakeSys(), { root, mountinfo, procSelfCgroup, version: 2 });
    expect(driver.version).toBe(2);
    expect(driver.describe()).toBe(`cgroup v2 at ${root}/unified (no controllers; missing: memory, cpu, pids)`);
  });

  it('inside a cgroup namespace (our cgroup reads "/") box cgroups go under the namespace root', () => {
    const root = tree({ 'cgroup.controllers': 'memory cpu pids', 'cgroup.subtree_control': '' });
    const sys = fakeSys();
    const driver = detectCgroups(sys, { root, mountinfo: v2Line(root), procSelfCgroup: '0::/\n' });
    expect(driver.create('c1').paths).toEqual([`${root}/box/c1`]);
  });

  it('a mount of a subtree (a container without a cgroup namespace) maps our path through its root', () => {
    const root = tree({ 'cgroup.controllers': 'memory cpu pids', 'cgroup.subtree_control': '' });
    const mountinfo = `29 23 0:26 /docker/abc ${root} rw - cgroup2 cgroup2 rw`;
    const driver = detectCgroups(fakeSys(), { root, mountinfo, procSelfCgroup: '0::/docker/abc\n' });
    expect(driver.create('c1').paths).toEqual([`${root}/box/c1`]);
  });

  it('BOX_CGROUP_PARENT puts box cgroups elsewhere (e.g. under the root, exempt from "no internal processes")', () => {
    const { root } = unifiedHost();
    const sys = fakeSys();
    const driver = detectCgroups(sys, { root, mountinfo: v2Line(root), procSelfCgroup: '0::/user.slice/session-1.scope\n', parent: '/box' });
    expect(driver.create('c1').paths).toEqual([`${root}/box/c1`]);
    // io, cpuset and hugetlb too, where the host offers them: a lab sandbox hands io on for the
    // disk lesson, an OCI config may pin CPUs and limit huge pages.
    expect(writes(sys, root)).toEqual([['cgroup.subtree_control', '+hugetlb'], ['box/cgroup.subtree_control', '+memory +cpu +pids +io +cpuset +hugetlb']]);
    expect(() => detectCgroups(sys, { root, mountinfo: v2Line(root), procSelfCgroup: '0::/\n', parent: 'relative' })).toThrow(
      "BOX_CGROUP_PARENT: 'relative' is not an absolute cgroup path; use e.g. /box",
    );
  });
});

describe('cgroup v2 driver', () => {
  it('create enables memory, cpu and pids from our cgroup down to box, then makes the cgroup', () => {
    const { root, sys, driver } = unifiedHost();
    const cg = driver.create('web');
    expect(cg.version).toBe(2);
    expect(cg.paths).toEqual([`${root}/user.slice/session-1.scope/box/web`]);
    expect(writes(sys, root)).toEqual([
      ['user.slice/session-1.scope/cgroup.subtree_control', '+memory +cpu +pids'],
      ['user.slice/session-1.scope/box/cgroup.subtree_control', '+memory +cpu +pids'],
    ]);
    expect(dirOps(sys, root)).toEqual(['mkdir user.slice/session-1.scope/box', 'mkdir user.slice/session-1.scope/box/web']);
    expect(fs.statSync(cg.paths[0]!).isDirectory()).toBe(true);
  });

  it('enables only what is not already on', () => {
    const { root, sys, driver } = unifiedHost({ scopeSubtree: 'memory pids' });
    driver.create('web');
    expect(writes(sys, root)[0]).toEqual(['user.slice/session-1.scope/cgroup.subtree_control', '+cpu']);
  });

  it('explains the "no internal processes" rule when the kernel answers EBUSY', () => {
    const { root, sys, driver } = unifiedHost();
    sys.fail(`write:${root}/user.slice/session-1.scope/cgroup.subtree_control`, 16);
    expect(() => driver.create('web')).toThrow(UserError);
    sys.fail(`write:${root}/user.slice/session-1.scope/cgroup.subtree_control`, 16);
    expect(() => driver.create('web2')).toThrow(/cannot enable memory, cpu, pids below .*session-1\.scope: it holds processes itself.*"no internal processes".*BOX_CGROUP_PARENT=\/box/);
    expect(fs.existsSync(`${root}/user.slice/session-1.scope/box/web`)).toBe(false);
  });

  it('refuses a name that exists, and names that are not one path component', () => {
    const { driver } = unifiedHost();
    driver.create('web');
    expect(() => driver.create('web')).toThrow(/cgroup .*\/box\/web already exists: a container named 'web' is running/);
    for (const bad of ['', '..', 'a/b', '.hidden', 'x'.repeat(200)]) expect(() => driver.create(bad)).toThrow(/is not a valid cgroup name/);
  });

  it('setLimits writes memory.max, memory.swap.max 0, cpu.max "quota period", cpu.weight and pids.max', () => {
    const { root, sys, driver } = unifiedHost();
    const cg = driver.create('web');
    put(cg.paths[0]!, 'memory.swap.max', 'max\n');
    clearTrace(sys);
    cg.setLimits({ memoryBytes: 64 * 1024 * 1024, cpuQuotaUs: 50_000, cpuPeriodUs: 100_000, cpuWeight: 200, pidsMax: 20 });
    const d = 'user.slice/session-1.scope/box/web';
    expect(writes(sys, root)).toEqual([
      [`${d}/memory.max`, '67108864'],
      [`${d}/memory.swap.max`, '0'],
      [`${d}/cpu.max`, '50000 100000'],
      [`${d}/cpu.weight`, '200'],
      [`${d}/pids.max`, '20'],
    ]);
    expect(sys.trace.text()).toContain(`${d}/memory.max <- "67108864"`);
  });

  it('writes no memory.swap.max where the kernel has no swap accounting, and defaults the period', () => {
    const { root, sys, driver } = unifiedHost();
    const cg = driver.create('web');
    clearTrace(sys);
    cg.setLimits({ memoryBytes: 32 * 1024 * 1024, cpuQuotaUs: 20_000 });
    expect(writes(sys, root).map(([p, v]) => [path.basename(p), v])).toEqual([['memory.max', '33554432'], ['cpu.max', '20000 100000']]);
  });

  it('a limit whose controller is missing is a UserError naming it and the fix, and nothing is written', () => {
    const { root, sys, driver } = unifiedHost({ offered: 'memory cpu' });
    const cg = driver.create('web');
    clearTrace(sys);
    expect(() => cg.setLimits({ memoryBytes: 1 << 26, pidsMax: 10 })).toThrow(
      `--pids-limit needs the cgroup v2 'pids' controller, which ${root}/user.slice/session-1.scope does not have; ` +
        `enable it in its parent: echo +pids > ${root}/user.slice/cgroup.subtree_control`,
    );
    expect(writes(sys, root)).toEqual([]);
  });

  it('bad limit values are refused before anything is written', () => {
    const { root, sys, driver } = unifiedHost();
    const cg = driver.create('web');
    clearTrace(sys);
    expect(() => cg.setLimits({ cpuWeight: 0 })).toThrow('--cpu-weight: 0 is out of range; use 1 to 10000 (default 100)');
    expect(() => cg.setLimits({ pidsMax: -1 })).toThrow('--pids-limit: -1 is out of range');
    expect(() => cg.setLimits({ memoryBytes: 1.5 })).toThrow('--memory: 1.5 is out of range');
    expect(() => cg.setLimits({ cpuQuotaUs: 10 })).toThrow('--cpus: 0.0001 is out of range; use 0.01 or more');
    expect(writes(sys, root)).toEqual([]);
  });

  it('addProcess writes the pid to cgroup.procs; procsFiles says where', () => {
    const { root, sys, driver } = unifiedHost();
    const cg = driver.create('web');
    clearTrace(sys);
    cg.addProcess(4242);
    expect(writes(sys, root)).toEqual([['user.slice/session-1.scope/box/web/cgroup.procs', '4242']]);
    expect(cg.procsFiles()).toEqual([`${root}/user.slice/session-1.scope/box/web/cgroup.procs`]);
  });

  it('stats reads memory.current/max/peak/events, cpu.stat and pids; "max" is no limit', () => {
    const { driver } = unifiedHost();
    const cg = driver.create('web');
    const d = cg.paths[0]!;
    put(d, 'memory.current', '1048576\n');
    put(d, 'memory.max', '33554432\n');
    put(d, 'memory.peak', '33550000\n');
    put(d, 'memory.events', 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n');
    put(d, 'cpu.stat', 'usage_usec 5000\nuser_usec 4000\nsystem_usec 1000\nnr_periods 30\nnr_throttled 29\nthrottled_usec 2300000\nnr_bursts 0\nburst_usec 0\n');
    put(d, 'pids.current', '3\n');
    put(d, 'pids.max', 'max\n');
    expect(cg.stats()).toEqual({
      memoryCurrent: 1048576, memoryMax: 33554432, memoryPeak: 33550000, oomKills: 1,
      cpuUsageUsec: 5000, nrPeriods: 30, nrThrottled: 29, throttledUsec: 2300000,
      pidsCurrent: 3, pidsMax: null,
    });
  });

  it('stats is null for what the cgroup does not have', () => {
    const { driver } = unifiedHost();
    const cg = driver.create('web');
    put(cg.paths[0]!, 'cpu.stat', 'usage_usec 7\nuser_usec 4\nsystem_usec 3\n');
    const s = cg.stats();
    expect(s.cpuUsageUsec).toBe(7);
    expect([s.memoryCurrent, s.oomKills, s.nrThrottled, s.pidsCurrent]).toEqual([null, null, null, null]);
  });

  it('killAll writes 1 to cgroup.kill where the kernel has it', () => {
    const { root, sys, driver } = unifiedHost();
    const cg = driver.create('web');
    put(cg.paths[0]!, 'cgroup.kill', '');
    put(cg.paths[0]!, 'cgroup.procs', '');
    clearTrace(sys);
    cg.killAll();
    expect(writes(sys, root)).toEqual([['user.slice/session-1.scope/box/web/cgroup.kill', '1']]);
  });

  it('freeze and thaw write cgroup.freeze and wait for cgroup.events to say frozen', () => {
    const { root, sys, driver } = unifiedHost();
    const cg = driver.create('web');
    put(cg.paths[0]!, 'cgroup.events', 'populated 1\nfrozen 1\n');
    clearTrace(sys);
    cg.freeze!();
    cg.thaw!();
    expect(writes(sys, root).map(([p, v]) => [path.basename(p), v])).toEqual([['cgroup.freeze', '1'], ['cgroup.freeze', '0']]);
  });

  it('open, list and destroy: destroy removes the cgroup and the empty box directory, twice is fine', () => {
    const { root, sys, driver } = unifiedHost();
    driver.create('a');
    const b = driver.create('b');
    expect(driver.list()).toEqual(['a', 'b']);
    expect(driver.open('a')?.paths).toEqual([`${root}/user.slice/session-1.scope/box/a`]);
    expect(driver.open('nope')).toBeNull();
    clearTrace(sys);
    b.destroy();
    b.destroy();
    expect(driver.list()).toEqual(['a']);
    driver.open('a')!.destroy();
    expect(dirOps(sys, root)).toEqual([
      'rmdir user.slice/session-1.scope/box/b',
      'rmdir user.slice/session-1.scope/box/a',
      'rmdir user.slice/session-1.scope/box',
    ]);
    expect(fs.existsSync(`${root}/user.slice/session-1.scope/box`)).toBe(false);
  });
});

describe('cgroups a container made inside its own', () => {
  it('v2: pids() includes them and destroy removes them deepest first', () => {
    const { root, sys, driver } = unifiedHost();
    const cg = driver.create('web');
    put(cg.paths[0]!, 'cgroup.procs', '10\n');
    put(cg.paths[0]!, 'inner/box/job/cgroup.procs', '30\n31\n');
    put(cg.paths[0]!, 'inner/cgroup.procs', '20\n');
    expect(cg.pids()).toEqual([10, 20, 30, 31]);
    for (const f of ['cgroup.procs', 'inner/cgroup.procs', 'inner/box/job/cgroup.procs']) fs.rmSync(path.join(cg.paths[0]!, f));
    clearTrace(sys);
    cg.destroy();
    expect(dirOps(sys, root)).toEqual([
      'rmdir user.slice/session-1.scope/box/web/inner/box/job',
      'rmdir user.slice/session-1.scope/box/web/inner/box',
      'rmdir user.slice/session-1.scope/box/web/inner',
      'rmdir user.slice/session-1.scope/box/web',
      'rmdir user.slice/session-1.scope/box',
    ]);
  });

  it('v1: the same in every hierarchy', () => {
    const { root, sys, driver } = hybridHost();
    const cg = driver.create('web');
    const mem = path.join(root, 'memory/user.slice/box/web');
    fs.mkdirSync(path.join(mem, 'inner'));
    put(mem, 'inner/cgroup.procs', '5\n');
    expect(cg.pids()).toEqual([5]);
    fs.rmSync(path.join(mem, 'inner/cgroup.procs'));
    clearTrace(sys);
    cg.destroy();
    expect(dirOps(sys, root).slice(0, 3)).toEqual(['rmdir cpu,cpuacct/user.slice/box/web', 'rmdir memory/user.slice/box/web/inner', 'rmdir memory/user.slice/box/web']);
    expect(fs.existsSync(mem)).toBe(false);
  });
});

describe('cgroup v1 driver', () => {
  it('create makes one directory per hierarchy and copies cpuset.cpus/mems down from the nearest parent', () => {
    const { root, sys, driver } = hybridHost();
    const cg = driver.create('web');
    expect(cg.version).toBe(1);
    expect(cg.paths.map((p) => path.relative(root, p))).toEqual([
      'cpu,cpuacct/user.slice/box/web', 'memory/user.slice/box/web', 'pids/user.slice/box/web', 'cpuset/user.slice/box/web',
      'freezer/user.slice/box/web', 'devices/user.slice/box/web', 'blkio/user.slice/box/web',
    ]);
    expect(writes(sys, root)).toEqual([
      ['cpuset/user.slice/box/cpuset.cpus', '0-3'],
      ['cpuset/user.slice/box/cpuset.mems', '0'],
      ['cpuset/user.slice/box/web/cpuset.cpus', '0-3'],
      ['cpuset/user.slice/box/web/cpuset.mems', '0'],
    ]);
  });

  it('setLimits writes limit_in_bytes then memsw (no swap), the CFS period then quota, shares and pids.max', () => {
    const { root, sys, driver } = hybridHost();
    const cg = driver.create('web');
    const mem = path.join(root, 'memory/user.slice/box/web');
    put(mem, 'memory.limit_in_bytes', '9223372036854771712\n');
    put(mem, 'memory.memsw.limit_in_bytes', '9223372036854771712\n');
    clearTrace(sys);
    cg.setLimits({ memoryBytes: 64 * 1024 * 1024, cpuQuotaUs: 50_000, cpuWeight: 200, pidsMax: 20 });
    expect(writes(sys, root)).toEqual([
      ['memory/user.slice/box/web/memory.limit_in_bytes', '67108864'],
      ['memory/user.slice/box/web/memory.memsw.limit_in_bytes', '67108864'],
      ['cpu,cpuacct/user.slice/box/web/cpu.cfs_period_us', '100000'],
      ['cpu,cpuacct/user.slice/box/web/cpu.cfs_quota_us', '50000'],
      ['cpu,cpuacct/user.slice/box/web/cpu.shares', '2048'],
      ['pids/user.slice/box/web/pids.max', '20'],
    ]);
  });

  it('raising a memory limit writes memsw first (the kernel keeps memsw >= limit at every step)', () => {
    const { root, sys, driver } = hybridHost();
    const cg = driver.create('web');
    const mem = path.join(root, 'memory/user.slice/box/web');
    put(mem, 'memory.limit_in_bytes', '33554432\n');
    put(mem, 'memory.memsw.limit_in_bytes', '33554432\n');
    clearTrace(sys);
    cg.setLimits({ memoryBytes: 64 * 1024 * 1024 });
    expect(writes(sys, root).map(([p, v]) => [path.basename(p), v])).toEqual([
      ['memory.memsw.limit_in_bytes', '67108864'],
      ['memory.limit_in_bytes', '67108864'],
    ]);
  });

  it('without swap accounting only memory.limit_in_bytes is written', () => {
    const { root, sys, driver } = hybridHost();
    const cg = driver.create('web');
    clearTrace(sys);
    cg.setLimits({ memoryBytes: 1 << 25 });
    expect(writes(sys, root)).toEqual([['memory/user.slice/box/web/memory.limit_in_bytes', '33554432']]);
  });

  it('a limit whose hierarchy is not mounted is a UserError naming the controller and how to mount it', () => {
    const { root, sys, driver } = hybridHost({ without: 'pids' });
    const cg = driver.create('web');
    clearTrace(sys);
    expect(() => cg.setLimits({ memoryBytes: 1 << 25, pidsMax: 10 })).toThrow(
      "--pids-limit needs the cgroup v1 'pids' controller, which is not mounted; mount it with " +
        "'mkdir -p /sys/fs/cgroup/pids && mount -t cgroup -o pids cgroup /sys/fs/cgroup/pids'",
    );
    expect(writes(sys, root)).toEqual([]);
  });

  it('addProcess writes the pid into cgroup.procs of every hierarchy', () => {
    const { root, sys, driver } = hybridHost();
    const cg = driver.create('web');
    clearTrace(sys);
    cg.addProcess(77);
    expect(writes(sys, root)).toEqual(cg.paths.map((p) => [path.relative(root, path.join(p, 'cgroup.procs')), '77']));
    expect(cg.procsFiles()).toEqual(cg.paths.map((p) => path.join(p, 'cgroup.procs')));
  });

  it('stats: usage, limit (huge means none), peak, oom_kill, cpuacct ns -> µs, throttled_time ns -> µs, pids', () => {
    const { root, driver } = hybridHost();
    const cg = driver.create('web');
    const at = (c: string) => path.join(root, c, 'user.slice/box/web');
    put(at('memory'), 'memory.usage_in_bytes', '2097152\n');
    put(at('memory'), 'memory.limit_in_bytes', '9223372036854771712\n');
    put(at('memory'), 'memory.max_usage_in_bytes', '4194304\n');
    put(at('memory'), 'memory.oom_control', 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    put(at('cpu,cpuacct'), 'cpuacct.usage', '1500000\n');
    put(at('cpu,cpuacct'), 'cpu.stat', 'nr_periods 10\nnr_throttled 8\nthrottled_time 700000000\n');
    put(at('pids'), 'pids.current', '4\n');
    put(at('pids'), 'pids.max', '10\n');
    expect(cg.stats()).toEqual({
      memoryCurrent: 2097152, memoryMax: null, memoryPeak: 4194304, oomKills: 2,
      cpuUsageUsec: 1500, nrPeriods: 10, nrThrottled: 8, throttledUsec: 700000,
      pidsCurrent: 4, pidsMax: 10,
    });
  });

  it('create undoes what it made when one hierarchy already has the name', () => {
    const { root, sys, driver } = hybridHost();
    fs.mkdirSync(path.join(root, 'pids/user.slice/box/web'), { recursive: true });
    expect(() => driver.create('web')).toThrow(/pids\/user\.slice\/box\/web already exists/);
    expect(fs.existsSync(path.join(root, 'memory/user.slice/box/web'))).toBe(false);
    expect(dirOps(sys, root)).toContain('rmdir memory/user.slice/box/web');
  });

  it('freeze and thaw write freezer.state', () => {
    const { root, sys, driver } = hybridHost();
    const cg = driver.create('web');
    put(path.join(root, 'freezer/user.slice/box/web'), 'freezer.state', 'FROZEN\n');
    clearTrace(sys);
    cg.freeze!();
    cg.thaw!();
    expect(writes(sys, root)).toEqual([
      ['freezer/user.slice/box/web/freezer.state', 'FROZEN'],
      ['freezer/user.slice/box/web/freezer.state', 'THAWED'],
    ]);
  });

  it('list, open and destroy across hierarchies; destroy is idempotent and removes the empty box dirs', () => {
    const { root, driver } = hybridHost();
    const cg = driver.create('web');
    expect(driver.list()).toEqual(['web']);
    expect(driver.open('web')!.paths).toEqual(cg.paths);
    cg.destroy();
    cg.destroy();
    expect(driver.list()).toEqual([]);
    expect(driver.open('web')).toBeNull();
    for (const c of ['memory', 'pids', 'cpu,cpuacct']) expect(fs.existsSync(path.join(root, c, 'user.slice/box'))).toBe(false);
  });
});

describe('killing without cgroup.kill', () => {
  it('freezes, SIGKILLs every pid, thaws, and stops when the cgroup is empty', () => {
    const sys = fakeSys();
    const steps: string[] = [];
    let inside = [101, 102];
    killEach(
      sys,
      () => inside,
      () => steps.push('freeze'),
      () => {
        steps.push('thaw');
        inside = []; // the SIGKILLs land once the tasks run again
      },
    );
    expect(steps).toEqual(['freeze', 'thaw']);
    expect(sys.trace.text()).toBe('kill(101, 9) = 0\nkill(102, 9) = 0');
  });
});
