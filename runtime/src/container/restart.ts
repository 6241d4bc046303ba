// Restart policies: what `--restart` means, decided here as plain functions; the engine
// (engine/supervisor.ts) is the long-lived process that sees a container exit and acts.
//
// How this maps onto Docker: dockerd keeps one "restart manager" per container
// (moby's restartmanager package). When containerd reports that the container's task exited,
// dockerd's monitor asks it ShouldRestart(exit code, stopped by hand?, how long it ran) and,
// if yes, waits the back-off and starts the same container again (same id, same writable
// layer). containerd itself knows no policies: it only reports the exit. In box the engine
// plays dockerd's part and box-init containerd-shim's (it holds the container's PID 1).
//
// The back-off is Docker's documented one: 100 ms before the first restart, doubling before
// each next one up to a minute, and back to 100 ms once the container has run 10 s.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import type { RunConfig } from './config.ts';
import { requestsFrom } from '../volume/spec.ts';
import { effectiveHealthcheck, type Healthcheck } from './health.ts';
import { containerDir, type ContainerState } from './state.ts';

export type RestartName = 'no' | 'on-failure' | 'always' | 'unless-stopped';

export interface RestartPolicy {
  name: RestartName;
  /** on-failure:N: give up after N restarts; 0 = no limit (Docker's MaximumRetryCount). */
  maximumRetryCount: number;
}

export const NO_RESTART: RestartPolicy = { name: 'no', maximumRetryCount: 0 };

export const FIRST_DELAY_MS = 100;
export const MAX_DELAY_MS = 60_000;
/** A run at least this long counts as a success: the back-off starts over. */
export const RESET_AFTER_MS = 10_000;

/** `--restart no|on-failure[:N]|always|unless-stopped` */
export function parseRestartPolicy(s: string): RestartPolicy {
  const m = /^(no|on-failure|always|unless-stopped)(?::(\d+))?$/.exec(s);
  if (!m || (m[2] !== undefined && m[1] !== 'on-failure')) {
    throw new UserError(`--restart '${s}': use no, on-failure[:N], always or unless-stopped, e.g. --restart on-failure:3`);
  }
  return { name: m[1] as RestartName, maximumRetryCount: m[2] !== undefined ? Number(m[2]) : 0 };
}

export function formatRestartPolicy(p: RestartPolicy): string {
  return p.name === 'on-failure' && p.maximumRetryCount ? `on-failure:${p.maximumRetryCount}` : p.name;
}

/**
 * The wait before the next restart, given the previous one (0 = none yet) and how long the
 * container ran this time.
 */
export function nextDelay(previousMs: number, ranMs: number): number {
  if (ranMs >= RESET_AFTER_MS || previousMs === 0) return FIRST_DELAY_MS;
  return Math.min(previousMs * 2, MAX_DELAY_MS);
}

/** The delays of the first `n` restarts of a container that always fails at once. */
export function backoffSchedule(n: number): number[] {
  const out: number[] = [];
  for (let d = 0; out.length < n;) out.push((d = nextDelay(d, 0)));
  return out;
}

/** Docker's ShouldRestart: restart this exit, under this policy? */
export function shouldRestart(policy: RestartPolicy, exitCode: number, stoppedByHand: boolean, restartCount: number): boolean {
  // A stop (or kill, or rm -f) by hand ends every policy until `box start` (Docker cancels
  // the restart manager there too); `always` comes back only when the engine starts again.
  if (stoppedByHand) return false;
  switch (policy.name) {
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return exitCode !== 0 && (policy.maximumRetryCount === 0 || restartCount < policy.maximumRetryCount);
    default:
      return false;
  }
}

/**
 * When the engine starts: does it start this stopped container again? dockerd asks the same
 * ShouldRestart at its start, with one difference for `always`: a stop by hand holds only
 * until the daemon restarts.
 */
export function startsWithEngine(policy: RestartPolicy, exitCode: number | null, stoppedByHand: boolean, restartCount: number): boolean {
  return policy.name === 'always' || shouldRestart(policy, exitCode ?? 0, stoppedByHand, restartCount);
}

/**
 * Does this container need the engine? A restart policy and a health check both need a
 * process that outlives `box run`, watching the container: the engine (as dockerd).
 */
export function needsEngine(cfg: Pick<RunConfig, 'restart' | 'healthcheck'>, imageHealthcheck: Healthcheck | undefined): string | null {
  if (cfg.restart && cfg.restart.name !== 'no') return `to keep the restart policy ${formatRestartPolicy(cfg.restart)}`;
  if (effectiveHealthcheck(cfg.healthcheck, imageHealthcheck)) return 'to run the health check';
  return null;
}

/** The configuration to start a stopped container again with: the same command, env, limits. */
export function configForRestart(s: ContainerState): RunConfig {
  const cfg = s.config as unknown as RunConfig;
  if (cfg.lab) throw new UserError(`'${s.name}' is a lab sandbox, which is not started again; start a new one`);
  // The stored env and command are already the image's merged with the run's: keep them as they are.
  const again: RunConfig = { ...cfg, image: s.imageId, entrypoint: [], command: s.command, detach: true, interactive: false, tty: false };
  // Its mounts as they were made: the same binds and volumes (an anonymous one by the name it
  // got, so that a restart keeps its data, as in Docker), and its tmpfs mounts afresh.
  if (!s.mounts) return again;
  return {
    ...again,
    volumes: [],
    volumesFrom: [],
    mounts: [...requestsFrom(s.mounts, ''), ...(cfg.mounts ?? []).filter((m) => m.type === 'tmpfs')],
  };
}

// "Stopped by hand" (Docker's HasBeenManuallyStopped) is a file of its own beside state.json,
// not a field in it: `box stop` (any box process) creates it, while the engine rewrites
// state.json; creating a file cannot lose a concurrent write, a read-modify-write could.
const handStopFile = (id: string) => path.join(containerDir(id), 'stopped-by-hand');

export function markStoppedByHand(id: string): void {
  try {
    fs.writeFileSync(handStopFile(id), `${new Date().toISOString()}\n`);
  } catch {
    /* the container is gone */
  }
}

export function clearStoppedByHand(id: string): void {
  fs.rmSync(handStopFile(id), { force: true });
}

export function stoppedByHand(id: string): boolean {
  return fs.existsSync(handStopFile(id));
}
