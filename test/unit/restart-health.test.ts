// Restart policies and health checks without processes: the flags as a user types them,
// Docker's back-off and restart decisions, how a probe's result moves the health status,
// and the Boxfile's HEALTHCHECK. The same behaviour runs for real in
// test/integration/restart-health.test.ts.

import { describe, expect, it } from 'vitest';
import {
  backoffSchedule, nextDelay, parseRestartPolicy, shouldRestart, startsWithEngine, needsEngine,
} from '../../runtime/src/container/restart.ts';
import {
  applyProbe, effectiveHealthcheck, healthcheckFromFlags, healthSuffix, parseGoDuration, probeCommand, startingHealth,
  type Health, type Healthcheck,
} from '../../runtime/src/container/health.ts';
import { healthcheckInstruction } from '../../runtime/src/build/builder.ts';
import { parseBoxfile } from '../../runtime/src/build/parse.ts';
import { userError } from './user-error.ts';

const S = 1e9;

describe('restart policies', () => {
  it('parses the four policies and on-failure:N, and refuses anything else in one line', () => {
    expect(parseRestartPolicy('no')).toEqual({ name: 'no', maximumRetryCount: 0 });
    expect(parseRestartPolicy('always')).toEqual({ name: 'always', maximumRetryCount: 0 });
    expect(parseRestartPolicy('unless-stopped')).toEqual({ name: 'unless-stopped', maximumRetryCount: 0 });
    expect(parseRestartPolicy('on-failure')).toEqual({ name: 'on-failure', maximumRetryCount: 0 });
    expect(parseRestartPolicy('on-failure:5')).toEqual({ name: 'on-failure', maximumRetryCount: 5 });
    for (const bad of ['sometimes', 'always:3', 'on-failure:x', 'on-failure:', 'ALWAYS', '']) {
      expect(userError(() => parseRestartPolicy(bad))).toBe(`--restart '${bad}': use no, on-failure[:N], always or unless-stopped, e.g. --restart on-failure:3`);
    }
  });

  it("waits Docker's back-off: 100 ms doubling up to a minute, and 100 ms again after a run of 10 s", () => {
    expect(backoffSchedule(12)).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]);
    expect(nextDelay(800, 9_999)).toBe(1600);
    expect(nextDelay(800, 10_000)).toBe(100);
    expect(nextDelay(60_000, 0)).toBe(60_000);
  });

  it('restarts as dockerd decides: on-failure only after a failure and up to N times; a stop by hand ends every policy', () => {
    const p = parseRestartPolicy;
    expect(shouldRestart(p('no'), 1, false, 0)).toBe(false);
    expect(shouldRestart(p('always'), 0, false, 99)).toBe(true);
    expect(shouldRestart(p('unless-stopped'), 0, false, 0)).toBe(true);
    expect(shouldRestart(p('on-failure'), 0, false, 0)).toBe(false);
    expect(shouldRestart(p('on-failure'), 1, false, 1000)).toBe(true);
    expect([0, 1, 2, 3].map((n) => shouldRestart(p('on-failure:3'), 2, false, n))).toEqual([true, true, true, false]);
    for (const name of ['always', 'unless-stopped', 'on-failure']) expect(shouldRestart(p(name), 1, true, 0)).toBe(false);
  });

  it('at the engine start: always (even after a stop by hand), unless-stopped unless stopped by hand', () => {
    const p = parseRestartPolicy;
    expect(startsWithEngine(p('always'), 137, true, 0)).toBe(true);
    expect(startsWithEngine(p('unless-stopped'), 137, false, 0)).toBe(true);
    expect(startsWithEngine(p('unless-stopped'), 137, true, 0)).toBe(false);
    expect(startsWithEngine(p('on-failure:2'), 1, false, 2)).toBe(false);
    expect(startsWithEngine(p('on-failure'), 0, false, 0)).toBe(false);
  });

  it('says why a container needs the engine', () => {
    expect(needsEngine({ restart: p('always') }, undefined)).toBe('to keep the restart policy always');
    expect(needsEngine({}, { Test: ['CMD-SHELL', 'true'] })).toBe('to run the health check');
    expect(needsEngine({ healthcheck: { Test: ['NONE'] } }, { Test: ['CMD-SHELL', 'true'] })).toBeNull();
    expect(needsEngine({ restart: p('no') }, undefined)).toBeNull();
    function p(s: string) {
      return parseRestartPolicy(s);
    }
  });
});

describe('Go durations (--health-interval and HEALTHCHECK --interval)', () => {
  it('reads what time.ParseDuration reads, in nanoseconds', () => {
    expect(parseGoDuration('30s', 'f')).toBe(30 * S);
    expect(parseGoDuration('1m30s', 'f')).toBe(90 * S);
    expect(parseGoDuration('1.5h', 'f')).toBe(5400 * S);
    expect(parseGoDuration('250ms', 'f')).toBe(0.25 * S);
    expect(parseGoDuration('10us', 'f')).toBe(10_000);
    expect(parseGoDuration('0', 'f')).toBe(0);
  });

  it('refuses a number without a unit, an unknown unit, and words, naming the flag', () => {
    for (const bad of ['5x', '5', '1 hour', 's', '-1s', '1h x', '']) {
      expect(userError(() => parseGoDuration(bad, '--health-interval')))
        .toBe(`--health-interval '${bad}': give a duration with a unit (ms, s, m, h), e.g. --health-interval 30s or 1m30s`);
    }
  });
});

describe('health checks', () => {
  it('turns the --health-* flags into the fields given, as Docker stores them', () => {
    expect(healthcheckFromFlags({})).toBeUndefined();
    expect(healthcheckFromFlags({ cmd: 'wget -q -O- localhost', interval: '2s', retries: '5', timeout: '1s', startPeriod: '1m' })).toEqual({
      Test: ['CMD-SHELL', 'wget -q -O- localhost'], Interval: 2 * S, Retries: 5, Timeout: S, StartPeriod: 60 * S,
    });
    expect(healthcheckFromFlags({ none: true })).toEqual({ Test: ['NONE'] });
    expect(userError(() => healthcheckFromFlags({ none: true, cmd: 'true' }))).toMatch(/^--no-healthcheck conflicts with/);
    expect(userError(() => healthcheckFromFlags({ retries: 'three' }))).toMatch(/^--health-retries 'three'/);
    expect(userError(() => healthcheckFromFlags({ interval: '10ns' }))).toMatch(/give at least 1ms/);
  });

  it("lays the run's settings over the image's field by field; NONE turns it off", () => {
    const image: Healthcheck = { Test: ['CMD', 'check'], Interval: 10 * S, Retries: 2 };
    expect(effectiveHealthcheck({ Interval: S }, image)).toEqual({ Test: ['CMD', 'check'], Interval: S, Retries: 2 });
    expect(effectiveHealthcheck({ Test: ['CMD-SHELL', 'x'] }, image)).toEqual({ Test: ['CMD-SHELL', 'x'], Interval: 10 * S, Retries: 2 });
    expect(effectiveHealthcheck({ Test: ['NONE'] }, image)).toBeUndefined();
    expect(effectiveHealthcheck(undefined, { Test: ['NONE'] })).toBeUndefined();
    expect(effectiveHealthcheck({ Interval: S }, undefined)).toBeUndefined(); // timing without a test is no check
    expect(probeCommand({ Test: ['CMD-SHELL', 'a && b'] })).toEqual(['/bin/sh', '-c', 'a && b']);
    expect(probeCommand({ Test: ['CMD', 'a', 'b'] })).toEqual(['a', 'b']);
  });

  it('goes starting -> healthy on a success, and -> unhealthy after Retries failures in a row; keeps the last 5 probes', () => {
    const hc: Healthcheck = { Test: ['CMD', 'x'], Retries: 2 };
    const started = '2026-01-01T00:00:00.000Z';
    const probe = (code: number, at: number) => ({
      Start: new Date(Date.parse(started) + at).toISOString(), End: new Date(Date.parse(started) + at + 5).toISOString(), ExitCode: code, Output: `p${at}`,
    });
    let h: Health = startingHealth();
    h = applyProbe(h, probe(1, 100), hc, started);
    expect([h.Status, h.FailingStreak]).toEqual(['starting', 1]);
    h = applyProbe(h, probe(0, 200), hc, started);
    expect([h.Status, h.FailingStreak]).toEqual(['healthy', 0]);
    h = applyProbe(h, probe(1, 300), hc, started);
    expect([h.Status, h.FailingStreak]).toEqual(['healthy', 1]);
    h = applyProbe(h, probe(7, 400), hc, started);
    expect([h.Status, h.FailingStreak]).toEqual(['unhealthy', 2]);
    h = applyProbe(h, probe(1, 500), hc, started);
    h = applyProbe(h, probe(1, 600), hc, started);
    expect(h.Log.map((p) => p.Output)).toEqual(['p200', 'p300', 'p400', 'p500', 'p600']);
    expect(healthSuffix(h)).toBe(' (unhealthy)');
    expect(healthSuffix(startingHealth())).toBe(' (health: starting)');
  });

  it('does not count failures within the start period while it is starting', () => {
    const hc: Healthcheck = { Test: ['CMD', 'x'], Retries: 1, StartPeriod: 1 * S };
    const started = '2026-01-01T00:00:00.000Z';
    const at = (ms: number, code: number) => ({ Start: new Date(Date.parse(started) + ms).toISOString(), End: '', ExitCode: code, Output: '' });
    let h = applyProbe(startingHealth(), at(500, 1), hc, started);
    expect([h.Status, h.FailingStreak, h.Log.length]).toEqual(['starting', 0, 1]);
    h = applyProbe(h, at(1500, 1), hc, started);
    expect([h.Status, h.FailingStreak]).toEqual(['unhealthy', 1]);
  });
});

describe('HEALTHCHECK in a Boxfile', () => {
  const hc = (line: string) => healthcheckInstruction(parseBoxfile(`FROM busybox\n${line}\n`).instructions[1]);
  it('reads the shell and exec forms, the options, and NONE', () => {
    expect(hc('HEALTHCHECK --interval=5m --timeout=3s --start-period=1s --retries=4 CMD wget -q -O- localhost || exit 1')).toEqual({
      Test: ['CMD-SHELL', 'wget -q -O- localhost || exit 1'], Interval: 300 * S, Timeout: 3 * S, StartPeriod: S, Retries: 4,
    });
    expect(hc('HEALTHCHECK CMD ["cat", "/ready"]')).toEqual({ Test: ['CMD', 'cat', '/ready'] });
    expect(hc('healthcheck none')).toEqual({ Test: ['NONE'] });
  });
  it('refuses what Docker refuses, in one line', () => {
    expect(userError(() => hc('HEALTHCHECK --interval=5x CMD true'))).toMatch(/^--interval '5x': give a duration/);
    expect(userError(() => hc('HEALTHCHECK wget localhost'))).toBe('write HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE');
    expect(userError(() => hc('HEALTHCHECK --retries=2 NONE'))).toBe('HEALTHCHECK NONE takes no options or arguments');
    expect(userError(() => parseBoxfile('FROM busybox\nHEALTHCHECK --every=5s CMD true\n'))).toBe('Boxfile line 2: HEALTHCHECK has no flag --every');
  });
});
