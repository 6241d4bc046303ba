// An OCI config's linux.resources beyond memory.limit, cpu.quota and pids.limit (cpu shares,
// cpuset, realtime; memory reservation, swap, swappiness, disableOOMKiller) on both drivers,
// without a kernel: a temporary directory laid out like the hierarchy, a fake Sys recording
// every write. test/integration/oci-runtime.test.ts runs the v1 driver on the real kernel.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectCgroups } from '../../runtime/src/cgroups/index.ts';
import { sharesToWeight } from '../../runtime/src/cgroups/units.ts';
import { fakeSys, type FakeSys } from '../support/fake-sys.ts';
import { put, temporaryTrees, writes } from '../support/cgroup-tree.ts';

const tree = temporaryTrees('boxtest-cgoci-');
const v2Line = (mp: string) => `29 23 0:26 / ${mp} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate`;
const v1Line = (id: number, mp: string, opts: string) => `${id} 25 0:${id} / ${mp} rw,nosuid,nodev,noexec,relatime shared:${id} - cgroup cgroup rw,${opts}`;

function v2Host() {
  const root = tree({
    'cgroup.controllers': 'cpuset cpu io memory pids',
    'cgroup.subtree_control': 'cpuset cpu memory pids',
    'user.slice/cgroup.controllers': 'cpuset cpu memory pids',
    'user.slice/cgroup.subtree_control': '',
  });
  const sys = fakeSys();
  const driver = detectCgroups(sys, { root, mountinfo: v2Line(root), procSelfCgroup: '0::/user.slice\n' });
  const cg = driver.create('web');
  const created = writes(sys, root);
  put(cg.paths[0]!, 'memory.swap.max', 'max\n');
  sys.trace.events.length = 0;
  return { root, sys, cg, created, d: 'user.slice/box/web' };
}

function v1Host(opts: { rt?: boolean } = {}) {
  const ctrls = ['cpu,cpuacct', 'memory', 'pids', 'cpuset'];
  const files: Record<string, string> = { 'cpuset/cpuset.cpus': '0-3\n', 'cpuset/cpuset.mems': '0\n' };
  for (const c of ctrls) files[`${c}/tasks`] = '';
  const root = tree(files);
  const mountinfo = ctrls.map((c, i) => v1Line(30 + i, path.join(root, c), c)).join('\n');
  const procSelfCgroup = ctrls.map((c, i) => `${i + 1}:${c}:/`).join('\n');
  const sys = fakeSys();
  const cg = detectCgroups(sys, { root, mountinfo, procSelfCgroup }).create('web');
  const mem = path.join(root, 'memory/box/web');
  put(mem, 'memory.limit_in_bytes', '9223372036854771712\n');
  put(mem, 'memory.memsw.limit_in_bytes', '9223372036854771712\n');
  if (opts.rt) put(path.join(root, 'cpu,cpuacct/box/web'), 'cpu.rt_runtime_us', '0\n');
  sys.trace.events.length = 0;
  return { root, sys, cg };
}

describe('shares to weight (runc and crun\'s map)', () => {
  it('maps the ends of the ranges and the v1 default', () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(512)).toBe(20);
  });
});

describe('cgroup v1: the OCI resources', () => {
  it('writes cpu.shares as given, the rt period before the runtime, cpuset cpus and mems', () => {
    const { root, sys, cg } = v1Host({ rt: true });
    cg.setLimits({ cpuShares: 512, cpuRealtime: { periodUs: 1_000_000, runtimeUs: 950_000 }, cpusetCpus: '0-1', cpusetMems: '0' });
    expect(writes(sys, root)).toEqual([
      ['cpu,cpuacct/box/web/cpu.shares', '512'],
      ['cpu,cpuacct/box/web/cpu.rt_period_us', '1000000'],
      ['cpu,cpuacct/box/web/cpu.rt_runtime_us', '950000'],
      ['cpuset/box/web/cpuset.cpus', '0-1'],
      ['cpuset/box/web/cpuset.mems', '0'],
    ]);
  });

  it('refuses realtime in one line where the kernel has no real-time group scheduling', () => {
    const { root, sys, cg } = v1Host();
    expect(() => cg.setLimits({ cpuRealtime: { runtimeUs: 950_000 } })).toThrow(/no real-time group scheduling \(CONFIG_RT_GROUP_SCHED\); remove realtimeRuntime/);
    expect(writes(sys, root)).toEqual([]);
  });

  it('writes memsw = swap, the soft limit, swappiness and oom_control', () => {
    const { root, sys, cg } = v1Host();
    cg.setLimits({ memoryBytes: 64 << 20, memorySwap: 128 << 20, memoryReservation: 32 << 20, swappiness: 10, disableOomKiller: true });
    expect(writes(sys, root)).toEqual([
      ['memory/box/web/memory.limit_in_bytes', String(64 << 20)],
      ['memory/box/web/memory.memsw.limit_in_bytes', String(128 << 20)],
      ['memory/box/web/memory.soft_limit_in_bytes', String(32 << 20)],
      ['memory/box/web/memory.swappiness', '10'],
      ['memory/box/web/memory.oom_control', '1'],
    ]);
  });

  it('swap -1 is unlimited; swap below the limit or without one is refused before any write', () => {
    const { root, sys, cg } = v1Host();
    expect(() => cg.setLimits({ memoryBytes: 64 << 20, memorySwap: 32 << 20 })).toThrow(`linux.resources.memory.swap: ${32 << 20} is out of range; use -1 (unlimited) or at least memory.limit (${64 << 20})`);
    expect(() => cg.setLimits({ memorySwap: 32 << 20 })).toThrow('linux.resources.memory.swap needs memory.limit too');
    expect(() => cg.setLimits({ cpuShares: 1 })).toThrow('linux.resources.cpu.shares: 1 is out of range; use 2 to 262144');
    expect(() => cg.setLimits({ swappiness: 101 })).toThrow('linux.resources.memory.swappiness: 101 is out of range; use 0 to 100');
    expect(writes(sys, root)).toEqual([]);
    cg.setLimits({ memoryBytes: 64 << 20, memorySwap: -1 });
    expect(writes(sys, root).map(([p, v]) => [path.basename(p), v])).toEqual([['memory.limit_in_bytes', String(64 << 20)], ['memory.memsw.limit_in_bytes', '-1']]);
  });
});

describe('cgroup v2: the OCI resources', () => {
  it('turns cpuset on below box, and writes cpu.weight from shares, cpuset.cpus and cpuset.mems', () => {
    const { root, sys, cg, created, d } = v2Host();
    expect(created).toContainEqual(['user.slice/box/cgroup.subtree_control', '+memory +cpu +pids +cpuset']);
    cg.setLimits({ cpuShares: 1024, cpusetCpus: '1', cpusetMems: '0' });
    expect(writes(sys, root)).toEqual([
      [`${d}/cpu.weight`, '39'],
      [`${d}/cpuset.cpus`, '1'],
      [`${d}/cpuset.mems`, '0'],
    ]);
  });

  it('memory.swap.max is swap minus the limit ("max" for -1), memory.low the reservation', () => {
    const { root, sys, cg, d } = v2Host();
    cg.setLimits({ memoryBytes: 64 << 20, memorySwap: 96 << 20, memoryReservation: 16 << 20 });
    expect(writes(sys, root)).toEqual([
      [`${d}/memory.max`, String(64 << 20)],
      [`${d}/memory.swap.max`, String(32 << 20)],
      [`${d}/memory.low`, String(16 << 20)],
    ]);
    sys.trace.events.length = 0;
    cg.setLimits({ memoryBytes: 64 << 20, memorySwap: -1 });
    expect(writes(sys, root)[1]).toEqual([`${d}/memory.swap.max`, 'max']);
  });

  it('refuses swappiness, disableOOMKiller and realtime in one line each, writing nothing', () => {
    const { root, sys, cg } = v2Host();
    expect(() => cg.setLimits({ memoryBytes: 1 << 26, swappiness: 60 })).toThrow('linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness; remove it from the config');
    expect(() => cg.setLimits({ disableOomKiller: true })).toThrow('linux.resources.memory.disableOOMKiller: cgroup v2 cannot turn the OOM killer off');
    expect(() => cg.setLimits({ cpuRealtime: { runtimeUs: 1000 } })).toThrow('linux.resources.cpu.realtimeRuntime: cgroup v2 has no real-time group scheduling');
    expect(writes(sys, root)).toEqual([]);
  });
});
