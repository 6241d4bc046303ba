// The security plan: everything the container's init needs to lock the container down, worked
// out before any process starts, as plain data: capability masks, the no_new_privs bit, and
// the seccomp filter's bytes. The init (runtime/src/init, in C) applies it just before it
// execs the user's command; thread.ts applies the same plan from TypeScript for the tests.

import { UserError } from '../sys/errors.ts';
import type { Sys } from '../sys/sys.ts';
import { CAPABILITIES, capHex, capMask, lastCap, resolveCaps } from './capabilities.ts';
import { defaultSeccompProgram, seccompUnconfined } from './seccomp.ts';
import { labSeccompProgram } from './lab-seccomp.ts';
import type { SeccompProgram } from './seccomp.ts';

export interface SecurityOptions {
  /** --cap-add, --cap-drop: names as the user typed them ("NET_ADMIN", "cap_chown", "ALL") */
  capAdd?: string[];
  capDrop?: string[];
  /** --privileged: every capability and no seccomp filter, as in Docker */
  privileged?: boolean;
  /** --security-opt seccomp=unconfined gives 'unconfined'; 'lab' is a lab sandbox's own filter (lab-seccomp.ts) */
  seccomp?: 'default' | 'unconfined' | 'lab';
  /** on unless --security-opt no-new-privileges=false */
  noNewPrivs?: boolean;
}

export interface SecurityPlan {
  /** the container's capabilities, CAP_ names sorted by number */
  caps: string[];
  /** capabilities asked for that this kernel does not know (skipped, as runc does) */
  unsupportedCaps: string[];
  /** the highest capability number of this kernel: the init drops 0..lastCap from the bounding set */
  lastCap: number;
  /**
   * The five sets as masks (bit N = capability N). Docker gives a container the same set as
   * bounding, permitted and effective, and nothing inheritable or ambient: a non-root user
   * inside then gets no capabilities when it execs, and root gets back at most the bounding set.
   */
  bounding: bigint;
  permitted: bigint;
  effective: bigint;
  inheritable: bigint;
  ambient: bigint;
  /** prctl(PR_SET_NO_NEW_PRIVS, 1): execve can never again raise privileges (setuid bits, file capabilities) */
  noNewPrivs: boolean;
  /** the filter to install last, or null for seccomp=unconfined */
  seccomp: SeccompProgram | null;
}

/** Work out the plan for `box run` with these options. Throws UserError for an unknown capability. */
export function securityPlan(opts: SecurityOptions = {}, sys?: Pick<Sys, 'readFile'>): SecurityPlan {
  const last = lastCap(sys);
  const wanted = opts.privileged ? Object.keys(CAPABILITIES) : resolveCaps(opts.capAdd ?? [], opts.capDrop ?? []);
  const caps = wanted.filter((c) => CAPABILITIES[c] <= last);
  const unsupportedCaps = wanted.filter((c) => CAPABILITIES[c] > last);
  const mask = capMask(caps);

  let seccomp: SeccompProgram | null = null;
  if (opts.seccomp === 'lab') {
    // Privileged or not: the lab's loop device must stay put. x86_64 numbers, as below.
    if (process.arch !== 'x64') throw new UserError(`the lab's seccomp filter is for x86_64 and this machine is ${process.arch}`);
    seccomp = labSeccompProgram();
  } else if (!opts.privileged && opts.seccomp !== 'unconfined') {
    // The filter compares x86_64 system call numbers: on another architecture it would
    // refuse the wrong calls (the arch check would kill every process).
    if (process.arch !== 'x64') {
      throw new UserError(
        `the default seccomp filter is for x86_64 and this machine is ${process.arch}; run with --security-opt seccomp=unconfined`,
      );
    }
    seccomp = defaultSeccompProgram(caps);
  } else {
    seccomp = seccompUnconfined();
  }

  return {
    caps,
    unsupportedCaps,
    lastCap: last,
    bounding: mask,
    permitted: mask,
    effective: mask,
    inheritable: 0n,
    ambient: 0n,
    noNewPrivs: opts.noNewPrivs ?? true,
    seccomp,
  };
}

/**
 * Parse `--security-opt` values, Docker's spelling: `seccomp=unconfined`,
 * `no-new-privileges`, `no-new-privileges=true|false`. Throws UserError for anything else.
 */
export function parseSecurityOpts(values: string[]): Pick<SecurityOptions, 'seccomp' | 'noNewPrivs'> {
  const out: Pick<SecurityOptions, 'seccomp' | 'noNewPrivs'> = {};
  for (const value of values) {
    const eq = value.search(/[=:]/); // Docker also accepts the old "seccomp:unconfined"
    const key = eq < 0 ? value : value.slice(0, eq);
    const arg = eq < 0 ? undefined : value.slice(eq + 1);
    if (key === 'seccomp' && arg === 'unconfined') out.seccomp = 'unconfined';
    else if (key === 'seccomp' && arg === 'default') out.seccomp = 'default';
    else if (key === 'seccomp') {
      throw new UserError(`--security-opt seccomp=${arg ?? ''}: box has only its default filter; use seccomp=unconfined to turn it off`);
    } else if (key === 'no-new-privileges' && (arg === undefined || arg === 'true')) out.noNewPrivs = true;
    else if (key === 'no-new-privileges' && arg === 'false') out.noNewPrivs = false;
    else {
      throw new UserError(`--security-opt: unknown option '${value}'; box knows seccomp=unconfined and no-new-privileges[=true|false]`);
    }
  }
  return out;
}

/** The plan in a few lines, for `box --trace` and `box inspect`. */
export function describePlan(plan: SecurityPlan): string[] {
  const lines = [
    `capabilities: ${plan.caps.length ? plan.caps.join(' ') : '(none)'}`,
    `  CapBnd/CapPrm/CapEff ${capHex(plan.effective)}, CapInh ${capHex(plan.inheritable)}, CapAmb ${capHex(plan.ambient)}`,
  ];
  if (plan.unsupportedCaps.length) lines.push(`  not known to this kernel, skipped: ${plan.unsupportedCaps.join(' ')}`);
  lines.push(`no_new_privs: ${plan.noNewPrivs ? 1 : 0}`);
  if (plan.seccomp) {
    lines.push(
      `seccomp: ${plan.seccomp.insns.length} BPF instructions; EPERM for ${plan.seccomp.blocked.length} system calls`,
      `  blocked: ${plan.seccomp.blocked.join(' ')}`,
      ...plan.seccomp.argumentRules.map((r) => `  ${r}`),
    );
  } else {
    lines.push('seccomp: unconfined');
  }
  return lines;
}
