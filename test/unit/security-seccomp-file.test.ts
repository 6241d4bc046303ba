// Docker-format seccomp profiles (--security-opt seccomp=FILE): checked, compiled, and run
// through the BPF interpreter. test/integration/seccomp-profile.test.ts runs them for real.

import { describe, expect, it } from 'vitest';
import { runFilter } from '../support/bpf-run.ts';
import { DOCKER_DEFAULT_CAPS } from '../../runtime/src/security/capabilities.ts';
import { AUDIT_ARCH_X86_64, compileProfile, describeAction } from '../../runtime/src/security/seccomp.ts';
import { parseSeccompProfile } from '../../runtime/src/security/seccomp_file.ts';
import { DEFAULT_PROFILE } from '../../runtime/src/security/seccomp_profile.ts';
import { syscallNumber } from '../../runtime/src/security/syscalls_x86_64.ts';

function verdict(profileJson: object, call: string, args: (number | bigint)[] = [], caps = DOCKER_DEFAULT_CAPS): string {
  const program = compileProfile(parseSeccompProfile(JSON.stringify(profileJson)), caps);
  return describeAction(runFilter(program.bytes, { nr: syscallNumber(call), arch: AUDIT_ARCH_X86_64, args }));
}

const allowAllBut = (rules: object[]) => ({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: rules });

describe('a Docker-format profile', () => {
  it('gives each listed call its action and errno, and the rest the default', () => {
    const p = allowAllBut([{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }, { names: ['reboot'], action: 'SCMP_ACT_KILL_PROCESS' }]);
    expect(verdict(p, 'mkdir')).toBe('ERRNO(EACCES)');
    expect(verdict(p, 'mkdirat')).toBe('ERRNO(EACCES)');
    expect(verdict(p, 'reboot')).toBe('KILL_PROCESS');
    expect(verdict(p, 'read')).toBe('ALLOW');
    const deny = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] };
    expect(verdict(deny, 'write')).toBe('ERRNO(EPERM)'); // SCMP_ACT_ERRNO without errnoRet is EPERM
    expect(verdict({ ...deny, defaultErrnoRet: 38 }, 'write')).toBe('ERRNO(ENOSYS)');
  });

  it('compares all 64 bits of an argument, for each operator', () => {
    const rule = (op: string, value: number | bigint, valueTwo?: number) =>
      allowAllBut([{ names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 0, op, value, valueTwo }] }]);
    const big = 0x1_0000_0005n;
    expect(verdict(rule('SCMP_CMP_EQ', 5), 'personality', [5])).toBe('ERRNO(EPERM)');
    expect(verdict(rule('SCMP_CMP_EQ', 5), 'personality', [big])).toBe('ALLOW'); // high half differs
    expect(verdict(rule('SCMP_CMP_NE', 5), 'personality', [big])).toBe('ERRNO(EPERM)');
    expect(verdict(rule('SCMP_CMP_NE', 5), 'personality', [5])).toBe('ALLOW');
    expect(verdict(rule('SCMP_CMP_GT', 5), 'personality', [6])).toBe('ERRNO(EPERM)');
    expect(verdict(rule('SCMP_CMP_GT', 5), 'personality', [5])).toBe('ALLOW');
    expect(verdict(rule('SCMP_CMP_GT', 5), 'personality', [big])).toBe('ERRNO(EPERM)');
    expect(verdict(rule('SCMP_CMP_GE', 5), 'personality', [5])).toBe('ERRNO(EPERM)');
    expect(verdict(rule('SCMP_CMP_LT', 5), 'personality', [4])).toBe('ERRNO(EPERM)');
    expect(verdict(rule('SCMP_CMP_LT', 5), 'personality', [big])).toBe('ALLOW');
    expect(verdict(rule('SCMP_CMP_LE', 5), 'personality', [5])).toBe('ERRNO(EPERM)');
    expect(verdict(rule('SCMP_CMP_LE', 5), 'personality', [6])).toBe('ALLOW');
    expect(verdict(rule('SCMP_CMP_MASKED_EQ', 0xf0, 0x20), 'personality', [0x2f])).toBe('ERRNO(EPERM)');
    expect(verdict(rule('SCMP_CMP_MASKED_EQ', 0xf0, 0x20), 'personality', [0x3f])).toBe('ALLOW');
  });

  it('ANDs the arguments of one rule, and the first matching rule of a call decides', () => {
    const p = allowAllBut([
      { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }, { index: 1, value: 1, op: 'SCMP_CMP_EQ' }] },
      { names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: 97 },
    ]);
    expect(verdict(p, 'socket', [1, 1, 0])).toBe('ALLOW');
    expect(verdict(p, 'socket', [1, 2, 0])).toBe('ERRNO(EAFNOSUPPORT)');
    expect(verdict(p, 'socket', [2, 1, 0])).toBe('ERRNO(EAFNOSUPPORT)');
  });

  it('applies includes/excludes by capability, as Docker does', () => {
    const p = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } }, { names: ['chroot'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_SYS_ADMIN'] } }] };
    expect(verdict(p, 'mount')).toBe('ERRNO(EPERM)');
    expect(verdict(p, 'mount', [], [...DOCKER_DEFAULT_CAPS, 'CAP_SYS_ADMIN'])).toBe('ALLOW');
    expect(verdict(p, 'chroot')).toBe('ALLOW');
    expect(verdict(p, 'chroot', [], [...DOCKER_DEFAULT_CAPS, 'CAP_SYS_ADMIN'])).toBe('ERRNO(EPERM)');
  });

  it('skips names this table does not know, as runc does', () => {
    expect(verdict(allowAllBut([{ names: ['no_such_call', 'mkdir'], action: 'SCMP_ACT_ERRNO' }]), 'mkdir')).toBe('ERRNO(EPERM)');
  });

  it("box's default profile has Docker's shape and survives a trip through JSON", () => {
    const again = parseSeccompProfile(JSON.stringify(DEFAULT_PROFILE));
    expect(compileProfile(again, DOCKER_DEFAULT_CAPS).bytes.equals(compileProfile(DEFAULT_PROFILE, DOCKER_DEFAULT_CAPS).bytes)).toBe(true);
    expect(DEFAULT_PROFILE.defaultAction).toBe('SCMP_ACT_ERRNO');
  });

  it('refuses a bad file with the key that is wrong', () => {
    const bad = (text: string) => () => parseSeccompProfile(text);
    expect(bad('{')).toThrow(/^not valid JSON/);
    expect(bad('[]')).toThrow('a profile is a JSON object with defaultAction and syscalls');
    expect(bad('{"syscalls":[]}')).toThrow("defaultAction 'undefined' is not one of SCMP_ACT_ALLOW");
    expect(bad('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ALLOW"}]}')).toThrow('syscalls[0] has no names');
    expect(bad('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}')).toThrow("syscalls[0].action 'SCMP_ACT_NOTIFY'");
    expect(bad('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":0,"op":"SCMP_CMP_EQ"}]}]}')).toThrow('syscalls[0].args[0].index must be 0 to 5');
    expect(bad('{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_AARCH64"]}')).toThrow('lack SCMP_ARCH_X86_64');
  });
});
