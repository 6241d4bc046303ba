// Removing a container: killed first if it runs (`box rm -f`), then its directory and its
// name; with `volumes`, the anonymous volumes it made (named ones stay, as with Docker).

import fs from 'node:fs';
import { reapStale, removeAnonymousVolumes, removeContainerFiles } from './cleanup.ts';
import { killAll, waitExited } from './kill.ts';
import { markStoppedByHand } from './restart.ts';
import { containerDir, releaseName, type ContainerState } from './state.ts';
import { realSys, type Sys } from '../sys/sys.ts';
import type { Trace } from '../sys/trace.ts';

/**
 * Remove one container, killing it first if it runs (`box rm -f`); with `volumes`, its
 * anonymous volumes too. Its files go through `sys` (a lab's loop device detached, its disk
 * unmounted): a unit test passes a fake.
 */
export async function removeContainer(s: ContainerState, trace: Trace, volumes = false, sys: Sys = realSys(trace)): Promise<void> {
  if (s.status === 'running' || s.status === 'restarting') {
    markStoppedByHand(s.id); // no restart: it is going away
    if (s.status === 'running') killAll(s, trace); // restarting: no process (its old pid may be another's now)
    if (!(await waitExited(s.id, 5000))) reapStale(sys);
  }
  // An --rm container's monitor removes it; otherwise it is ours to remove.
  if (fs.existsSync(containerDir(s.id))) {
    removeContainerFiles(sys, s.id);
    releaseName(s.name, s.id);
  }
  if (volumes) removeAnonymousVolumes(s);
}
