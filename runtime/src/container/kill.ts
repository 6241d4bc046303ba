// Signalling and stopping a container: its PID 1 first (SIGTERM, or the signal asked for), then,
// after the grace time, SIGKILL to everything in its cgroup, since PID 1 of a PID namespace
// takes no signal it has no handler for, and processes it left behind would survive it.
// Used by `box stop`/`kill`/`rm -f`, compose and the engine's API.

import os from 'node:os';
import { containerCgroup } from './cgroup.ts';
import { markStoppedByHand } from './restart.ts';
import { readState, type ContainerState } from './state.ts';
import { errnoCode, UserError } from '../sys/errors.ts';
import { realSys } from '../sys/sys.ts';
import type { Trace } from '../sys/trace.ts';

export function parseSignal(s: string): NodeJS.Signals | number {
  if (/^\d+$/.test(s)) return Number(s);
  const name = (s.toUpperCase().startsWith('SIG') ? s.toUpperCase() : `SIG${s.toUpperCase()}`) as NodeJS.Signals;
  if (!(name in os.constants.signals)) throw new UserError(`unknown signal '${s}'; e.g. TERM, KILL, HUP or 15`);
  return name;
}

export function signalContainer(s: ContainerState, sig: NodeJS.Signals | number): void {
  if (s.status !== 'running' || !s.pid) throw new UserError(`container '${s.name}' is not running`);
  try {
    process.kill(s.pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Wait until the container's monitor has recorded its exit (or removed it). */
export async function waitExited(id: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const s = readState(id);
    if (!s || s.status === 'exited') return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** SIGKILL everything in the container's cgroup: PID 1 and any process it left behind. */
export function killAll(s: ContainerState, trace: Trace): void {
  const sys = realSys(trace);
  if (s.pid) {
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  try {
    containerCgroup(sys, s)?.killAll();
  } catch (err) {
    // The container's own box may be removing the same cgroup right now (its command died):
    // a cgroup file gone from under us means the job is done, not failed.
    const code = errnoCode(err);
    if (code !== 'ENOENT' && code !== 'ENODEV') throw err;
  }
}

/** Stop one container: `signal` (SIGTERM, or its stop signal), then SIGKILL after `graceMs`. */
export async function stopContainer(s: ContainerState, graceMs: number, trace: Trace, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  // By hand: its restart policy lets it be (a file the engine reads; container/restart.ts).
  if (s.status === 'running' || s.status === 'restarting') markStoppedByHand(s.id);
  if (s.status === 'running') {
    signalContainer(s, signal);
    if (!(await waitExited(s.id, graceMs))) {
      killAll(s, trace);
      await waitExited(s.id, 5000);
    }
  }
  if (readState(s.id)?.status === 'restarting') await waitExited(s.id, 5000); // the engine sees the mark within 0.1 s
}
