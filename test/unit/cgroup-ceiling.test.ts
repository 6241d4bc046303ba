// cpuCeiling: the least CPU any of a process's cgroup and its ancestors allows, which a cgroup
// made below it may not exceed on v1 (why `box cluster up` in a lab sandbox of --cpus 1 gives
// its nodes 1 CPU). A fake cgroup tree in a temporary directory, mounted there by mountinfo.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cpuCeiling } from '../../runtime/src/cgroups/ceiling.ts';
import { temporaryTrees } from '../support/cgroup-tree.ts';

const tree = temporaryTrees('boxtest-ceiling-');

describe('cpuCeiling', () => {
  it('v1: the smallest quota / period from our cgroup up to the mount, an unlimited level (-1) skipped', () => {
    const t = tree({
      'cpu.cfs_quota_us': '100000\n', 'cpu.cfs_period_us': '100000\n',
      'box/cpu.cfs_quota_us': '-1\n', 'box/cpu.cfs_period_us': '100000\n',
    });
    const mountinfo = `35 31 0:32 / ${t} rw,relatime - cgroup cgroup rw,cpu\n`;
    expect(cpuCeiling(mountinfo, '1:cpu:/box\n')).toBe(1);
    fs.writeFileSync(path.join(t, 'box/cpu.cfs_quota_us'), '50000\n');
    expect(cpuCeiling(mountinfo, '1:cpu:/box\n')).toBe(0.5);
  });

  it('v2: cpu.max, "max" meaning no limit; nothing limited anywhere is Infinity', () => {
    const t = tree({ 'cpu.max': 'max 100000\n', 'a/cpu.max': '250000 100000\n', 'a/b/cpu.max': 'max 100000\n' });
    const mountinfo = `30 25 0:26 / ${t} rw,nosuid - cgroup2 cgroup2 rw\n`;
    expect(cpuCeiling(mountinfo, '0::/a/b\n')).toBe(2.5);
    fs.writeFileSync(path.join(t, 'a/cpu.max'), 'max 100000\n');
    expect(cpuCeiling(mountinfo, '0::/a/b\n')).toBe(Infinity);
  });
});
