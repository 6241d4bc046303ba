// Turning what a user types (`--memory 64m`, `--cpus 0.5`) into the numbers the kernel's
// cgroup files take, and the one conversion between v2 and v1 units that is not obvious.

import os from 'node:os';
import { UserError } from '../sys/errors.ts';

const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i;
const MULTIPLIER: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * "64m" -> 67108864. Units are powers of 1024, as in Docker: k, m, g, t, with an optional
 * "b" or "ib" after ("64mb", "64MiB"); a bare number is bytes.
 */
export function parseSize(s: string, flag = '--memory'): number {
  const m = SIZE.exec(s.trim());
  const bad = () => new UserError(`${flag}: '${s}' is not a size; use a number with k, m or g, e.g. 64m`);
  if (!m) throw bad();
  const bytes = Math.floor(Number(m[1]) * MULTIPLIER[m[2]!.toLowerCase()]!);
  if (!Number.isSafeInteger(bytes)) throw bad();
  if (bytes <= 0) throw new UserError(`${flag}: '${s}' is zero; give a size above 0, e.g. 64m`);
  return bytes;
}

/** The CFS period box uses, as Docker does: quotas are measured in slices of 100 ms. */
export const CPU_PERIOD_US = 100_000;
/** The kernel refuses a quota below 1 ms (cfs_quota_us must be at least 1000). */
const MIN_QUOTA_US = 1000;

/** "0.5" -> half a CPU: 50000 µs of CPU time in every 100000 µs period. */
export function parseCpus(s: string, flag = '--cpus'): { quotaUs: number; periodUs: number } {
  const cpus = /^\d*\.?\d+$/.test(s.trim()) ? Number(s) : NaN;
  const max = os.availableParallelism();
  if (!Number.isFinite(cpus) || cpus <= 0) {
    throw new UserError(`${flag}: '${s}' is not a number of CPUs above 0; use e.g. 0.5 for half a CPU or 2 for two`);
  }
  if (cpus > max) {
    throw new UserError(`${flag}: '${s}' is more than the ${max} CPUs this machine has; use a number from 0.01 to ${max}`);
  }
  const quotaUs = Math.round(cpus * CPU_PERIOD_US);
  if (quotaUs < MIN_QUOTA_US) {
    throw new UserError(`${flag}: '${s}' is below the kernel's smallest quota (1 ms per 100 ms); use 0.01 or more`);
  }
  return { quotaUs, periodUs: CPU_PERIOD_US };
}

/**
 * v2 cpu.weight (1..10000, default 100) -> v1 cpu.shares (2..262144, default 1024).
 * Shares only matter relative to each other, so box scales proportionally: shares =
 * weight * 1024 / 100. The defaults then match (100 <-> 1024) and a 2:1 ratio of weights is
 * a 2:1 ratio of shares. (runc maps the two ranges end to end instead, which keeps the
 * extremes but turns the default weight 100 into 2597 shares.)
 */
export function weightToShares(weight: number): number {
  return Math.min(262_144, Math.max(2, Math.round((weight * 1024) / 100)));
}

/**
 * v1 cpu.shares (2..262144, default 1024) -> v2 cpu.weight (1..10000, default 100), the
 * linear map runc and crun use: 2 -> 1, 262144 -> 10000 (1024 -> 39, not 100).
 */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}
