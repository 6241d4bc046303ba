// Waiting for a container to reach a state: `box wait`, and what `box compose` calls for
// depends_on's conditions (service_started, service_healthy, service_completed_successfully).
// The state is state.json, written by whoever watches the container (its box, or the engine):
// this only reads it, so any box process may wait, with or without the engine.

import { UserError } from '../sys/errors.ts';
import { lookup, readState, type ContainerState } from './state.ts';

/**
 *   running    it has started (it may have finished since: a one-shot counts as started)
 *   healthy    its health check passed; fails if it has none, turns unhealthy, or exits
 *   exited     it has stopped for good (not while it waits to be restarted by its policy)
 *   completed  it has exited with code 0; fails on any other code
 */
export type WaitCondition = 'running' | 'healthy' | 'exited' | 'completed';

export interface WaitOptions {
  /** Give up after this long (default: never), with a UserError naming the container and the condition. */
  timeoutMs?: number;
  /** Stop waiting (e.g. Ctrl-C in `box compose up`): rejects with the signal's reason. */
  signal?: AbortSignal;
  /** How often state.json is read (default 50 ms). */
  pollMs?: number;
}

/**
 * Wait until the container `ref` (name, id or id prefix) meets `condition`; resolves with its
 * state then. Rejects with a one-line UserError when the condition can no longer be met.
 */
export async function waitForContainer(ref: string, condition: WaitCondition, opts: WaitOptions = {}): Promise<ContainerState> {
  const first = lookup(ref);
  const deadline = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : Infinity;
  for (;;) {
    opts.signal?.throwIfAborted();
    const s = readState(first.id);
    if (!s) throw new UserError(`container '${first.name}' was removed while waiting for it to be ${words[condition]}`);
    if (met(s, condition)) return s;
    if (Date.now() > deadline) {
      throw new UserError(`timed out after ${Math.round(opts.timeoutMs! / 1000)} s waiting for '${s.name}' to be ${words[condition]} (it is ${describe(s)})`);
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 50));
  }
}

const words: Record<WaitCondition, string> = { running: 'running', healthy: 'healthy', exited: 'exited', completed: 'completed successfully' };

function describe(s: ContainerState): string {
  return s.health && s.status === 'running' ? `${s.status}, ${s.health.Status}` : s.status;
}

/** Met (true), not yet (false), or never (throws). */
function met(s: ContainerState, condition: WaitCondition): boolean {
  switch (condition) {
    case 'running':
      if (s.status === 'exited' && !s.started) throw new UserError(`container '${s.name}' exited before it started`);
      return s.status === 'running' || !!s.started;
    case 'exited':
      return s.status === 'exited';
    case 'completed':
      if (s.status !== 'exited') return false;
      if (s.exitCode !== 0) throw new UserError(`container '${s.name}' did not complete successfully: exit code ${s.exitCode}`);
      return true;
    case 'healthy':
      if (!s.health && s.status !== 'created') throw new UserError(`container '${s.name}' has no health check; give it one (--health-cmd, HEALTHCHECK) or wait for it to run`);
      if (s.status === 'exited') throw new UserError(`container '${s.name}' exited (code ${s.exitCode}) before it was healthy`);
      if (s.health?.Status === 'unhealthy') throw new UserError(`container '${s.name}' is unhealthy: ${s.health.Log.at(-1)?.Output.trim().split('\n')[0] ?? 'its health check failed'}`);
      return s.status === 'running' && s.health?.Status === 'healthy';
  }
}
