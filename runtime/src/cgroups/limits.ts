// Checks shared by both drivers: that a Limits object makes sense, and which controller
// each limit needs, so a missing one is reported by name with the flag that wanted it.

import { UserError } from '../sys/errors.ts';
import type { Limits } from './types.ts';

/** Which controller enforces each limit, and the box flag a user sets it with. */
export const LIMIT_CONTROLLER: Record<keyof Limits, { controller: string; flag: string }> = {
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
}

/** The controllers a set of limits needs, each with the first flag that asked for it. */
export function neededControllers(l: Limits): Map<string, string> {
  const need = new Map<string, string>();
  for (const key of Object.keys(LIMIT_CONTROLLER) as (keyof Limits)[]) {
    if (l[key] === undefined) continue;
    const { controller, flag } = LIMIT_CONTROLLER[key];
    if (!need.has(controller)) need.set(controller, flag);
  }
  return need;
}
