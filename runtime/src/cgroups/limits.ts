// Checks shared by both drivers: that a Limits object makes sense, and which controller
// each limit needs, so a missing one is reported by name with the flag that wanted it.

import { UserError } from '../sys/errors.ts';
import type { BlockDevice, BlockIOLimits, Limits, ThrottleKind } from './types.ts';

/**
 * Which controller enforces each limit, and the box flag a user sets it with. `v2` is the
 * controller's name on cgroup v2 where it differs (blkio became io), or null where v2 has
 * none (net_cls and net_prio: the driver leaves those limits out, with a warning, as runc).
 */
export const LIMIT_CONTROLLER: Record<keyof Limits, { controller: string; flag: string; v2?: string | null }> = {
  memoryBytes: { controller: 'memory', flag: '--memory' },
  cpuQuotaUs: { controller: 'cpu', flag: '--cpus' },
  cpuPeriodUs: { controller: 'cpu', flag: '--cpus' },
  cpuWeight: { controller: 'cpu', flag: '--cpu-weight' },
  pidsMax: { controller: 'pids', flag: '--pids-limit' },
  cpuShares: { controller: 'cpu', flag: 'linux.resources.cpu.shares' },
  cpusetCpus: { controller: 'cpuset', flag: 'linux.resources.cpu.cpus' },
  cpusetMems: { controller: 'cpuset', flag: 'linux.resources.cpu.mems' },
  cpuRealtime: { controller: 'cpu', flag: 'linux.resources.cpu.realtimeRuntime' },
  memoryReservation: { controller: 'memory', flag: 'linux.resources.memory.reservation' },
  memorySwap: { controller: 'memory', flag: 'linux.resources.memory.swap' },
  swappiness: { controller: 'memory', flag: 'linux.resources.memory.swappiness' },
  disableOomKiller: { controller: 'memory', flag: 'linux.resources.memory.disableOOMKiller' },
  blockIO: { controller: 'blkio', flag: 'linux.resources.blockIO', v2: 'io' },
  hugepages: { controller: 'hugetlb', flag: 'linux.resources.hugepageLimits' },
  netClassId: { controller: 'net_cls', flag: 'linux.resources.network.classID', v2: null },
  netPriorities: { controller: 'net_prio', flag: 'linux.resources.network.priorities', v2: null },
};

function check(ok: boolean, flag: string, value: unknown, range: string): void {
  if (!ok) throw new UserError(`${flag}: ${String(value)} is out of range; use ${range}`);
}

/** Throw a UserError for a limit the kernel would refuse, before anything is written. */
export function validateLimits(l: Limits): void {
  const int = Number.isSafeInteger;
  if (l.memoryBytes !== undefined) check(int(l.memoryBytes) && l.memoryBytes > 0, '--memory', l.memoryBytes, 'a size above 0, e.g. 64m');
  // The kernel takes a CFS period from 1 ms to 1 s, and a quota of at least 1 ms.
  if (l.cpuPeriodUs !== undefined) check(int(l.cpuPeriodUs) && l.cpuPeriodUs >= 1000 && l.cpuPeriodUs <= 1_000_000, '--cpu-period', l.cpuPeriodUs, '1000 to 1000000 µs');
  if (l.cpuQuotaUs !== undefined) check(int(l.cpuQuotaUs) && l.cpuQuotaUs >= 1000, '--cpus', l.cpuQuotaUs / 100_000, '0.01 or more');
  if (l.cpuWeight !== undefined) check(int(l.cpuWeight) && l.cpuWeight >= 1 && l.cpuWeight <= 10_000, '--cpu-weight', l.cpuWeight, '1 to 10000 (default 100)');
  // The kernel's cpu.shares range (MIN_SHARES 2, MAX_SHARES 262144).
  if (l.cpuShares !== undefined) check(int(l.cpuShares) && l.cpuShares >= 2 && l.cpuShares <= 262_144, 'linux.resources.cpu.shares', l.cpuShares, '2 to 262144 (default 1024)');
  if (l.memoryReservation !== undefined) check(int(l.memoryReservation) && l.memoryReservation > 0, 'linux.resources.memory.reservation', l.memoryReservation, 'a size in bytes above 0');
  if (l.swappiness !== undefined) check(int(l.swappiness) && l.swappiness >= 0 && l.swappiness <= 100, 'linux.resources.memory.swappiness', l.swappiness, '0 to 100');
  if (l.memorySwap !== undefined) {
    // swap counts memory plus swap, so it cannot be below the memory limit; without one it
    // has nothing to be measured against (runc refuses it too).
    if (l.memoryBytes === undefined) throw new UserError('linux.resources.memory.swap needs memory.limit too: swap is memory plus swap; set both, or neither');
    check(l.memorySwap === -1 || (int(l.memorySwap) && l.memorySwap >= l.memoryBytes), 'linux.resources.memory.swap', l.memorySwap, `-1 (unlimited) or at least memory.limit (${l.memoryBytes})`);
  }
  if (l.pidsMax !== undefined) check(int(l.pidsMax) && l.pidsMax > 0, '--pids-limit', l.pidsMax, 'a number of processes above 0, e.g. 20');
  if (l.blockIO) validateBlockIO(l.blockIO);
  for (const h of l.hugepages ?? []) {
    // The page size becomes part of a file name (hugetlb.2MB.max): only the kernel's own shape.
    if (!/^[1-9][0-9]*(B|KB|MB|GB|TB|PB)$/.test(h.pageSize)) throw new UserError(`linux.resources.hugepageLimits: page size '${h.pageSize}' is not a size as the kernel names them; use e.g. 2MB or 1GB`);
    check(int(h.bytes) && h.bytes >= 0, `linux.resources.hugepageLimits[${h.pageSize}].limit`, h.bytes, 'a number of bytes, 0 or more');
  }
  if (l.netClassId !== undefined) check(int(l.netClassId) && l.netClassId >= 0 && l.netClassId <= 0xffffffff, 'linux.resources.network.classID', l.netClassId, '0 to 4294967295 (0xAAAABBBB: major AAAA, minor BBBB of a tc class)');
  for (const p of l.netPriorities ?? []) {
    // One "name priority" line per write: a name with a space or a newline would be read as more.
    if (!/^[^\s/:]{1,15}$/.test(p.iface)) throw new UserError(`linux.resources.network.priorities: '${p.iface}' is not an interface name; use one 'ip link' lists, e.g. eth0`);
    check(int(p.priority) && p.priority >= 0 && p.priority <= 0xffffffff, `linux.resources.network.priorities[${p.iface}].priority`, p.priority, '0 to 4294967295');
  }
}

/** Weights in the range of the v1 blkio.weight (CFQ's and BFQ's 10..1000), devices and rates as whole numbers. */
function validateBlockIO(b: BlockIOLimits): void {
  const int = Number.isSafeInteger;
  const weight = (what: string, w: number | undefined) => {
    if (w !== undefined) check(int(w) && w >= 10 && w <= 1000, blockIOName(what), w, '10 to 1000');
  };
  const device = (what: string, d: BlockDevice) => {
    if (!int(d.major) || !int(d.minor) || d.major < 0 || d.minor < 0) throw new UserError(`${blockIOName(what)}: ${d.major}:${d.minor} is not a device number; use the MAJ:MIN that 'lsblk -d -o NAME,MAJ:MIN' shows`);
  };
  weight('weight', b.weight);
  weight('leafWeight', b.leafWeight);
  for (const d of b.weightDevices ?? []) {
    device('weightDevice', d);
    weight('weightDevice.weight', d.weight);
    weight('weightDevice.leafWeight', d.leafWeight);
  }
  for (const t of b.throttle ?? []) {
    device(THROTTLE_NAME[t.kind], t);
    check(int(t.rate) && t.rate >= 0, `${blockIOName(THROTTLE_NAME[t.kind])} rate`, t.rate, 'a number per second, 0 or more');
  }
}

/** box run's flag for each part of blockIO, named beside the spec's name in messages. */
const BLKIO_FLAG: Record<string, string> = {
  weight: '--blkio-weight', throttleReadBpsDevice: '--device-read-bps', throttleWriteBpsDevice: '--device-write-bps',
  throttleReadIOPSDevice: '--device-read-iops', throttleWriteIOPSDevice: '--device-write-iops',
};

/** "linux.resources.blockIO.weight (--blkio-weight)": what a message names, for a config and for box run. */
export function blockIOName(what: string): string {
  return `linux.resources.blockIO.${what}${BLKIO_FLAG[what] ? ` (${BLKIO_FLAG[what]})` : ''}`;
}

/** The spec's name of each throttle list, for messages. */
export const THROTTLE_NAME: Record<ThrottleKind, string> = {
  rbps: 'throttleReadBpsDevice', wbps: 'throttleWriteBpsDevice', riops: 'throttleReadIOPSDevice', wiops: 'throttleWriteIOPSDevice',
};

/** The controllers a set of limits needs on cgroup `version`, each with the first flag that asked for it. */
export function neededControllers(l: Limits, version: 1 | 2 = 1): Map<string, string> {
  const need = new Map<string, string>();
  for (const key of Object.keys(LIMIT_CONTROLLER) as (keyof Limits)[]) {
    if (l[key] === undefined) continue;
    const { controller: v1, flag, v2 } = LIMIT_CONTROLLER[key];
    const controller = version === 2 ? (v2 === undefined ? v1 : v2) : v1;
    if (controller !== null && !need.has(controller)) need.set(controller, flag);
  }
  return need;
}
