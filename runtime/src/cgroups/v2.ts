// The cgroup v2 driver: one unified hierarchy, one directory per cgroup, and every
// controller's files side by side in it (memory.max, cpu.max, pids.max...).

import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import type { Sys } from '../sys/sys.ts';
import { ioWritesV2 } from './blkio.ts';
import { hugetlbWrites } from './hugetlb.ts';
import {
  applyWrites, asUserError, checkName, exists, isCode, listDirs, makeDir, noteOomKills, readKeyed, readNumber, readWords,
  removeDir, removeEmptyLevels, subtree, subtreePids, waitFor, writeCgroupFile,
} from './files.ts';
import { killEach, waitEmpty } from './kill.ts';
import { neededControllers, validateLimits } from './limits.ts';
import type { Cgroup, CgroupDriver, CgroupStats, Limits } from './types.ts';
import { sharesToWeight } from './units.ts';

/** The controllers box turns on for its cgroups. */
export const V2_CONTROLLERS = ['memory', 'cpu', 'pids'];
/** ...and where the host offers them, io (an OCI config's blockIO; a lab sandbox hands it on: the disk lesson), cpuset (an OCI config's cpu.cpus and cpu.mems) and hugetlb (its hugepageLimits). */
export const V2_OPTIONAL = ['io', 'cpuset', 'hugetlb'];

export interface V2Layout {
  /** Where the cgroup2 filesystem is mounted: /sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host. */
  mountpoint: string;
  /** The cgroup box delegates from: our own (from /proc/self/cgroup), e.g. /sys/fs/cgroup/user.slice/... */
  owner: string;
  /** The directory holding box's cgroups, a descendant of `owner`: usually `<owner>/box`. */
  parent: string;
  /** A parent that is not box's own directory (DetectOptions.sub): destroy leaves it. */
  keepParent?: boolean;
}

export function v2Driver(sys: Sys, layout: V2Layout): CgroupDriver {
  const { mountpoint, owner, parent } = layout;

  /** The controllers our cgroup can hand down to box's (what its parent enabled for it). */
  function available(): string[] {
    const offered = readWords(path.join(owner, 'cgroup.controllers'));
    return [...V2_CONTROLLERS, ...V2_OPTIONAL].filter((c) => offered.includes(c));
  }

  /**
   * Switch box's controllers on in `dir`'s cgroup.subtree_control, so its children get them.
   * In v2 a cgroup has only the controllers its parent lists there. The kernel refuses (EBUSY)
   * below a cgroup that holds processes itself, the root excepted: "no internal processes".
   */
  function enableBelow(dir: string, want: string[]): void {
    const on = readWords(path.join(dir, 'cgroup.subtree_control'));
    const add = want.filter((c) => !on.includes(c));
    if (add.length === 0) return;
    try {
      sys.writeFile(path.join(dir, 'cgroup.subtree_control'), add.map((c) => `+${c}`).join(' '));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EBUSY') {
        throw new UserError(
          `cgroup v2: cannot enable ${add.join(', ')} below ${dir}: it holds processes itself, and v2 lets a ` +
            `cgroup either hold processes or hand controllers down ("no internal processes"); run box from a ` +
            `leaf cgroup of its own, or set BOX_CGROUP_PARENT=/box to keep box's cgroups under the root cgroup`,
        );
      }
      throw new UserError(`cgroup v2: cannot enable ${add.join(', ')} in ${dir}/cgroup.subtree_control (${code})`);
    }
  }

  /** Make `parent` (and any level between it and `owner`), each handing the controllers down. */
  function prepareParent(): string[] {
    const want = available();
    const levels: string[] = [];
    for (let d = parent; d !== owner && d.startsWith(owner + '/'); d = path.dirname(d)) levels.unshift(d);
    enableBelow(owner, want);
    for (const dir of levels) {
      makeDir(sys, dir);
      enableBelow(dir, want);
    }
    return want;
  }

  return {
    version: 2,
    describe() {
      const have = available();
      const missing = V2_CONTROLLERS.filter((c) => !have.includes(c));
      return `cgroup v2 at ${mountpoint} (${have.length ? have.join(', ') : 'no controllers'}` +
        `${missing.length ? `; missing: ${missing.join(', ')}` : ''})`;
    },
    available,
    create(name) {
      checkName(name);
      const dir = path.join(parent, name);
      // Retry if a concurrent box removed the empty parent between our mkdirs (ENOENT).
      for (let attempt = 0; ; attempt++) {
        try {
          const controllers = prepareParent();
          if (!makeDir(sys, dir)) {
            throw new UserError(`cgroup ${dir} already exists: a container named '${name}' is running, or a stale one is left (remove it with box rm)`);
          }
          return v2Cgroup(sys, name, dir, layout, controllers);
        } catch (err) {
          if (!isCode(err, 'ENOENT') || attempt > 2) throw asUserError(err);
        }
      }
    },
    open(name) {
      checkName(name);
      const dir = path.join(parent, name);
      if (!exists(dir)) return null;
      return v2Cgroup(sys, name, dir, layout, readWords(path.join(dir, 'cgroup.controllers')));
    },
    list() {
      return listDirs(parent);
    },
  };
}

/** The error for a limit whose controller box's cgroups lack, with the fix for this layout. */
function missingController(layout: V2Layout, controller: string, flag: string): UserError {
  if (layout.owner === layout.mountpoint) {
    // At the root, cgroup.controllers lists every v2 controller the kernel has that no v1
    // hierarchy has claimed: a missing one is mounted as v1 (a hybrid host) or not built in.
    return new UserError(
      `${flag} needs the '${controller}' controller, but cgroup v2 at ${layout.mountpoint} does not have it ` +
        `(a cgroup v1 hierarchy holds it, or the kernel lacks it); let box use cgroup v1 here`,
    );
  }
  return new UserError(
    `${flag} needs the cgroup v2 '${controller}' controller, which ${layout.owner} does not have; ` +
      `enable it in its parent: echo +${controller} > ${path.dirname(layout.owner)}/cgroup.subtree_control`,
  );
}

/**
 * The OCI knobs v2 has no controller for that runc leaves out without a word: net_cls and
 * net_prio (v2 classifies a cgroup's packets by its path instead: nftables "socket cgroupv2",
 * eBPF). box leaves them out too, and says so. Neither confines anything.
 */
function leftOutOnV2(l: Limits): string[] {
  const left: string[] = [];
  if (l.netClassId !== undefined) left.push('linux.resources.network.classID is left out: cgroup v2 has no net_cls controller (match the cgroup\'s path instead: nftables "socket cgroupv2"), as runc');
  if (l.netPriorities?.length) left.push('linux.resources.network.priorities is left out: cgroup v2 has no net_prio controller, as runc');
  return left;
}

/** The v1 knobs cgroup v2 has no file for: refused in one line, before anything is written. */
function refuseV1Only(l: Limits): void {
  if (l.swappiness !== undefined) throw new UserError('linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness; remove it from the config');
  if (l.disableOomKiller) throw new UserError('linux.resources.memory.disableOOMKiller: cgroup v2 cannot turn the OOM killer off for a cgroup; remove it (or set it to false)');
  if (l.cpuRealtime !== undefined) throw new UserError('linux.resources.cpu.realtimeRuntime: cgroup v2 has no real-time group scheduling; remove realtimeRuntime and realtimePeriod');
}

function v2Cgroup(sys: Sys, name: string, dir: string, layout: V2Layout, controllers: string[]): Cgroup {
  const { parent } = layout;
  const file = (f: string) => path.join(dir, f);
  const write = (f: string, value: string, why: string) => writeCgroupFile(sys, file(f), value, why);

  function requireControllers(limits: Limits): void {
    for (const [controller, flag] of neededControllers(limits, 2)) {
      if (!controllers.includes(controller)) throw missingController(layout, controller, flag);
    }
  }

  const cgroup: Cgroup = {
    name,
    version: 2,
    paths: [dir],
    setLimits(l) {
      validateLimits(l);
      refuseV1Only(l);
      requireControllers(l);
      const left = leftOutOnV2(l);
      // Planned first: they need files only some kernels have, refused before anything is written.
      const io = l.blockIO ? ioWritesV2(dir, l.blockIO) : { writes: [], left: [] };
      const huge = l.hugepages ? hugetlbWrites(dir, l.hugepages, 'max') : [];
      if (l.memoryBytes !== undefined) {
        write('memory.max', String(l.memoryBytes), 'setting the memory limit');
        // v2 counts swap apart from memory (v1's memsw counts both): swap.max = swap - limit.
        // Without a swap given, 0: the cgroup could otherwise swap out past its limit instead of being OOM-killed.
        const swap = l.memorySwap === undefined ? '0' : l.memorySwap === -1 ? 'max' : String(l.memorySwap - l.memoryBytes);
        if (exists(file('memory.swap.max'))) write('memory.swap.max', swap, 'setting the cgroup\'s swap limit');
      }
      if (l.memoryReservation !== undefined) write('memory.low', String(l.memoryReservation), 'setting the memory reservation (memory.low)');
      if (l.cpuShares !== undefined) write('cpu.weight', String(sharesToWeight(l.cpuShares)), 'setting the CPU weight (from shares)');
      if (l.cpusetCpus !== undefined) write('cpuset.cpus', l.cpusetCpus, 'setting the CPUs the cgroup may use (they must be in the parent cpuset)');
      if (l.cpusetMems !== undefined) write('cpuset.mems', l.cpusetMems, 'setting the memory nodes the cgroup may use (they must be in the parent cpuset)');
      if (l.cpuQuotaUs !== undefined || l.cpuPeriodUs !== undefined) {
        // cpu.max is "<quota> <period>": the cgroup may run `quota` µs in every `period` µs.
        write('cpu.max', `${l.cpuQuotaUs ?? 'max'} ${l.cpuPeriodUs ?? 100_000}`, 'setting the CPU quota');
      }
      if (l.cpuWeight !== undefined) write('cpu.weight', String(l.cpuWeight), 'setting the CPU weight');
      if (l.pidsMax !== undefined) write('pids.max', String(l.pidsMax), 'setting the pids limit');
      applyWrites(sys, [...io.writes, ...huge]);
      return [...left, ...io.left];
    },
    limitNesting(descendants, depth) {
      // Every memory cgroup takes one of the kernel's 65,535 memory cgroup ids, host-wide
      // (MEM_CGROUP_ID_MAX), and ~11 KB of kernel memory: a delegated cgroup gets a budget.
      // mkdir below it then fails with EAGAIN. Both files stay root's: the sandbox cannot raise them.
      write('cgroup.max.descendants', String(descendants), 'limiting how many cgroups may be made below');
      write('cgroup.max.depth', String(depth), 'limiting how deep cgroups may be nested below');
      return true;
    },
    addProcess(pid) {
      write('cgroup.procs', String(pid), `moving process ${pid} into the cgroup (is it still running?)`);
    },
    pids() {
      return subtreePids(dir).sort((a, b) => a - b);
    },
    stats(): CgroupStats {
      const cpu = readKeyed(file('cpu.stat'));
      const events = readKeyed(file('memory.events'));
      return {
        memoryCurrent: readNumber(file('memory.current')),
        memoryMax: readNumber(file('memory.max')),
        memoryPeak: readNumber(file('memory.peak')),
        oomKills: events?.get('oom_kill') ?? null,
        cpuUsageUsec: cpu?.get('usage_usec') ?? null,
        nrPeriods: cpu?.get('nr_periods') ?? null,
        nrThrottled: cpu?.get('nr_throttled') ?? null,
        throttledUsec: cpu?.get('throttled_usec') ?? null,
        pidsCurrent: readNumber(file('pids.current')),
        pidsMax: readNumber(file('pids.max')),
      };
    },
    freeze() {
      write('cgroup.freeze', '1', 'freezing the cgroup');
      // The write returns at once; cgroup.events says "frozen 1" when every task has stopped.
      if (!waitFor(() => readKeyed(file('cgroup.events'))?.get('frozen') === 1, 5000)) {
        throw new UserError(`cgroup: ${dir} did not freeze within 5 s`);
      }
    },
    thaw() {
      write('cgroup.freeze', '0', 'thawing the cgroup');
    },
    killAll() {
      if (exists(file('cgroup.kill'))) {
        // Linux 5.14+: one write SIGKILLs every process in the cgroup and its descendants,
        // including those forked while it runs, so a fork bomb cannot outrun it.
        write('cgroup.kill', '1', 'killing every process in the cgroup');
      } else {
        killEach(sys, () => cgroup.pids(), () => cgroup.freeze!(), () => cgroup.thaw!());
      }
      waitEmpty(() => cgroup.pids(), dir);
    },
    destroy() {
      noteOomKills(sys, dir, readKeyed(file('memory.events'))?.get('oom_kill'));
      for (const d of subtree(dir)) removeDir(sys, d);
      if (!layout.keepParent) removeEmptyLevels(sys, parent, layout.owner);
    },
    procsFiles() {
      return [file('cgroup.procs')];
    },
  };
  return cgroup;
}
