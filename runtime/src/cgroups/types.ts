// The public shapes of the cgroups module: what a container asks for (Limits), what the
// lessons and live plots read back (CgroupStats), and the two objects every driver provides.

/** Resource limits for one container. Every field is optional: leave it out, no limit. */
export interface Limits {
  /** `--memory 64m`: v2 memory.max (+ memory.swap.max 0), v1 memory.limit_in_bytes (+ memory.memsw.limit_in_bytes). */
  memoryBytes?: number;
  /** `--cpus 0.5` is 50000 µs of CPU time in every 100000 µs period: v2 cpu.max, v1 cpu.cfs_quota_us. */
  cpuQuotaUs?: number;
  /** The period the quota is measured over (default 100000 µs): v2 cpu.max, v1 cpu.cfs_period_us. */
  cpuPeriodUs?: number;
  /** Relative share of CPU when CPUs are contended, 1..10000 (default 100): v2 cpu.weight, v1 cpu.shares. */
  cpuWeight?: number;
  /** `--pids-limit 20`: the most processes and threads the cgroup may hold (pids.max on both). */
  pidsMax?: number;
  /** OCI linux.resources.cpu.shares, 2..262144: v1 cpu.shares as given, v2 cpu.weight converted as runc does. */
  cpuShares?: number;
  /** CPUs the cgroup may run on, e.g. "0-1" (cpuset.cpus on both). */
  cpusetCpus?: string;
  /** Memory nodes the cgroup may allocate from, e.g. "0" (cpuset.mems on both). */
  cpusetMems?: string;
  /** Real-time scheduling budget: v1 cpu.rt_period_us and cpu.rt_runtime_us; v2 has none. */
  cpuRealtime?: { periodUs?: number; runtimeUs?: number };
  /** Memory the kernel reclaims from others first: v1 memory.soft_limit_in_bytes, v2 memory.low. */
  memoryReservation?: number;
  /** OCI memory.swap: memory PLUS swap, -1 unlimited; v1 memory.memsw.limit_in_bytes, v2 memory.swap.max = swap - limit. */
  memorySwap?: number;
  /** 0..100, how eagerly the cgroup's pages are swapped: v1 memory.swappiness; v2 has none. */
  swappiness?: number;
  /** Pause instead of OOM-killing at the limit: v1 memory.oom_control; v2 has none. */
  disableOomKiller?: boolean;
  /** OCI linux.resources.blockIO: v1 blkio.* files, v2 io.weight / io.bfq.weight and io.max (cgroups/blkio.ts). */
  blockIO?: BlockIOLimits;
  /** OCI hugepageLimits, e.g. { pageSize: "2MB", bytes: 1 << 30 }: v1 hugetlb.2MB.limit_in_bytes, v2 hugetlb.2MB.max. */
  hugepages?: { pageSize: string; bytes: number }[];
  /** OCI network.classID: the tag v1 net_cls.classid puts on the cgroup's packets (for tc and iptables); v2 has no net_cls. */
  netClassId?: number;
  /** OCI network.priorities: v1 net_prio.ifpriomap, "interface priority" per line; v2 has no net_prio. */
  netPriorities?: { iface: string; priority: number }[];
}

/** A block device by its numbers, as /sys/dev/block names it ("8:0"): a whole disk, not a partition. */
export interface BlockDevice { major: number; minor: number }

/** Which limit of io.max (v2's key): bytes or I/O operations per second, read or written. */
export type ThrottleKind = 'rbps' | 'wbps' | 'riops' | 'wiops';

/** OCI linux.resources.blockIO as box takes it. Weights are 10..1000 (the v1 range), rates are per second. */
export interface BlockIOLimits {
  /** The cgroup's share of disk time when disks are contended (default 500 on v1, 100 on v2). */
  weight?: number;
  /** v1 with CFQ only: the weight of the cgroup's own tasks against its child cgroups. */
  leafWeight?: number;
  /** A weight (and leaf weight) for one device. */
  weightDevices?: (BlockDevice & { weight?: number; leafWeight?: number })[];
  /** Bandwidth and IOPS caps per device, in the spec's order: read bps, write bps, read IOPS, write IOPS. */
  throttle?: (BlockDevice & { kind: ThrottleKind; rate: number })[];
}

/** A snapshot of a cgroup's own counters. `null` means "not available here" (or, for a max, "no limit"). */
export interface CgroupStats {
  /** Bytes charged to the cgroup now (v2 memory.current, v1 memory.usage_in_bytes). */
  memoryCurrent: number | null;
  /** The memory limit in bytes, null when unlimited. */
  memoryMax: number | null;
  /** The highest memoryCurrent seen (v2 memory.peak, v1 memory.max_usage_in_bytes). */
  memoryPeak?: number | null;
  /** Processes the OOM killer has killed here (v2 memory.events oom_kill, v1 memory.oom_control oom_kill). */
  oomKills: number | null;
  /** CPU time used, µs (v2 cpu.stat usage_usec, v1 cpuacct.usage in ns / 1000). */
  cpuUsageUsec: number | null;
  /** Quota periods that have passed while the cgroup was runnable (cpu.stat nr_periods). */
  nrPeriods: number | null;
  /** Periods in which the cgroup used up its quota and was stopped (cpu.stat nr_throttled). */
  nrThrottled: number | null;
  /** Total time stopped by the quota, µs (v2 throttled_usec, v1 throttled_time in ns / 1000). */
  throttledUsec: number | null;
  /** Processes and threads in the cgroup now (pids.current). */
  pidsCurrent: number | null;
  /** The pids limit, null when unlimited (pids.max). */
  pidsMax: number | null;
}

/** One container's cgroup: a single directory on v2, one directory per hierarchy on v1. */
export interface Cgroup {
  readonly name: string;
  readonly version: 1 | 2;
  /** The cgroup's directories: one for v2, one per mounted controller hierarchy for v1. */
  readonly paths: string[];
  /**
   * Write the limits to the kernel (each write appears in the trace). Returns what it left
   * out because this cgroup version has no file for it, as runc does, one line each (the
   * caller shows them as warnings); anything else it cannot honour is a UserError.
   */
  setLimits(limits: Limits): string[];
  /** Move a process into the cgroup (its cgroup.procs in every hierarchy). */
  addProcess(pid: number): void;
  /** The processes in the cgroup and in any cgroup made below it, sorted. */
  pids(): number[];
  stats(): CgroupStats;
  /** Stop every process in the cgroup where they stand (v2 cgroup.freeze, v1 freezer.state). */
  freeze?(): void;
  thaw?(): void;
  /** SIGKILL everything in the cgroup and below it, and wait until no process is left. */
  killAll(): void;
  /** Remove the cgroup's directories, and any cgroup made below them. Safe to call twice. */
  destroy(): void;
  /** The cgroup.procs files a process writes its pid to, to join (box exec). */
  procsFiles(): string[];
  /**
   * Cap the cgroups that may be made below this one (a delegated cgroup: a lab sandbox's):
   * at most `descendants` in all, `depth` levels deep. v2 only; false where the kernel has no
   * such limit (v1).
   */
  limitNesting(descendants: number, depth: number): boolean;
}

export interface CgroupDriver {
  readonly version: 1 | 2;
  /** One line for the user: which cgroup version and controllers box is using. */
  describe(): string;
  /** Make a new cgroup under box's parent; a UserError if it exists already. */
  create(name: string): Cgroup;
  /** The existing cgroup of that name, or null. */
  open(name: string): Cgroup | null;
  /** Names of the box cgroups that exist now (for cleaning up after a killed box). */
  list(): string[];
  /** The controllers box can use (of memory, cpu, cpuacct, pids, freezer, ...). */
  available(): string[];
}
