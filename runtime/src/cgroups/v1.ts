// The cgroup v1 driver: each controller (or group of co-mounted controllers) is its own
// hierarchy with its own tree of directories, so one container's cgroup is one directory
// per hierarchy, e.g. /sys/fs/cgroup/memory/box/web and /sys/fs/cgroup/pids/box/web.

import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import type { Sys } from '../sys/sys.ts';
import { blkioWritesV1 } from './blkio.ts';
import { hugetlbWrites } from './hugetlb.ts';
import {
  applyWrites, asUserError, checkName, type CgroupWrite, exists, isCode, listDirs, makeDir, noteOomKills, readKeyed, readNumber, readText,
  removeDir, removeEmptyLevels, subtree, subtreePids, waitFor, writeCgroupFile,
} from './files.ts';
import { killEach, waitEmpty } from './kill.ts';
import { neededControllers, validateLimits } from './limits.ts';
import { weightToShares } from './units.ts';
import type { Cgroup, CgroupDriver, CgroupStats, Limits } from './types.ts';

/**
 * The hierarchies box puts a container in. memory, cpu, cpuacct and pids carry the limits
 * and statistics; freezer makes killing a fork bomb reliable; cpuset, blkio and devices let
 * the lessons pin CPUs, throttle I/O and refuse devices per container; hugetlb, net_cls and
 * net_prio carry an OCI config's hugepageLimits and network, where they are mounted (a host
 * may have them in the kernel, /proc/cgroups, and not mounted: a config that asks for one is
 * then refused, as runc's "cannot set hugetlb limit"). Not joined: name=systemd (systemd's
 * own bookkeeping) and perf_event, rdma, misc, which box sets no limits with.
 */
export const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids', 'freezer', 'cpuset', 'blkio', 'devices', 'hugetlb', 'net_cls', 'net_prio'];
/** The ones without which a box flag cannot work. */
export const V1_REQUIRED = ['memory', 'cpu', 'cpuacct', 'pids'];

/** One mounted v1 hierarchy, as box uses it. */
export interface V1Hierarchy {
  /** The controllers bound to it: ["memory"], or ["cpu", "cpuacct"] when co-mounted. */
  controllers: string[];
  /** Where it is mounted, e.g. /sys/fs/cgroup/memory. */
  mountpoint: string;
  /** Our own cgroup in it (from /proc/self/cgroup), e.g. /sys/fs/cgroup/memory/user.slice. */
  owner: string;
  /** The directory holding box's cgroups, usually `<owner>/box`. */
  parent: string;
  /** A parent that is not box's own directory (DetectOptions.sub): destroy leaves it. */
  keepParent?: boolean;
}

/** cpuset starts every new cgroup with no CPUs and no memory nodes, and a task cannot join
 *  an empty cpuset (ENOSPC): copy the nearest ancestor's values into each new directory. */
function fillCpuset(sys: Sys, h: V1Hierarchy, dir: string): void {
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    if ((readText(path.join(dir, f)) ?? '').trim() !== '') continue;
    let value = '';
    for (let up = path.dirname(dir); value === '' && up.startsWith(h.mountpoint); up = path.dirname(up)) {
      value = (readText(path.join(up, f)) ?? '').trim();
      if (up === h.mountpoint) break;
    }
    writeCgroupFile(sys, path.join(dir, f), value, `copying ${f} from the parent cpuset`);
  }
}

/** mkdir a directory in hierarchy `h`, giving it a cpuset if that is one of h's controllers. */
function makeCgroupDir(sys: Sys, h: V1Hierarchy, dir: string): boolean {
  const made = makeDir(sys, dir);
  if (made && h.controllers.includes('cpuset')) fillCpuset(sys, h, dir);
  return made;
}

export function v1Driver(sys: Sys, hierarchies: V1Hierarchy[]): CgroupDriver {
  const available = () => V1_CONTROLLERS.filter((c) => hierarchies.some((h) => h.controllers.includes(c)));

  function prepareParent(h: V1Hierarchy): void {
    const levels: string[] = [];
    for (let d = h.parent; d !== h.owner && d.startsWith(h.owner + '/'); d = path.dirname(d)) levels.unshift(d);
    for (const dir of levels) makeCgroupDir(sys, h, dir);
  }

  function createOnce(name: string): Cgroup {
    const made: string[] = [];
    try {
      for (const h of hierarchies) {
        prepareParent(h);
        const dir = path.join(h.parent, name);
        if (!makeDir(sys, dir)) {
          throw new UserError(`cgroup ${dir} already exists: a container named '${name}' is running, or a stale one is left (remove it with box rm)`);
        }
        made.push(dir);
        if (h.controllers.includes('cpuset')) fillCpuset(sys, h, dir);
      }
    } catch (err) {
      // Leave nothing half-made: undo the directories made in the other hierarchies.
      for (const dir of made.reverse()) {
        try {
          removeDir(sys, dir);
        } catch {
          /* the error that stopped us matters more than this one */
        }
      }
      throw err;
    }
    return v1Cgroup(sys, name, hierarchies.map((h) => ({ ...h, dir: path.join(h.parent, name) })));
  }

  return {
    version: 1,
    describe() {
      const missing = V1_REQUIRED.filter((c) => !available().includes(c));
      return `cgroup v1 (${available().join(', ') || 'no controllers'}${missing.length ? `; missing: ${missing.join(', ')}` : ''})`;
    },
    available,
    create(name) {
      checkName(name);
      // Retry if a concurrent box removed an empty parent between our mkdirs (ENOENT).
      for (let attempt = 0; ; attempt++) {
        try {
          return createOnce(name);
        } catch (err) {
          if (!isCode(err, 'ENOENT') || attempt > 2) throw asUserError(err);
        }
      }
    },
    open(name) {
      checkName(name);
      const present = hierarchies.map((h) => ({ ...h, dir: path.join(h.parent, name) })).filter((h) => exists(h.dir));
      return present.length ? v1Cgroup(sys, name, present) : null;
    },
    list() {
      return [...new Set(hierarchies.flatMap((h) => listDirs(h.parent)))].sort();
    },
  };
}

function v1Cgroup(sys: Sys, name: string, places: (V1Hierarchy & { dir: string })[]): Cgroup {
  /** The directory of `controller`'s hierarchy for this cgroup, or null if not mounted. */
  const dirOf = (controller: string) => places.find((p) => p.controllers.includes(controller))?.dir ?? null;
  const file = (controller: string, f: string) => {
    const dir = dirOf(controller);
    return dir === null ? null : path.join(dir, f);
  };
  const write = (controller: string, f: string, value: string, why: string) =>
    writeCgroupFile(sys, file(controller, f)!, value, why);
  const num = (controller: string, f: string) => {
    const p = file(controller, f);
    return p === null ? null : readNumber(p);
  };
  const keyed = (controller: string, f: string) => {
    const p = file(controller, f);
    return p === null ? null : readKeyed(p);
  };

  function requireControllers(limits: Limits): void {
    for (const [c, flag] of neededControllers(limits)) {
      if (dirOf(c) !== null) continue;
      throw new UserError(
        `${flag} needs the cgroup v1 '${c}' controller, which is not mounted; mount it with ` +
          `'mkdir -p /sys/fs/cgroup/${c} && mount -t cgroup -o ${c} cgroup /sys/fs/cgroup/${c}'`,
      );
    }
  }

  function setMemory(bytes: number, memswBytes: number = bytes): void {
    // memory.memsw.limit_in_bytes caps memory + swap (it exists only with swap accounting).
    // Setting it equal to the limit means no swap. The kernel insists memsw >= limit at every
    // moment, so when raising the limit, memsw goes first, and when lowering it, last.
    const memsw = file('memory', 'memory.memsw.limit_in_bytes')!;
    const hasMemsw = exists(memsw);
    const current = num('memory', 'memory.limit_in_bytes');
    const raising = current !== null && bytes > current;
    if (hasMemsw && raising) write('memory', 'memory.memsw.limit_in_bytes', String(memswBytes), 'setting memory+swap limit');
    write('memory', 'memory.limit_in_bytes', String(bytes), 'setting the memory limit (it cannot go below what the cgroup uses now)');
    if (hasMemsw && !raising) write('memory', 'memory.memsw.limit_in_bytes', String(memswBytes), 'setting memory+swap limit');
  }

  /** Real-time group scheduling exists only in kernels built with CONFIG_RT_GROUP_SCHED. */
  function setRealtime(rt: { periodUs?: number; runtimeUs?: number }): void {
    if (!exists(file('cpu', 'cpu.rt_runtime_us')!)) {
      throw new UserError('linux.resources.cpu.realtimeRuntime: this kernel has no real-time group scheduling (CONFIG_RT_GROUP_SCHED); remove realtimeRuntime and realtimePeriod');
    }
    // The period first: the runtime is checked against it (runtime <= period).
    if (rt.periodUs !== undefined) write('cpu', 'cpu.rt_period_us', String(rt.periodUs), 'setting the real-time period');
    if (rt.runtimeUs !== undefined) write('cpu', 'cpu.rt_runtime_us', String(rt.runtimeUs), 'setting the real-time runtime (the parent cgroup must have as much to give)');
  }

  /** net_cls tags the cgroup's packets with a class id (tc and iptables match it); net_prio sets their priority per interface. */
  function networkWrites(l: Limits): CgroupWrite[] {
    const writes: CgroupWrite[] = [];
    if (l.netClassId !== undefined) writes.push({ file: file('net_cls', 'net_cls.classid')!, value: String(l.netClassId), why: 'setting the network class id' });
    for (const p of l.netPriorities ?? []) {
      writes.push({
        file: file('net_prio', 'net_prio.ifpriomap')!, value: `${p.iface} ${p.priority}`, why: 'setting a network priority',
        // The kernel looks the name up among the host's interfaces (the initial network namespace).
        onError: (code) => code === 'ENODEV' ? `linux.resources.network.priorities: the host has no interface '${p.iface}'; use one 'ip link' lists` : undefined,
      });
    }
    return writes;
  }

  const hasFreezer = dirOf('freezer') !== null;
  const cgroup: Cgroup = {
    name,
    version: 1,
    paths: places.map((p) => p.dir),
    limitNesting() {
      // cgroup v1 has no cgroup.max.descendants or cgroup.max.depth: a process that may mkdir in
      // a hierarchy (a lab sandbox, whose directories box delegates) may make cgroups without a
      // count limit. What bounds them is memory: each memory cgroup's kernel memory is charged
      // to the memory cgroup of the process that made it, so the sandbox's --memory limit caps
      // how many it can make (~11 KB each), not the host's 65,535 memory cgroup ids.
      return false;
    },
    setLimits(l) {
      validateLimits(l);
      requireControllers(l);
      // Planned first: they need files only some kernels have, refused before anything is written.
      const io = l.blockIO ? blkioWritesV1(dirOf('blkio')!, l.blockIO) : [];
      const huge = l.hugepages ? hugetlbWrites(dirOf('hugetlb')!, l.hugepages, 'limit_in_bytes') : [];
      if (l.memoryBytes !== undefined) setMemory(l.memoryBytes, l.memorySwap);
      if (l.memoryReservation !== undefined) write('memory', 'memory.soft_limit_in_bytes', String(l.memoryReservation), 'setting the memory reservation (soft limit)');
      if (l.swappiness !== undefined) write('memory', 'memory.swappiness', String(l.swappiness), 'setting swappiness');
      // oom_control 1: a task at the limit waits for memory instead of being killed.
      if (l.disableOomKiller) write('memory', 'memory.oom_control', '1', 'turning the OOM killer off for the cgroup');
      if (l.cpuQuotaUs !== undefined || l.cpuPeriodUs !== undefined) {
        // v1 splits cpu.max in two files; the period first, so the quota is read against it.
        write('cpu', 'cpu.cfs_period_us', String(l.cpuPeriodUs ?? 100_000), 'setting the CPU period');
        if (l.cpuQuotaUs !== undefined) write('cpu', 'cpu.cfs_quota_us', String(l.cpuQuotaUs), 'setting the CPU quota');
      }
      if (l.cpuWeight !== undefined) write('cpu', 'cpu.shares', String(weightToShares(l.cpuWeight)), 'setting CPU shares');
      if (l.cpuShares !== undefined) write('cpu', 'cpu.shares', String(l.cpuShares), 'setting CPU shares');
      if (l.cpuRealtime !== undefined) setRealtime(l.cpuRealtime);
      if (l.cpusetCpus !== undefined) write('cpuset', 'cpuset.cpus', l.cpusetCpus, 'setting the CPUs the cgroup may use (they must be in the parent cpuset)');
      if (l.cpusetMems !== undefined) write('cpuset', 'cpuset.mems', l.cpusetMems, 'setting the memory nodes the cgroup may use (they must be in the parent cpuset)');
      if (l.pidsMax !== undefined) write('pids', 'pids.max', String(l.pidsMax), 'setting the pids limit');
      applyWrites(sys, [...io, ...huge, ...networkWrites(l)]);
      return [];
    },
    addProcess(pid) {
      // Each hierarchy has its own cgroup.procs; a process is in one cgroup per hierarchy.
      for (const p of places) {
        writeCgroupFile(sys, path.join(p.dir, 'cgroup.procs'), String(pid), `moving process ${pid} into the cgroup (is it still running?)`);
      }
    },
    pids() {
      const all = new Set(places.flatMap((p) => subtreePids(p.dir)));
      return [...all].sort((a, b) => a - b);
    },
    stats(): CgroupStats {
      const cpu = keyed('cpu', 'cpu.stat');
      const usageNs = num('cpuacct', 'cpuacct.usage');
      const throttledNs = cpu?.get('throttled_time');
      return {
        memoryCurrent: num('memory', 'memory.usage_in_bytes'),
        memoryMax: num('memory', 'memory.limit_in_bytes'),
        memoryPeak: num('memory', 'memory.max_usage_in_bytes'),
        oomKills: keyed('memory', 'memory.oom_control')?.get('oom_kill') ?? null,
        cpuUsageUsec: usageNs === null ? null : Math.round(usageNs / 1000),
        nrPeriods: cpu?.get('nr_periods') ?? null,
        nrThrottled: cpu?.get('nr_throttled') ?? null,
        throttledUsec: throttledNs === undefined ? null : Math.round(throttledNs / 1000),
        pidsCurrent: num('pids', 'pids.current'),
        pidsMax: num('pids', 'pids.max'),
      };
    },
    ...(hasFreezer
      ? {
          freeze() {
            write('freezer', 'freezer.state', 'FROZEN', 'freezing the cgroup');
            // The state reads FREEZING until every task has stopped.
            const state = file('freezer', 'freezer.state')!;
            if (!waitFor(() => readText(state)?.trim() === 'FROZEN', 5000)) {
              throw new UserError(`cgroup: ${dirOf('freezer')} did not freeze within 5 s`);
            }
          },
          thaw() {
            write('freezer', 'freezer.state', 'THAWED', 'thawing the cgroup');
          },
        }
      : {}),
    killAll() {
      // v1 has no cgroup.kill: kill pid by pid, frozen first if the freezer is there.
      killEach(sys, () => cgroup.pids(), cgroup.freeze, cgroup.thaw);
      waitEmpty(() => cgroup.pids(), places[0]!.dir);
    },
    destroy() {
      noteOomKills(sys, dirOf('memory'), keyed('memory', 'memory.oom_control')?.get('oom_kill'));
      for (const p of places) for (const d of subtree(p.dir)) removeDir(sys, d);
      for (const p of places) if (!p.keepParent) removeEmptyLevels(sys, p.parent, p.owner);
    },
    procsFiles() {
      return places.map((p) => path.join(p.dir, 'cgroup.procs'));
    },
  };
  return cgroup;
}
