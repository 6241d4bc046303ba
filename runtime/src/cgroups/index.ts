// cgroups: one interface, two drivers (cgroup v1 and v2), chosen by detection.
// See README.md beside this file for what each kernel file does.

export type { Cgroup, CgroupDriver, CgroupStats, Limits } from './types.ts';
export { detectCgroups, type DetectOptions } from './detect.ts';
export { warmCgroupMigration } from './warm.ts';
export { parseCpus, parseSize, weightToShares, CPU_PERIOD_US } from './units.ts';
