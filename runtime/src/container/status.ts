// A container's status in words, as `docker ps` and Docker's API say it: "Up 5 minutes",
// "Exited (0) 3 seconds ago". One copy, for `box ps` and the engine's API.

import { healthSuffix } from './health.ts';
import { isPaused } from './pause.ts';
import type { ContainerState } from './state.ts';

/** How long ago, as Docker says it: "5 seconds", "About a minute", "3 hours", "2 weeks", "55 years". */
export function humanDuration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso || Number.isNaN(Date.parse(iso))) return 'N/A';
  return `${humanDuration((now - Date.parse(iso)) / 1000)} ago`;
}

export function statusText(s: ContainerState): string {
  if (s.status === 'running') return `Up ${humanDuration((Date.now() - Date.parse(s.started ?? s.created)) / 1000)}${isPaused(s) ? ' (Paused)' : healthSuffix(s.health)}`;
  if (s.status === 'restarting') return `Restarting (${s.exitCode}) ${ago(s.finished ?? undefined)}`;
  if (s.status === 'exited') return `Exited (${s.exitCode})${s.oomKilled ? ' OOM' : ''} ${ago(s.finished ?? undefined)}`;
  return 'Created';
}
