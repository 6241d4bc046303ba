// How much CPU this process's cgroup may have at most: the smallest quota / period of its
// cgroup and every ancestor up to the mount's root. A cgroup made below it must ask for no
// more on v1: the kernel refuses (EINVAL) a cpu.cfs_quota_us above what an ancestor allows
// (kernel/sched/core.c, tg_cfs_schedulable_down), e.g. a cluster node of 2 CPUs inside a lab
// sandbox of --cpus 1. (v2 takes a larger cpu.max and simply never gives it.)

import fs from 'node:fs';
import path from 'node:path';
import { dirOf, parseMountinfo, parseProcCgroup } from './mounts.ts';

const read = (file: string) => { try { return fs.readFileSync(file, 'utf8').trim(); } catch { return ''; } };

/** CPUs a cgroup dir allows itself (v1 cfs_quota_us / cfs_period_us, v2 cpu.max), or Infinity. */
export function ownCpuLimit(dir: string, version: 1 | 2): number {
  const [quota, period] = version === 1
    ? [read(path.join(dir, 'cpu.cfs_quota_us')), read(path.join(dir, 'cpu.cfs_period_us'))]
    : read(path.join(dir, 'cpu.max')).split(' ');
  const q = Number(quota);
  const p = Number(period);
  return q > 0 && p > 0 ? q / p : Infinity;
}

/** The CPU ceiling of this process's cgroup (Infinity when nothing above it limits CPU). */
export function cpuCeiling(mountinfo = read('/proc/self/mountinfo'), procCgroup = read('/proc/self/cgroup')): number {
  const mine = parseProcCgroup(procCgroup);
  const mount = parseMountinfo(mountinfo).find((m) => (m.version === 1 ? m.controllers.includes('cpu') && mine.has('cpu') : mine.has('')));
  if (!mount) return Infinity;
  const dir = dirOf(mount, mount.version === 1 ? mine.get('cpu')! : mine.get('')!);
  let least = Infinity;
  for (let d = dir; d && d.startsWith(mount.mountpoint); d = d === mount.mountpoint ? null : path.dirname(d)) {
    least = Math.min(least, ownCpuLimit(d, mount.version));
  }
  return least;
}
