// Emptying a cgroup. Killing "everything in it" races with everything in it that forks:
// a fork bomb makes new pids faster than a loop can read and kill them, unless it is frozen.

import { SIGKILL } from '../sys/constants.ts';
import { UserError } from '../sys/errors.ts';
import type { Sys } from '../sys/sys.ts';
import { waitFor } from './files.ts';

/**
 * Kill without cgroup.kill: freeze so nothing can fork, SIGKILL every pid, thaw so the
 * signals land (a frozen task only dies once it runs again), and repeat until empty.
 */
export function killEach(sys: Sys, pids: () => number[], freeze?: () => void, thaw?: () => void): void {
  for (let round = 0; round < 100; round++) {
    if (pids().length === 0) return; // the usual case: PID 1 exited and took the rest with it
    let frozen = false;
    if (freeze) {
      try {
        freeze();
        frozen = true;
      } catch {
        /* freezing is an optimisation here; SIGKILL in a loop still gets there */
      }
    }
    const left = pids();
    for (const pid of left) {
      try {
        sys.kill(pid, SIGKILL);
      } catch {
        /* ESRCH: it exited between the read and the kill */
      }
    }
    if (frozen) thaw!();
    if (left.length === 0 || waitFor(() => pids().length === 0, 200)) return;
  }
}

/** Wait for the kernel to finish killing: processes leave cgroup.procs as they exit. */
export function waitEmpty(pids: () => number[], dir: string): void {
  if (!waitFor(() => pids().length === 0, 5000)) {
    throw new UserError(`cgroup: processes ${pids().join(', ')} in ${dir} survived SIGKILL for 5 s (stuck in the kernel, state D?)`);
  }
}
