import { describe, expect, it } from 'vitest';
import { capHex } from '../../runtime/src/security/capabilities.ts';
import { describePlan, parseSecurityOpts, securityPlan } from '../../runtime/src/security/plan.ts';
import { applySecurity, parseSecurityStatus } from '../../runtime/src/security/thread.ts';
import type { CapSets, ThreadSecurityCalls } from '../../runtime/src/security/thread.ts';
import { UserError } from '../../runtime/src/sys/errors.ts';
import { fakeSys } from '../../runtime/src/sys/fake.ts';

const kernel40 = fakeSys({ '/proc/sys/kernel/cap_last_cap': '40\n' });

describe('securityPlan', () => {
  it('by default: Docker caps in bounding, permitted and effective; nothing inheritable; no_new_privs; the filter', () => {
    const plan = securityPlan({}, kernel40);
    expect(capHex(plan.bounding)).toBe('00000000a80425fb');
    expect(plan.permitted).toBe(plan.bounding);
    expect(plan.effective).toBe(plan.bounding);
    expect(plan.inheritable).toBe(0n);
    expect(plan.ambient).toBe(0n);
    expect(plan.noNewPrivs).toBe(true);
    expect(plan.lastCap).toBe(40);
    expect(plan.seccomp?.blocked).toContain('mount');
  });

  it('follows --cap-add/--cap-drop, and the filter follows the capabilities', () => {
    const plan = securityPlan({ capAdd: ['SYS_ADMIN'], capDrop: ['NET_RAW'] }, kernel40);
    expect(plan.caps).toContain('CAP_SYS_ADMIN');
    expect(plan.caps).not.toContain('CAP_NET_RAW');
    expect(capHex(plan.effective)).toBe('00000000a82405fb');
    expect(plan.seccomp?.blocked).not.toContain('mount');
  });

  it('skips capabilities the running kernel does not know, and says so', () => {
    const plan = securityPlan({ capAdd: ['BPF', 'CHECKPOINT_RESTORE'] }, fakeSys({ '/proc/sys/kernel/cap_last_cap': '37' }));
    expect(plan.unsupportedCaps).toEqual(['CAP_BPF', 'CAP_CHECKPOINT_RESTORE']);
    expect(plan.caps).not.toContain('CAP_BPF');
    expect(plan.effective >> 38n).toBe(0n);
    expect(describePlan(plan).join('\n')).toContain('not known to this kernel, skipped: CAP_BPF CAP_CHECKPOINT_RESTORE');
  });

  it('seccomp=unconfined keeps the capabilities and drops the filter; --privileged drops both limits', () => {
    const unconfined = securityPlan({ seccomp: 'unconfined' }, kernel40);
    expect(unconfined.seccomp).toBeNull();
    expect(capHex(unconfined.effective)).toBe('00000000a80425fb');
    const privileged = securityPlan({ privileged: true }, kernel40);
    expect(privileged.seccomp).toBeNull();
    expect(capHex(privileged.effective)).toBe('000001ffffffffff');
  });

  it('passes an unknown capability on as a one-line UserError', () => {
    expect(() => securityPlan({ capAdd: ['SYS_ADMN'] }, kernel40)).toThrow("--cap-add: unknown capability 'SYS_ADMN'; see `man 7 capabilities`");
  });

  it('describes itself for the trace', () => {
    const lines = describePlan(securityPlan({}, kernel40));
    expect(lines[0]).toBe('capabilities: CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_KILL CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_SYS_CHROOT CAP_MKNOD CAP_AUDIT_WRITE CAP_SETFCAP');
    expect(lines[1]).toBe('  CapBnd/CapPrm/CapEff 00000000a80425fb, CapInh 0000000000000000, CapAmb 0000000000000000');
    expect(lines).toContain('no_new_privs: 1');
    expect(lines.find((l) => l.startsWith('seccomp:'))).toMatch(/^seccomp: \d+ BPF instructions; \d+ system calls allowed, ERRNO\(EPERM\) for the rest$/);
    expect(describePlan(securityPlan({ seccomp: 'unconfined', noNewPrivs: false }, kernel40))).toContain('seccomp: unconfined');
  });
});

describe('parseSecurityOpts (--security-opt)', () => {
  it("reads Docker's spellings", () => {
    expect(parseSecurityOpts([])).toEqual({});
    expect(parseSecurityOpts(['seccomp=unconfined'])).toEqual({ seccomp: 'unconfined' });
    expect(parseSecurityOpts(['seccomp:unconfined'])).toEqual({ seccomp: 'unconfined' });
    expect(parseSecurityOpts(['no-new-privileges'])).toEqual({ noNewPrivs: true });
    expect(parseSecurityOpts(['no-new-privileges=false', 'seccomp=default'])).toEqual({ noNewPrivs: false, seccomp: 'default' });
  });

  it('refuses what box cannot do, saying what it can', () => {
    expect(() => parseSecurityOpts(['seccomp=/no/such/profile.json'])).toThrow(UserError);
    expect(() => parseSecurityOpts(['seccomp=/no/such/profile.json'])).toThrow(
      '--security-opt seccomp=/no/such/profile.json: cannot read it (ENOENT); give the path of a JSON profile',
    );
    expect(() => parseSecurityOpts(['apparmor=unconfined'])).toThrow(
      "--security-opt: unknown option 'apparmor=unconfined'; box knows seccomp=unconfined|FILE and no-new-privileges[=true|false]",
    );
    expect(() => parseSecurityOpts(['no-new-privileges=maybe'])).toThrow(UserError);
  });
});

/** Records the calls applySecurity makes, in order. */
function recordingCalls(): ThreadSecurityCalls & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    dropBounding: (cap) => void log.push(`drop ${cap}`),
    setKeepCaps: (on) => void log.push(`keepcaps ${on ? 1 : 0}`),
    clearAmbient: () => void log.push('clear ambient'),
    capget: (): CapSets => ({ effective: 0n, permitted: 0n, inheritable: 0n }),
    capset: (s) => void log.push(`capset ${capHex(s.effective)} ${capHex(s.permitted)} ${capHex(s.inheritable)}`),
    setNoNewPrivs: () => void log.push('no_new_privs'),
    installFilter: (f) => void log.push(`filter ${f.length / 8}`),
  };
}

describe('applySecurity', () => {
  it('drops the bounding set, then sets capabilities, then no_new_privs, then installs the filter', () => {
    const plan = securityPlan({}, kernel40);
    const calls = recordingCalls();
    applySecurity(plan, calls);
    const drops = calls.log.filter((l) => l.startsWith('drop'));
    expect(drops).toHaveLength(41 - 14);
    expect(drops).toContain('drop 21'); // CAP_SYS_ADMIN
    expect(drops).not.toContain('drop 0'); // CAP_CHOWN stays
    expect(calls.log.slice(drops.length)).toEqual([
      'clear ambient',
      'capset 00000000a80425fb 00000000a80425fb 0000000000000000',
      'no_new_privs',
      `filter ${plan.seccomp!.insns.length}`,
    ]);
  });

  it('without no_new_privs, installs the filter first, while CAP_SYS_ADMIN is still held', () => {
    const calls = recordingCalls();
    applySecurity(securityPlan({ noNewPrivs: false }, kernel40), calls);
    expect(calls.log[0]).toMatch(/^filter /);
    expect(calls.log).not.toContain('no_new_privs');
  });

  it('for a non-root user, switches user between KEEPCAPS on and off, after the bounding set and before capset', () => {
    const calls = recordingCalls();
    applySecurity(securityPlan({}, kernel40), calls, () => void calls.log.push('setresuid 1000'));
    const at = (entry: string) => calls.log.indexOf(entry);
    expect(at('keepcaps 1')).toBe(0);
    expect(at('setresuid 1000')).toBeGreaterThan(at('drop 40'));
    expect(at('keepcaps 0')).toBe(at('setresuid 1000') + 1);
    expect(at('capset 00000000a80425fb 00000000a80425fb 0000000000000000')).toBeGreaterThan(at('keepcaps 0'));
    expect(calls.log.at(-1)).toMatch(/^filter /);
  });

  it('installs no filter for seccomp=unconfined', () => {
    const calls = recordingCalls();
    applySecurity(securityPlan({ seccomp: 'unconfined' }, kernel40), calls);
    expect(calls.log.some((l) => l.startsWith('filter'))).toBe(false);
  });
});

describe('parseSecurityStatus', () => {
  it('reads the capability masks and seccomp state of /proc/PID/status', () => {
    const status = [
      'Name:\tsh',
      'CapInh:\t0000000000000000',
      'CapPrm:\t00000000a80425fb',
      'CapEff:\t00000000a80425fb',
      'CapBnd:\t00000000a80425fb',
      'CapAmb:\t0000000000000000',
      'NoNewPrivs:\t1',
      'Seccomp:\t2',
      'Seccomp_filters:\t1',
    ].join('\n');
    expect(parseSecurityStatus(status)).toEqual({
      capInh: 0n, capPrm: 0xa80425fbn, capEff: 0xa80425fbn, capBnd: 0xa80425fbn, capAmb: 0n,
      noNewPrivs: true, seccomp: 2, seccompFilters: 1,
    });
    expect(() => parseSecurityStatus('Name:\tsh')).toThrow(/no CapInh line/);
  });
});
