// The kernel panel's cgroup counters (src/server/panel-stats.ts), read from temporary
// directories laid out like a sandbox's cgroup on v1 (a directory per hierarchy) and on v2
// (one directory), with containers' cgroups made inside, as box in the sandbox makes them.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CgroupSampler, cgroupProcesses, childCgroups, cpuMaxV2, parseOomNote, readCgroup } from '../../src/server/panel-stats.ts';
import type { CgroupLayout } from '../../src/server/panel-stats.ts';

let root = '';
beforeEach(() => { root = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-panel-stats-')); });
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

function files(dir: string, contents: Record<string, string>): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(contents)) fs.writeFileSync(path.join(dir, name), text);
}

/** A v1 sandbox: memory, cpu, cpuacct and pids hierarchies, each with box-<sandbox>. */
function v1Layout(): CgroupLayout {
  const dirs = {
    memory: path.join(root, 'memory/box/box-sandbox'),
    cpu: path.join(root, 'cpu/box/box-sandbox'),
    cpuacct: path.join(root, 'cpuacct/box/box-sandbox'),
    pids: path.join(root, 'pids/box/box-sandbox'),
  };
  files(dirs.memory, {
    'memory.usage_in_bytes': '45387776\n',
    'memory.limit_in_bytes': '536870912\n',
    'memory.max_usage_in_bytes': '88051712\n',
    'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n',
    'cgroup.procs': '101\n102\n',
  });
  files(dirs.cpu, { 'cpu.cfs_quota_us': '100000\n', 'cpu.cfs_period_us': '100000\n', 'cpu.stat': 'nr_periods 25\nnr_throttled 0\nthrottled_time 0\n', 'cgroup.procs': '101\n102\n' });
  files(dirs.cpuacct, { 'cpuacct.usage': '2000000000\n', 'cgroup.procs': '101\n102\n' });
  files(dirs.pids, { 'pids.current': '15\n', 'pids.max': '512\n', 'cgroup.procs': '101\n102\n' });
  return { version: 1, dirs };
}

/** A container box made inside the v1 sandbox: 32m, 0.5 CPU, the unlimited values v1 uses. */
function v1Container(layout: CgroupLayout, id: string, usageNs: number): void {
  files(path.join(layout.dirs.memory!, 'box', id), {
    'memory.usage_in_bytes': '33030144\n',
    'memory.limit_in_bytes': '33554432\n',
    'memory.max_usage_in_bytes': '33550336\n',
    'memory.oom_control': 'oom_kill_disable 0\nunder_oom 1\noom_kill 1\n',
    'cgroup.procs': '',
  });
  files(path.join(layout.dirs.cpu!, 'box', id), { 'cpu.cfs_quota_us': '50000\n', 'cpu.cfs_period_us': '100000\n', 'cpu.stat': 'nr_periods 40\nnr_throttled 37\nthrottled_time 1850000000\n', 'cgroup.procs': '' });
  files(path.join(layout.dirs.cpuacct!, 'box', id), { 'cpuacct.usage': `${usageNs}\n`, 'cgroup.procs': '' });
  files(path.join(layout.dirs.pids!, 'box', id), { 'pids.current': '1\n', 'pids.max': 'max\n', 'cgroup.procs': '' });
}

function v2Layout(): CgroupLayout {
  const dir = path.join(root, 'unified/box/box-sandbox');
  files(dir, {
    'memory.current': '52428800\n',
    'memory.max': '536870912\n',
    'memory.peak': '60000000\n',
    'memory.events': 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n',
    'cpu.stat': 'usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnr_periods 10\nnr_throttled 2\nthrottled_usec 30000\n',
    'cpu.max': '100000 100000\n',
    'pids.current': '7\n',
    'pids.max': '512\n',
    'cgroup.procs': '201\n',
  });
  return { version: 2, dirs: { memory: dir, cpu: dir, cpuacct: dir, pids: dir } };
}

describe('readCgroup', () => {
  it('reads a v1 sandbox from its four hierarchies, in bytes, µs and CPUs', () => {
    const layout = v1Layout();
    expect(readCgroup(layout, '')).toEqual({
      memory: 45387776, memoryMax: 536870912, memoryPeak: 88051712, oomKills: 0,
      cpuUsec: 2_000_000, cpuMax: 1, nrPeriods: 25, nrThrottled: 0, pids: 15, pidsMax: 512,
    });
  });

  it('reads v1 "no limit" as null: a memory limit near 2^63, a quota of -1, pids.max "max"', () => {
    const layout = v1Layout();
    fs.writeFileSync(path.join(layout.dirs.memory!, 'memory.limit_in_bytes'), '9223372036854771712\n');
    fs.writeFileSync(path.join(layout.dirs.cpu!, 'cpu.cfs_quota_us'), '-1\n');
    fs.writeFileSync(path.join(layout.dirs.pids!, 'pids.max'), 'max\n');
    expect(readCgroup(layout, '')).toMatchObject({ memoryMax: null, cpuMax: null, pidsMax: null });
  });

  it('reads a v2 cgroup: memory.current, memory.max, cpu.stat, cpu.max, memory.events', () => {
    expect(readCgroup(v2Layout(), '')).toEqual({
      memory: 52428800, memoryMax: 536870912, memoryPeak: 60000000, oomKills: 1,
      cpuUsec: 1_500_000, cpuMax: 1, nrPeriods: 10, nrThrottled: 2, pids: 7, pidsMax: 512,
    });
  });

  it('reads v2 "max" as no limit', () => {
    const layout = v2Layout();
    fs.writeFileSync(path.join(layout.dirs.memory!, 'memory.max'), 'max\n');
    fs.writeFileSync(path.join(layout.dirs.cpu!, 'cpu.max'), 'max 100000\n');
    expect(readCgroup(layout, '')).toMatchObject({ memoryMax: null, cpuMax: null });
    expect(cpuMaxV2(path.join(layout.dirs.cpu!, 'cpu.max'))).toBeNull();
    fs.writeFileSync(path.join(layout.dirs.cpu!, 'cpu.max'), '50000 100000\n');
    expect(cpuMaxV2(path.join(layout.dirs.cpu!, 'cpu.max'))).toBe(0.5);
  });

  it('gives nulls, not an error, for a cgroup that is gone or a controller that is missing', () => {
    const layout = v1Layout();
    expect(readCgroup(layout, 'box/box-gone')).toEqual({
      memory: null, memoryMax: null, memoryPeak: null, oomKills: null, cpuUsec: null,
      cpuMax: null, nrPeriods: null, nrThrottled: null, pids: null, pidsMax: null,
    });
    const noPids: CgroupLayout = { version: 1, dirs: { ...layout.dirs, pids: undefined } };
    expect(readCgroup(noPids, '')).toMatchObject({ memory: 45387776, pids: null });
  });
});

describe('childCgroups and cgroupProcesses', async () => {
  it("lists the containers' cgroups below the sandbox, leaves only, in any hierarchy", async () => {
    const layout = v1Layout();
    v1Container(layout, 'box-aaaaaaaaaaaa', 1e9);
    // A cgroup the reader made by hand in the cpu hierarchy only (the CPU lesson does this).
    fs.mkdirSync(path.join(layout.dirs.cpu!, 'demo'));
    expect(await childCgroups(layout)).toEqual({ found: ['box/box-aaaaaaaaaaaa', 'demo'], capped: false });
    expect(await childCgroups(v2Layout())).toEqual({ found: [], capped: false });
  });

  it("collects the processes of the sandbox's whole subtree from one hierarchy", async () => {
    const layout = v1Layout();
    v1Container(layout, 'box-aaaaaaaaaaaa', 1e9);
    fs.writeFileSync(path.join(layout.dirs.pids!, 'box', 'box-aaaaaaaaaaaa', 'cgroup.procs'), '300\n301\n');
    expect((await cgroupProcesses(layout)).found.sort()).toEqual([101, 102, 300, 301]);
    expect((await cgroupProcesses(layout, 3)).found).toHaveLength(3);
  });
});

describe('CgroupSampler', async () => {
  it('samples the sandbox and each container, with CPU use as a rate between samples', async () => {
    const layout = v1Layout();
    v1Container(layout, 'box-aaaaaaaaaaaa', 1_000_000_000);
    let now = 1000;
    const sampler = new CgroupSampler(layout, () => now);
    const first = (await sampler.sample());
    expect(first.map((g) => g.id)).toEqual(['', 'box/box-aaaaaaaaaaaa']);
    expect(first[1]).toMatchObject({ mem: 33030144, memMax: 33554432, memPeak: 33550336, oom: 1, cpu: null, cpuMax: 0.5, throttled: 37, pids: 1, pidsMax: null });

    // 250 ms later the container has used 125 ms of CPU: half a CPU, its quota.
    now += 250;
    fs.writeFileSync(path.join(layout.dirs.cpuacct!, 'box', 'box-aaaaaaaaaaaa', 'cpuacct.usage'), String(1_000_000_000 + 125_000_000));
    const second = (await sampler.sample());
    expect(second[1]!.cpu).toBeCloseTo(0.5, 5);
    expect(second[0]!.cpu).toBe(0); // the sandbox's own counter did not move in this fake
  });

  it('drops a container whose cgroup went away, and starts its rate afresh if it comes back', async () => {
    const layout = v2Layout();
    const child = path.join(layout.dirs.memory!, 'box', 'box-bbbbbbbbbbbb');
    files(child, { 'memory.current': '1000\n', 'memory.max': '33554432\n', 'cpu.stat': 'usage_usec 10\n', 'pids.current': '1\n', 'cgroup.procs': '' });
    let now = 0;
    const sampler = new CgroupSampler(layout, () => now);
    expect((await sampler.sample()).map((g) => g.id)).toEqual(['', 'box/box-bbbbbbbbbbbb']);
    fs.rmSync(child, { recursive: true });
    now += 250;
    expect((await sampler.sample()).map((g) => g.id)).toEqual(['']);
    files(child, { 'memory.current': '1000\n', 'cpu.stat': 'usage_usec 99999\n', 'cgroup.procs': '' });
    now += 250;
    expect((await sampler.sample()).find((g) => g.id !== '')).toMatchObject({ cpu: null, memMax: null });
  });

  it('reports a container that vanished after an OOM note once more, with the kills, then drops it', async () => {
    const layout = v2Layout();
    const child = path.join(layout.dirs.memory!, 'box', 'box-dddddddddddd');
    files(child, { 'memory.current': '33000000\n', 'memory.max': '33554432\n', 'memory.events': 'oom_kill 0\n', 'cgroup.procs': '' });
    let now = 0;
    const sampler = new CgroupSampler(layout, () => now);
    expect((await sampler.sample()).find((g) => g.id === 'box/box-dddddddddddd')).toMatchObject({ oom: 0 });
    // The OOM killer struck between two samples; box noted it in its trace and removed the cgroup.
    sampler.noteOomKills('box/box-dddddddddddd', 1);
    fs.rmSync(child, { recursive: true });
    now += 250;
    expect((await sampler.sample()).find((g) => g.id === 'box/box-dddddddddddd')).toMatchObject({ oom: 1, mem: 33000000, memMax: 33554432, cpu: null });
    now += 250;
    expect((await sampler.sample()).map((g) => g.id)).toEqual(['']);
    // A note for a cgroup never sampled (or without a kill) shows nothing.
    sampler.noteOomKills('box/box-eeeeeeeeeeee', 1);
    now += 250;
    expect((await sampler.sample()).map((g) => g.id)).toEqual(['']);
  });

  it('reads the OOM note box writes in its trace, in the sandbox\'s view, v1 and v2, and nothing else', () => {
    expect(parseOomNote('oom_kill 1 in /sys/fs/cgroup/memory/box/box-5d58dc480169')).toEqual(['box/box-5d58dc480169', 1]);
    expect(parseOomNote('oom_kill 3 in /sys/fs/cgroup/box/box-5d58dc480169')).toEqual(['box/box-5d58dc480169', 3]);
    expect(parseOomNote('oom_kill 1 in /sys/fs/cgroup/memory/oomed')).toEqual(['oomed', 1]);
    for (const bad of ['oom_kill 1 in /etc/passwd', 'oom_kill x in /sys/fs/cgroup/box/a', 'oom_kill 1 in /sys/fs/cgroup/../../etc', 'rmdir /sys/fs/cgroup/box/a', 'oom_kill 1 in /sys/fs/cgroup/box/a\nmore']) {
      expect(parseOomNote(bad), bad).toBeNull();
    }
  });

  it("labels a container with its first process's command line", async () => {
    const layout = v2Layout();
    const child = path.join(layout.dirs.memory!, 'box', 'box-cccccccccccc');
    files(child, { 'memory.current': '1\n', 'cgroup.procs': `${process.pid}\n` });
    const [, g] = await new CgroupSampler(layout).sample();
    expect(g!.cmd).toContain(path.basename(process.execPath));
    expect(g!.cmd.length).toBeLessThanOrEqual(80);
  });
});
