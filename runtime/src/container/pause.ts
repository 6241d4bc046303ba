// box pause / unpause (docker pause): stop every process of a container where it stands, and
// let them go on later. The cgroup freezer does it (cgroup v2: cgroup.freeze; v1: the freezer
// controller's freezer.state = FROZEN): the kernel parks each task outside the scheduler, so
// unlike SIGSTOP the processes cannot notice, catch or ignore it, and none can fork meanwhile.

import { containerCgroup } from './cgroup.ts';
import type { Cgroup } from '../cgroups/types.ts';
import { ConflictError, UserError } from '../sys/errors.ts';
import type { Sys } from '../sys/sys.ts';
import { updateState, type ContainerState } from './state.ts';

export function isPaused(s: ContainerState): boolean {
  return !!s.paused && s.status === 'running';
}

export function pauseContainer(sys: Sys, s: ContainerState): void {
  if (s.status !== 'running') throw new UserError(`container '${s.name}' is not running; only a running container can be paused`);
  if (isPaused(s)) throw new ConflictError(`container '${s.name}' is already paused; box unpause ${s.name} lets it go on`);
  freezer(sys, s).freeze();
  updateState(s.id, { paused: true });
}

export function unpauseContainer(sys: Sys, s: ContainerState): void {
  if (!isPaused(s)) throw new UserError(`container '${s.name}' is not paused`);
  freezer(sys, s).thaw();
  updateState(s.id, { paused: false });
}

function freezer(sys: Sys, s: ContainerState): Cgroup & { freeze(): void; thaw(): void } {
  if (!s.cgroup) throw new UserError(`container '${s.name}' has no cgroup of its own, so it cannot be frozen`);
  const cgroup = containerCgroup(sys, s);
  if (!cgroup) throw new UserError('pausing needs cgroups, and none are mounted here (/sys/fs/cgroup)');
  if (!cgroup.freeze || !cgroup.thaw) {
    throw new UserError('pausing needs the cgroup freezer: cgroup v2, or the v1 freezer controller mounted (/sys/fs/cgroup/freezer)');
  }
  return cgroup as Cgroup & { freeze(): void; thaw(): void };
}
