// Which cgroup holds a container's processes: `box-<id>` under box's cgroup directory, or
// under the directory `--cgroup-parent` named (a cluster node's: cluster-<id>/node-1), which
// the state records so that every later box (rm, exec, pause, stats, the reaper) finds it.

import { detectCgroups } from '../cgroups/index.ts';
import type { Cgroup, CgroupDriver } from '../cgroups/types.ts';
import type { Sys } from '../sys/sys.ts';
import type { ContainerState } from './state.ts';

/** `cgroups` picks the driver (default: detected from the mount table; container/host.ts). */
export function containerCgroup(sys: Sys, s: Pick<ContainerState, 'cgroup' | 'cgroupParent'>,
  cgroups: (sub?: string) => CgroupDriver = (sub) => detectCgroups(sys, { sub })): Cgroup | null {
  return s.cgroup ? cgroups(s.cgroupParent).open(s.cgroup) : null;
}
