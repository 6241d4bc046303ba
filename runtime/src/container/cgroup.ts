// Which cgroup holds a container's processes: `box-<id>` under box's cgroup directory, or
// under the directory `--cgroup-parent` named (a cluster node's: cluster-<id>/node-1), which
// the state records so that every later box (rm, exec, pause, stats, the reaper) finds it.

import { detectCgroups } from '../cgroups/index.ts';
import type { Cgroup } from '../cgroups/types.ts';
import type { Sys } from '../sys/sys.ts';
import type { ContainerState } from './state.ts';

export function containerCgroup(sys: Sys, s: Pick<ContainerState, 'cgroup' | 'cgroupParent'>): Cgroup | null {
  return s.cgroup ? detectCgroups(sys, { sub: s.cgroupParent }).open(s.cgroup) : null;
}
