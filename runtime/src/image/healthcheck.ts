// The image config's Healthcheck, as Docker stores it (what a HEALTHCHECK instruction writes,
// and what `docker inspect` shows as Config.Healthcheck), and the Go durations it is written
// in. Running the check is container/health.ts's and the engine's (engine/prober.ts).

import { UserError } from '../sys/errors.ts';

/** As in an image config and in `docker inspect` (Config.Healthcheck). Durations in ns. */
export interface Healthcheck {
  /** ["CMD", arg...], ["CMD-SHELL", "command"], or ["NONE"]. Empty: the image's. */
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

const UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/**
 * A Go duration (what Docker's --health-interval takes): "30s", "1m30s", "1.5h", "500ms".
 * Go's own grammar, written out because the npm parsers also accept "1 hour" or "5 sec",
 * which Docker refuses. Returns nanoseconds.
 */
export function parseGoDuration(s: string, flag: string): number {
  const fail = () => new UserError(`${flag} '${s}': give a duration with a unit (ms, s, m, h), e.g. ${flag} 30s or 1m30s`);
  if (s === '0') return 0;
  if (!/^(\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/.test(s)) throw fail();
  let total = 0;
  let rest = s;
  while (rest) {
    const m = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/.exec(rest);
    if (!m) throw fail();
    total += Number(m[1]) * UNITS[m[2]];
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}

