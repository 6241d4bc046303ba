// What a test needs from the machine, in one place. Outside CI, a test whose need is missing
// skips and says why (a reader without root or Chromium can still run the rest). Under CI
// (CI=true) it fails instead, naming what is missing: a green CI run means everything ran.
//
//   needs(rootReason).describe('box run on the real kernel', () => { ... });
//   needs(hasUmoci ? '' : 'umoci is not installed (apt-get install umoci)').it('...', fn);
//   it('...', (ctx) => { skipUnless(ctx, reasonFoundWhileRunning); ... });
//
// A *host fact* is different: not something missing that CI could install, but what this host
// is, measured in the run (its nested KVM emulates guest code; its cgroup2 mount has no
// controllers). hostFact() skips in CI too, but only with the measurement in hand, and the
// caller asserts first that what it measured is that fact and not some other failure.

import { describe, it, type TestContext } from 'vitest';

/** CI=true (or 1, yes): GitHub Actions, GitLab and most others set it; so does .ci/run's caller. */
export const inCI = /^(true|1|yes)$/i.test(process.env.CI ?? '');

/** The first non-empty reason, or '' if there is none: `need(a, b)` for "needs a and b". */
export function need(...reasons: (string | false | null | undefined)[]): string {
  return reasons.filter((r): r is string => !!r).join('; ');
}

const warned = new Set<string>();
function warn(what: string, reason: string): void {
  const line = `skipping ${what}: ${reason}`;
  if (warned.has(line)) return;
  warned.add(line);
  console.warn(line);
}

function failure(reason: string): Error {
  return new Error(`CI=true, and this test cannot run here: ${reason}. Install or enable it (see .ci/run), or run outside CI to skip.`);
}

type TestFn = (ctx: TestContext) => unknown;

export interface Needs {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: TestFn, timeout?: number): void;
}

/** describe/it that run when `reason` is '', else skip with it (outside CI) or fail naming it (CI). */
export function needs(...reasons: (string | false | null | undefined)[]): Needs {
  const reason = need(...reasons);
  return {
    describe(name, fn) {
      if (!reason) return void describe(name, fn);
      if (inCI) return void describe(name, () => it(`needs what is missing: ${reason}`, () => { throw failure(reason); }));
      warn(`"${name}"`, reason);
      describe.skip(name, fn);
    },
    it(name, fn, timeout) {
      if (!reason) return void it(name, fn, timeout);
      if (inCI) return void it(name, () => { throw failure(reason); });
      warn(`"${name}"`, reason);
      it.skip(name, fn, timeout);
    },
  };
}

/** Inside a running test: a need found missing only now (a probe, a download). */
export function skipUnless(ctx: TestContext, reason: string | false | null | undefined): void {
  if (!reason) return;
  if (inCI) throw failure(reason);
  warn(`"${ctx.task.name}"`, reason);
  ctx.skip();
}

/**
 * Inside a test, for one part of it that needs what is missing: true (skip that part) with a
 * warning outside CI; under CI, fails naming it. '' or false: false (check that part).
 */
export function lacks(reason: string | false | null | undefined): boolean {
  if (!reason) return false;
  if (inCI) throw failure(reason);
  warn('a part of a test', reason);
  return true;
}

/**
 * A measured fact of this host that puts the test's subject out of reach (not a missing
 * package): skipped in CI too, and the fact is printed with its measurement.
 */
export function hostFact(ctx: TestContext, fact: string): void {
  console.warn(`not applicable on this host (measured in this run): ${fact}`);
  ctx.skip();
}
