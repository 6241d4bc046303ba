// What box does at each of box-init's stops (init/sync-point.ts) while it starts a container:
// the order of the cgroup, user-namespace and network steps, in one place. startContainer
// (run.ts) passes what it has made; unit tests pass a fake Sys and record the order.

import type { Cgroup } from '../cgroups/types.ts';
import { moveToLeaf } from '../cgroups/lab.ts';
import { SyncPoint } from '../init/sync-point.ts';
import type { Sys } from '../sys/sys.ts';
import type { IdRange } from './config.ts';

export interface StartSteps {
  sys: Sys;
  /** The container's cgroup (none with --cgroupns host and no limits). */
  cgroup: Cgroup | null;
  /** Its user namespace's id range (--userns, a lab sandbox). */
  ids: IdRange | null;
  /** Plug the container's network in: veths into the namespace of `pid` (net/endpoint.ts). */
  plugNetwork?: (pid: number) => void;
  /** A lab sandbox: box-init's own pid (its reaper outside the PID namespace), moved with PID 1. */
  reaperPid?: () => number;
}

/**
 * Answer one stop. `pid` is the host pid of the process that waits.
 * - IdMap: join the cgroup first, while box-init still has our credentials (on cgroup v1
 *   only root of the first user namespace, or the same uid, may move a process) and before it
 *   forks, so that PID 1 is born in the cgroup; then write uid_map and gid_map.
 * - Cgroup: the network namespace exists now: plug its veths in.
 * - Leaf: a lab sandbox's processes into its leaf cgroup (cgroups/lab.ts).
 */
export function answerSync(steps: StartSteps, pid: number, point: SyncPoint): void {
  const { sys, cgroup, ids } = steps;
  if (point === SyncPoint.IdMap && ids) {
    cgroup?.addProcess(pid);
    writeIdMaps(sys, pid, ids);
  }
  if (point === SyncPoint.Cgroup) steps.plugNetwork?.(pid);
  if (point === SyncPoint.Leaf && cgroup && ids) moveToLeaf(sys, cgroup, [steps.reaperPid?.() ?? pid, pid].filter((p, i, a) => a.indexOf(p) === i), ids.base);
}

/** Map root inside to ids.base outside, for ids.size ids. */
export function writeIdMaps(sys: Sys, pid: number, ids: IdRange): void {
  sys.writeFile(`/proc/${pid}/uid_map`, `0 ${ids.base} ${ids.size}\n`);
  sys.writeFile(`/proc/${pid}/gid_map`, `0 ${ids.base} ${ids.size}\n`);
}
