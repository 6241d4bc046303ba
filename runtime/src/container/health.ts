// Health checks: a command run inside the container every interval (engine/prober.ts runs
// it, as an exec); its exit code says healthy (0) or not. This file is the part without
// processes: the settings as Docker stores them, and how a probe's result moves the status.
//
// How this maps onto Docker: the image config's Healthcheck {Test, Interval, Timeout,
// StartPeriod, Retries} (durations in nanoseconds) is what a Dockerfile's HEALTHCHECK
// writes, `docker run --health-*` overrides it field by field, and dockerd's health monitor
// (moby daemon/health.go) execs the probe through containerd, as box's engine execs it
// through box-init. containerd knows nothing of health either.

import { UserError } from '../sys/errors.ts';
import { parseGoDuration, type Healthcheck } from '../image/healthcheck.ts';

export { parseGoDuration, type Healthcheck };

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

export interface ProbeResult {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

/** State.Health in `docker inspect`. */
export interface Health {
  Status: HealthStatus;
  FailingStreak: number;
  Log: ProbeResult[];
}

const MS = 1_000_000; // ns per ms
// Docker's defaults (moby daemon/health.go).
export const DEFAULT_INTERVAL = 30_000 * MS;
export const DEFAULT_TIMEOUT = 30_000 * MS;
export const DEFAULT_RETRIES = 3;
/** The log keeps this many probes, and this much of each one's output. */
export const MAX_LOG_ENTRIES = 5;
export const MAX_OUTPUT = 4096;

/** Docker's minimum for a set interval, timeout or start period. */
const MIN_DURATION = MS;

/** The `box run --health-*` flags as a Healthcheck (only the fields given), or undefined. */
export function healthcheckFromFlags(o: {
  cmd?: string; interval?: string; timeout?: string; startPeriod?: string; retries?: string; none?: boolean;
}): Healthcheck | undefined {
  const given = o.cmd !== undefined || o.interval !== undefined || o.timeout !== undefined || o.startPeriod !== undefined || o.retries !== undefined;
  if (o.none) {
    if (given) throw new UserError('--no-healthcheck conflicts with the --health-* options; give one or the other');
    return { Test: ['NONE'] };
  }
  if (!given) return undefined;
  const hc: Healthcheck = {};
  if (o.cmd !== undefined) {
    if (!o.cmd.trim()) throw new UserError(`--health-cmd needs a command, e.g. --health-cmd 'wget -q -O- localhost'`);
    hc.Test = ['CMD-SHELL', o.cmd];
  }
  const duration = (v: string | undefined, flag: string): number | undefined => {
    if (v === undefined) return undefined;
    const ns = parseGoDuration(v, flag);
    if (ns !== 0 && ns < MIN_DURATION) throw new UserError(`${flag} '${v}': give at least 1ms (or 0 for the default)`);
    return ns || undefined;
  };
  hc.Interval = duration(o.interval, '--health-interval');
  hc.Timeout = duration(o.timeout, '--health-timeout');
  hc.StartPeriod = duration(o.startPeriod, '--health-start-period');
  if (o.retries !== undefined) {
    if (!/^\d+$/.test(o.retries)) throw new UserError(`--health-retries '${o.retries}': give a whole number, e.g. --health-retries 3`);
    hc.Retries = Number(o.retries) || undefined;
  }
  return Object.fromEntries(Object.entries(hc).filter(([, v]) => v !== undefined)) as Healthcheck;
}

/**
 * The check a container runs: the run's settings over the image's, field by field (as
 * dockerd merges them); undefined when there is none or it is NONE.
 */
export function effectiveHealthcheck(run: Healthcheck | undefined, image: Healthcheck | undefined): Healthcheck | undefined {
  if (run?.Test?.[0] === 'NONE') return undefined;
  const hc: Healthcheck = { ...image };
  for (const [k, v] of Object.entries(run ?? {})) if (v !== undefined && !(Array.isArray(v) && v.length === 0)) (hc as Record<string, unknown>)[k] = v;
  if (!hc.Test?.length || hc.Test[0] === 'NONE') return undefined;
  return hc;
}

/** The probe's command line inside the container. */
export function probeCommand(hc: Healthcheck): string[] {
  const [kind, ...rest] = hc.Test ?? [];
  if (kind === 'CMD-SHELL') return ['/bin/sh', '-c', rest.join(' ')];
  if (kind === 'CMD') return rest;
  throw new UserError(`health check test '${kind}': box runs CMD and CMD-SHELL tests`);
}

export const intervalMs = (hc: Healthcheck) => (hc.Interval || DEFAULT_INTERVAL) / MS;
export const timeoutMs = (hc: Healthcheck) => (hc.Timeout || DEFAULT_TIMEOUT) / MS;

/** A container's health when it (re)starts. */
export function startingHealth(): Health {
  return { Status: 'starting', FailingStreak: 0, Log: [] };
}

/**
 * Docker's rules for one probe's result: success makes it healthy; a failure counts towards
 * the streak (except while it is still starting within its start period), and `Retries`
 * failures in a row make it unhealthy. The log keeps the last 5 probes.
 */
export function applyProbe(health: Health, result: ProbeResult, hc: Healthcheck, startedAt: string): Health {
  const Log = [...health.Log, { ...result, Output: result.Output.slice(0, MAX_OUTPUT) }].slice(-MAX_LOG_ENTRIES);
  if (result.ExitCode === 0) return { Status: 'healthy', FailingStreak: 0, Log };
  const inStartPeriod = health.Status === 'starting' && Date.parse(result.Start) - Date.parse(startedAt) < (hc.StartPeriod ?? 0) / MS;
  if (inStartPeriod) return { ...health, Log };
  const FailingStreak = health.FailingStreak + 1;
  return { Status: FailingStreak >= (hc.Retries || DEFAULT_RETRIES) ? 'unhealthy' : health.Status, FailingStreak, Log };
}

/** What `box ps` adds after "Up 5 seconds". */
export function healthSuffix(h: Health | undefined): string {
  if (!h) return '';
  return h.Status === 'starting' ? ' (health: starting)' : ` (${h.Status})`;
}
