// The cgroup v2 device program: box compiles Docker's device rules into eBPF. Here a small
// interpreter of the instructions it uses runs the program the kernel would run, for opens and
// mknods of several devices; test/integration/runtime.test.ts checks the same in a real kernel
// (in the cgroup v2 guest).

import { describe, expect, it } from 'vitest';
import { DEFAULT_DEVICE_RULES, deviceProgram, parseDeviceRule } from '../../runtime/src/cgroups/devices.ts';

/** Run an eBPF device program on bpf_cgroup_dev_ctx { access_type, major, minor }. */
function run(prog: Buffer, type: 'b' | 'c', major: number, minor: number, access: string): number {
  const ctx = [((([...access].reduce((m, c) => m | ({ m: 1, r: 2, w: 4 } as Record<string, number>)[c], 0)) << 16) | (type === 'b' ? 1 : 2)) >>> 0, major, minor];
  const r = new Array<bigint>(11).fill(0n);
  for (let pc = 0, steps = 0; steps < 10_000; steps++) {
    const code = prog.readUInt8(pc * 8), dst = prog.readUInt8(pc * 8 + 1) & 15, src = prog.readUInt8(pc * 8 + 1) >> 4;
    const off = prog.readInt16LE(pc * 8 + 2), imm = BigInt(prog.readInt32LE(pc * 8 + 4));
    const u64 = (v: bigint) => BigInt.asUintN(64, v);
    pc++;
    switch (code) {
      case 0x61: expect(src).toBe(1); r[dst] = BigInt(ctx[off / 4]); break; // ldx w from the context
      case 0xbf: r[dst] = r[src]; break;
      case 0xb7: r[dst] = u64(imm); break;
      case 0x57: r[dst] = r[dst] & u64(imm); break;
      case 0x77: r[dst] = r[dst] >> imm; break;
      case 0x55: if (r[dst] !== u64(imm)) pc += off; break;
      case 0x95: return Number(r[0]);
      default: throw new Error(`unexpected opcode 0x${code.toString(16)}`);
    }
    expect(pc).toBeLessThan(prog.length / 8); // never runs off the end: the verifier would refuse it
  }
  throw new Error('no exit');
}

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
