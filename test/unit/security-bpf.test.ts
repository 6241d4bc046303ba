import { describe, expect, it } from 'vitest';
import {
  alu,
  assemble,
  BPF_ABS,
  BPF_LD,
  decode,
  disassemble,
  encode,
  ja,
  jeq,
  jge,
  jgt,
  jset,
  label,
  ldAbs,
  ldImm,
  ret,
} from '../../runtime/src/security/bpf.ts';
import type { Insn } from '../../runtime/src/security/bpf.ts';
import { runFilter, seccompDataBytes, traceFilter } from '../support/bpf-run.ts';

const ALLOW = 0x7fff0000;
const EPERM = 0x00050001;

/** A small filter: allow nr 0..9 except 3, refuse the rest. */
const small = [
  ldAbs(0),
  jeq(3, 'deny'),
  jge(10, 'deny', 'allow'),
  label('allow'),
  ret(ALLOW),
  label('deny'),
  ret(EPERM),
];

describe('assemble', () => {
  it('turns label names into forward skip counts', () => {
    expect(assemble(small)).toEqual([
      { code: 0x20, jt: 0, jf: 0, k: 0 },
      { code: 0x15, jt: 2, jf: 0, k: 3 },
      { code: 0x35, jt: 1, jf: 0, k: 10 },
      { code: 0x06, jt: 0, jf: 0, k: ALLOW },
      { code: 0x06, jt: 0, jf: 0, k: EPERM },
    ]);
  });

  it('refuses programs the kernel would refuse, or that it cannot encode', () => {
    expect(() => assemble([label('a'), ldAbs(0), jeq(1, 'a'), ret(0)])).toThrow(/backward jump/);
    expect(() => assemble([jeq(1, 'nowhere'), ret(0)])).toThrow(/unknown label nowhere/);
    expect(() => assemble([label('a'), label('a'), ret(0)])).toThrow(/defined twice/);
    expect(() => assemble([ldAbs(0)])).toThrow(/must end with ret/);
    expect(() => assemble([])).toThrow(/empty/);
    expect(() => assemble([jeq(1, 'end'), label('end')])).toThrow(/past the last instruction/);
    const far = [jeq(1, 'end'), ...Array.from({ length: 256 }, () => ldImm(0)), label('end'), ret(0)];
    expect(() => assemble(far)).toThrow(/skips 256 instructions, at most 255/);
    const farJa = [ja('end'), ...Array.from({ length: 300 }, () => ldImm(0)), label('end'), ret(0)];
    expect(assemble(farJa)[0].k).toBe(300); // ja has a 32-bit offset
    expect(() => assemble(Array.from({ length: 4097 }, () => ret(0)))).toThrow(/at most 4096/);
  });
});

describe('encode and decode', () => {
  it('lays out struct sock_filter: u16 code, u8 jt, u8 jf, u32 k, little-endian', () => {
    const bytes = encode(assemble(small));
    expect(bytes.length).toBe(5 * 8);
    expect(bytes.subarray(8, 16).toString('hex')).toBe('1500020003000000'); // jeq #3, jt 2
    expect(bytes.subarray(24, 32).toString('hex')).toBe('060000000000ff7f'); // ret #0x7fff0000
  });

  it('round-trips, and the disassembly of the bytes equals that of the instructions', () => {
    const insns = assemble(small);
    expect(decode(encode(insns))).toEqual(insns);
    expect(disassemble(encode(insns))).toEqual(disassemble(insns));
    expect(() => decode(Buffer.alloc(12))).toThrow(/not a whole number/);
  });
});

describe('disassemble', () => {
  it("reads like the kernel's bpf_asm, with absolute jump targets", () => {
    expect(disassemble(assemble(small))).toEqual([
      '0: ld   [0]',
      '1: jeq  #3, 4',
      '2: jge  #10, 4', // the false target is the next line, so it is not written
      '3: ret  #0x7fff0000',
      '4: ret  #0x00050001',
    ]);
  });

  it('adds the comments an annotator gives', () => {
    const lines = disassemble(assemble(small), (insn) => (insn.code === 0x06 ? 'the end' : undefined));
    expect(lines[3]).toMatch(/^3: ret  #0x7fff0000 +; the end$/);
    expect(lines[0]).toBe('0: ld   [0]');
  });

  it('shows every kind of instruction, and unknown codes as raw words', () => {
    const insns: Insn[] = [
      { code: 0x00, jt: 0, jf: 0, k: 7 }, // ld #7
      { code: 0x61, jt: 0, jf: 0, k: 2 }, // ldx M[2]
      { code: 0x80, jt: 0, jf: 0, k: 0 }, // ld #len
      { code: 0x02, jt: 0, jf: 0, k: 1 }, // st M[1]
      { code: 0x0c, jt: 0, jf: 0, k: 0 }, // add x
      { code: 0x84, jt: 0, jf: 0, k: 0 }, // neg
      { code: 0x05, jt: 0, jf: 0, k: 1 }, // ja
      { code: 0x87, jt: 0, jf: 0, k: 0 }, // txa
      { code: 0x16, jt: 0, jf: 0, k: 0 }, // ret a
      { code: 0xff, jt: 1, jf: 2, k: 3 },
    ];
    expect(disassemble(insns).map((l) => l.slice(3))).toEqual([
      'ld   #7', 'ldx  M[2]', 'ld   #len', 'st   M[1]', 'add  x', 'neg', 'ja   8', 'txa', 'ret  a', '.word 0xff, 1, 2, 0x3',
    ]);
  });
});

describe('the interpreter', () => {
  const seccompData = (nr: number) => ({ nr, arch: 0xc000003e });

  it('runs the small filter the way its source reads', () => {
    const p = assemble(small);
    expect(runFilter(p, seccompData(0))).toBe(ALLOW);
    expect(runFilter(p, seccompData(3))).toBe(EPERM);
    expect(runFilter(p, seccompData(9))).toBe(ALLOW);
    expect(runFilter(p, seccompData(10))).toBe(EPERM);
    expect(runFilter(encode(p), seccompData(3))).toBe(EPERM);
    expect(traceFilter(p, seccompData(3)).path).toEqual([0, 1, 4]);
  });

  it('lays out struct seccomp_data as the kernel does', () => {
    const bytes = seccompDataBytes({ nr: 59, arch: 0xc000003e, instructionPointer: 0x401000n, args: [1n, -1, 0x1_0000_0002n] });
    expect(bytes.length).toBe(64);
    expect(bytes.readInt32LE(0)).toBe(59);
    expect(bytes.readUInt32LE(4)).toBe(0xc000003e);
    expect(bytes.readBigUInt64LE(8)).toBe(0x401000n);
    expect(bytes.readBigUInt64LE(16)).toBe(1n);
    expect(bytes.readBigUInt64LE(24)).toBe(0xffffffffffffffffn);
    expect(bytes.readUInt32LE(32)).toBe(2); // low half of args[2] first
    expect(bytes.readUInt32LE(36)).toBe(1);
  });

  it('does arithmetic, scratch memory and register moves', () => {
    const run = (lines: Parameters<typeof assemble>[0]) => runFilter(assemble(lines), seccompData(5));
    expect(run([ldAbs(0), alu('mul', 3), alu('add', 1), { kind: 'insn', code: 0x16, k: 0 }])).toBe(16); // ret a
    expect(run([ldAbs(0), alu('lsh', 4), alu('or', 1), alu('xor', 0xff), alu('and', 0xf0), { kind: 'insn', code: 0x16, k: 0 }])).toBe(0xa0);
    expect(run([ldImm(7), { kind: 'insn', code: 0x02, k: 3 }, ldImm(0), { kind: 'insn', code: 0x60, k: 3 }, { kind: 'insn', code: 0x16, k: 0 }])).toBe(7);
    expect(run([{ kind: 'insn', code: 0x80, k: 0 }, { kind: 'insn', code: 0x16, k: 0 }])).toBe(64); // ld #len
    expect(run([ldImm(9), { kind: 'insn', code: 0x07, k: 0 }, ldImm(0), { kind: 'insn', code: 0x87, k: 0 }, { kind: 'insn', code: 0x16, k: 0 }])).toBe(9); // tax, txa
    expect(run([ldAbs(0), jgt(4, 'yes'), ret(1), label('yes'), ret(2)])).toBe(2);
    expect(run([ldAbs(0), jset(4, 'yes'), ret(1), label('yes'), ret(2)])).toBe(2);
    expect(run([ldAbs(0), jset(2, 'yes'), ret(1), label('yes'), ret(2)])).toBe(1);
    expect(run([ldImm(1), { kind: 'insn', code: 0x07, k: 0 }, ldImm(0), { kind: 'insn', code: 0x3c, k: 0 }, ret(5)])).toBe(5); // div x (1)
    expect(run([ldImm(1), { kind: 'insn', code: 0x07, k: 0 }, ldImm(8), ldImm(0), { kind: 'insn', code: 0x07, k: 0 }, { kind: 'insn', code: 0x3c, k: 0 }, ret(5)])).toBe(0); // div by X=0 ends with 0
  });

  it('refuses what seccomp_check_filter refuses', () => {
    const run = (code: number, k: number) => () => runFilter([{ code, jt: 0, jf: 0, k }, { code: 0x06, jt: 0, jf: 0, k: 0 }], seccompData(0));
    expect(run(BPF_LD | 0x08 | BPF_ABS, 0)).toThrow(/not allowed in a seccomp filter/); // 16-bit load
    expect(run(BPF_LD | 0x10 | BPF_ABS, 0)).toThrow(/not allowed/); // byte load
    expect(run(BPF_LD | BPF_ABS, 2)).toThrow(/outside struct seccomp_data/); // misaligned
    expect(run(BPF_LD | BPF_ABS, 64)).toThrow(/outside struct seccomp_data/);
    expect(run(0x40, 0)).toThrow(/not allowed/); // ld [x + k]
    expect(() => runFilter([{ code: 0x00, jt: 0, jf: 0, k: 0 }], seccompData(0))).toThrow(/without ret/);
  });
});
