// The cgroup device rules: box's own (Docker's) and an OCI config's allow/deny list, the last
// match deciding. On v2 box compiles them into eBPF: a small interpreter of the instructions
// it uses (test/support/ebpf-device-run.ts) runs the program the kernel would run, for opens and mknods of several devices;
// test/integration/runtime.test.ts checks box's own in a real kernel (in the cgroup v2 guest).
// On v1 they become writes to devices.deny/devices.allow (a fake Sys records them);
// test/integration/oci-runtime.test.ts checks a config's rules on the real v1 controller.

import { describe, expect, it } from 'vitest';
import { DEFAULT_DEVICE_RULES, devicePolicy, deviceProgram, parseDeviceRule, writeDeviceRulesV1, type DeviceRule } from '../../runtime/src/cgroups/devices.ts';
import { fakeSys } from '../support/fake-sys.ts';
import { runDeviceProgram } from '../support/ebpf-device-run.ts';

const run = runDeviceProgram;

describe('cgroup v2 device program', () => {
  const prog = deviceProgram(DEFAULT_DEVICE_RULES.map(parseDeviceRule));

  it('allows the harmless nodes to be read and written', () => {
    for (const [maj, min] of [[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 2], [136, 7], [10, 200]]) {
      expect(run(prog, 'c', maj, min, 'rw'), `c ${maj}:${min}`).toBe(1);
    }
  });

  it('allows mknod of anything, and refuses opening the rest', () => {
    expect(run(prog, 'b', 8, 0, 'm')).toBe(1);
    expect(run(prog, 'c', 1, 1, 'm')).toBe(1);
    expect(run(prog, 'b', 8, 0, 'r')).toBe(0); // the host's first disk
    expect(run(prog, 'c', 1, 1, 'r')).toBe(0); // /dev/mem
    expect(run(prog, 'c', 10, 237, 'rw')).toBe(0); // loop-control
    expect(run(prog, 'b', 1, 3, 'r')).toBe(0); // a block device with null's numbers is not null
    expect(run(prog, 'c', 1, 3, 'rwm')).toBe(1);
  });

  it('adds a --device rule, and an empty rule set refuses everything', () => {
    const kvm = deviceProgram([...DEFAULT_DEVICE_RULES, 'c 10:232 rwm'].map(parseDeviceRule));
    expect(run(kvm, 'c', 10, 232, 'rw')).toBe(1);
    expect(run(prog, 'c', 10, 232, 'rw')).toBe(0);
    expect(run(deviceProgram([]), 'c', 1, 3, 'r')).toBe(0);
  });

  it('refuses a malformed rule', () => {
    expect(() => parseDeviceRule('c 1:3 rx')).toThrow(/bad device rule/);
  });
});

/** An OCI config's rule: "allow c 10:229 rwm", "deny a" ("*" for any number). */
function rule(text: string): DeviceRule {
  const [verb, type, nums = '*:*', access = 'rwm'] = text.split(' ');
  const [major, minor] = nums.split(':').map((n) => (n === '*' ? -1 : Number(n)));
  return { type: type as DeviceRule['type'], major, minor, access, allow: verb === 'allow' };
}

describe("an OCI config's device rules, the last match deciding", () => {
  const ask = (rules: string[], type: 'b' | 'c', major: number, minor: number, access: string) => run(deviceProgram(rules.map(rule)), type, major, minor, access);

  it('deny all, then allows: only those', () => {
    const rules = ['deny a', 'allow c 10:229 rwm', 'allow b 8:20 rw'];
    expect(ask(rules, 'c', 10, 229, 'rw')).toBe(1); // /dev/fuse
    expect(ask(rules, 'b', 8, 20, 'r')).toBe(1);
    expect(ask(rules, 'b', 8, 20, 'm')).toBe(0);
    expect(ask(rules, 'c', 1, 3, 'w')).toBe(0); // /dev/null: nothing allows it
  });

  it('allow all, then denies: everything but those', () => {
    const rules = ['allow a', 'deny c 1:3 w', 'deny b *:* rwm'];
    expect(ask(rules, 'c', 1, 3, 'r')).toBe(1);
    expect(ask(rules, 'c', 1, 3, 'w')).toBe(0);
    expect(ask(rules, 'c', 1, 3, 'rw')).toBe(0); // O_RDWR asks for a refused bit
    expect(ask(rules, 'b', 8, 0, 'r')).toBe(0);
    expect(ask(rules, 'c', 10, 229, 'rw')).toBe(1);
  });

  it('a later rule overrides an earlier one for the bits it names; "a" starts over', () => {
    expect(ask(['deny a', 'allow c 1:3 rwm', 'deny c 1:3 w'], 'c', 1, 3, 'r')).toBe(1);
    expect(ask(['deny a', 'allow c 1:3 rwm', 'deny c 1:3 w'], 'c', 1, 3, 'w')).toBe(0);
    expect(ask(['deny a', 'allow c 1:3 r', 'allow c 1:3 w'], 'c', 1, 3, 'rw')).toBe(1); // two rules, one node: both bits
    expect(ask(['deny a', 'allow c 1:3 rwm', 'allow c *:* rwm', 'deny c *:* rw'], 'c', 1, 3, 'r')).toBe(0); // the wide deny covers it
    expect(ask(['deny a', 'allow c 1:3 rwm', 'allow c *:* rwm', 'deny c *:* rw'], 'c', 1, 3, 'm')).toBe(1);
    expect(ask(['allow c 1:3 rwm', 'deny a'], 'c', 1, 3, 'r')).toBe(0);
    expect(ask(['deny a', 'allow a'], 'b', 8, 0, 'r')).toBe(1);
    expect(ask([], 'c', 1, 3, 'r')).toBe(0); // no rules: nothing allowed (box appends the harmless nodes itself)
  });

  it('"a" with numbers or part of the access is the same rule for c and b', () => {
    expect(devicePolicy([rule('deny a'), rule('allow a 7:* r')])).toEqual({
      defaultAllow: false,
      exceptions: [{ type: 'c', major: 7, minor: -1, access: 'r', allow: true }, { type: 'b', major: 7, minor: -1, access: 'r', allow: true }],
    });
  });

  it('refuses a hole in an earlier, wider rule in one line', () => {
    expect(() => devicePolicy([rule('deny a'), rule('allow c *:* rwm'), rule('deny c 1:3 w')]))
      .toThrow(/^device rule "deny c 1:3 w" cuts a hole in the earlier "allow c \*:\* rwm", which cgroup device rules cannot express; list the narrower allow rules instead of the wide one$/);
    expect(() => devicePolicy([rule('allow a'), rule('deny c 1:* rwm'), rule('allow c *:3 r')])).toThrow(/cuts a hole/);
  });

  it('on cgroup v1: "a" sets the default, then each exception in order', () => {
    const sys = fakeSys();
    writeDeviceRulesV1(sys, '/cg', ['deny a', 'allow c 10:229 rwm', 'allow b 8:20 rw', 'allow b 10:200 r', 'deny b 10:200 r', 'allow c *:* m'].map(rule));
    expect(sys.trace.events.flatMap((e) => (e.kind === 'write' ? [`${e.path} ${e.value}`] : []))).toEqual([
      '/cg/devices.deny a', '/cg/devices.allow c 10:229 rwm', '/cg/devices.allow b 8:20 rw', '/cg/devices.allow c *:* m',
    ]);
    const open = fakeSys();
    writeDeviceRulesV1(open, '/cg', ['allow a', 'deny c 1:3 w', 'allow c 1:3 w', 'deny b *:* rwm'].map(rule));
    expect(open.trace.events.flatMap((e) => (e.kind === 'write' ? [`${e.path} ${e.value}`] : []))).toEqual([
      '/cg/devices.allow a', '/cg/devices.deny b *:* rwm',
    ]);
  });

  it("box's own rules are unchanged: deny all but the harmless nodes", () => {
    const sys = fakeSys();
    writeDeviceRulesV1(sys, '/cg', DEFAULT_DEVICE_RULES.map(parseDeviceRule));
    expect(sys.trace.events.flatMap((e) => (e.kind === 'write' ? [`${e.path.slice(4)} ${e.value}`] : []))).toEqual(['devices.deny a', ...DEFAULT_DEVICE_RULES.map((r) => `devices.allow ${r}`)]);
  });
});
