// A tiny assembler for classic BPF, the virtual machine seccomp filters are written for.
//
// Classic BPF was made for tcpdump (1992); seccomp reused it in 2012 to let a process filter
// its own system calls. A program is an array of 8-byte instructions, the C struct
//     struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; }
// run by the kernel on every system call. The machine has a 32-bit accumulator A, an index
// register X and 16 scratch words M[]. Jumps only go forward (jt/jf count the instructions to
// skip when the test is true/false), so every program ends, and it ends with `ret`.
//
// Here a program is written as a list of lines: instructions from the helpers below, with
// jump targets given as label names, and `label('name')` lines. `assemble` turns the names
// into jt/jf offsets, `encode` into the bytes the kernel takes, `disassemble` back into text.

/** One instruction, as the kernel stores it. */
export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

// Opcode bits from <linux/bpf_common.h>: code = class | size | mode, or class | op | source.
export const BPF_LD = 0x00; // A <- something
export const BPF_LDX = 0x01; // X <- something
export const BPF_ST = 0x02; // M[k] <- A
export const BPF_STX = 0x03; // M[k] <- X
export const BPF_ALU = 0x04; // A <- A op operand
export const BPF_JMP = 0x05; // compare A with the operand, skip jt or jf instructions
export const BPF_RET = 0x06; // end the program with this value
export const BPF_MISC = 0x07; // copy between A and X
export const BPF_W = 0x00; // 32-bit load (the only size seccomp allows)
export const BPF_IMM = 0x00; // operand: the constant k
export const BPF_ABS = 0x20; // operand: the word at byte offset k of the input
export const BPF_MEM = 0x60; // operand: scratch word M[k]
export const BPF_LEN = 0x80; // operand: length of the input
export const BPF_K = 0x00; // ALU/JMP operand is k
export const BPF_X = 0x08; // ALU/JMP operand is X
export const BPF_A = 0x10; // RET returns A
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
export const ALU_OPS = { add: 0x00, sub: 0x10, mul: 0x20, div: 0x30, or: 0x40, and: 0x50, lsh: 0x60, rsh: 0x70, neg: 0x80, mod: 0x90, xor: 0xa0 } as const;
export type AluOp = keyof typeof ALU_OPS;

/** The kernel refuses longer programs (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;

/** An instruction whose jump targets are still label names (undefined: the next instruction). */
export interface SourceInsn {
  kind: 'insn';
  code: number;
  k: number;
  jt?: string;
  jf?: string;
}
export interface Label {
  kind: 'label';
  name: string;
}
export type Line = SourceInsn | Label;

const u32 = (k: number): number => k >>> 0;

/** A place to jump to. */
export const label = (name: string): Label => ({ kind: 'label', name });

/** A <- the 32-bit word at byte `offset` of the input (for seccomp: of struct seccomp_data). */
export const ldAbs = (offset: number): SourceInsn => ({ kind: 'insn', code: BPF_LD | BPF_W | BPF_ABS, k: offset });
/** A <- k */
export const ldImm = (k: number): SourceInsn => ({ kind: 'insn', code: BPF_LD | BPF_IMM, k: u32(k) });
/** A <- A op k, e.g. alu('and', 0xff) */
export const alu = (op: AluOp, k = 0): SourceInsn => ({ kind: 'insn', code: BPF_ALU | ALU_OPS[op] | BPF_K, k: u32(k) });
/** Jump to `to` unconditionally. */
export const ja = (to: string): SourceInsn => ({ kind: 'insn', code: BPF_JMP | BPF_JA, k: 0, jt: to });

const jump = (op: number) => (k: number, ifTrue?: string, ifFalse?: string): SourceInsn => ({
  kind: 'insn',
  code: BPF_JMP | op | BPF_K,
  k: u32(k),
  jt: ifTrue,
  jf: ifFalse,
});
/** if (A == k) goto ifTrue else goto ifFalse (a missing target means the next instruction) */
export const jeq = jump(BPF_JEQ);
/** if (A > k) ... (unsigned) */
export const jgt = jump(BPF_JGT);
/** if (A >= k) ... (unsigned) */
export const jge = jump(BPF_JGE);
/** if (A & k) ... : true when any of the bits of k are set in A */
export const jset = jump(BPF_JSET);
/** End the program: the value is the verdict (for seccomp, an action like SECCOMP_RET_ALLOW). */
export const ret = (k: number): SourceInsn => ({ kind: 'insn', code: BPF_RET | BPF_K, k: u32(k) });

/**
 * Resolve labels into jump offsets. Throws for an unknown or repeated label, a backward jump
 * (classic BPF cannot loop), a conditional jump further than 255 instructions (jt/jf are one
 * byte each), or a program that does not end with `ret`.
 */
export function assemble(lines: Line[]): Insn[] {
  const at = new Map<string, number>();
  let pc = 0;
  for (const line of lines) {
    if (line.kind === 'insn') pc++;
    else if (at.has(line.name)) throw new Error(`bpf: label ${line.name} defined twice`);
    else at.set(line.name, pc);
  }
  const count = pc;
  if (count === 0) throw new Error('bpf: empty program');
  if (count > BPF_MAXINSNS) throw new Error(`bpf: ${count} instructions, the kernel takes at most ${BPF_MAXINSNS}`);

  const out: Insn[] = [];
  const offset = (from: number, name: string | undefined, max: number): number => {
    if (name === undefined) return 0;
    const to = at.get(name);
    if (to === undefined) throw new Error(`bpf: jump to unknown label ${name}`);
    if (to >= count) throw new Error(`bpf: label ${name} is past the last instruction`);
    const skip = to - (from + 1);
    if (skip < 0) throw new Error(`bpf: backward jump to ${name} at ${from} (classic BPF only jumps forward)`);
    if (skip > max) throw new Error(`bpf: jump from ${from} to ${name} skips ${skip} instructions, at most ${max} fit`);
    return skip;
  };
  for (const line of lines) {
    if (line.kind !== 'insn') continue;
    const here = out.length;
    if (line.code === (BPF_JMP | BPF_JA)) {
      out.push({ code: line.code, jt: 0, jf: 0, k: offset(here, line.jt, 0xffffffff) });
    } else if ((line.code & 0x07) === BPF_JMP) {
      out.push({ code: line.code, jt: offset(here, line.jt, 255), jf: offset(here, line.jf, 255), k: line.k });
    } else {
      out.push({ code: line.code, jt: 0, jf: 0, k: line.k });
    }
  }
  if ((out[out.length - 1].code & 0x07) !== BPF_RET) throw new Error('bpf: the program must end with ret');
  return out;
}

/** The bytes of struct sock_filter[]: little-endian, 8 bytes an instruction (x86_64 and arm64 are little-endian). */
export function encode(insns: Insn[]): Buffer {
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach((insn, i) => {
    buf.writeUInt16LE(insn.code, i * 8);
    buf.writeUInt8(insn.jt, i * 8 + 2);
    buf.writeUInt8(insn.jf, i * 8 + 3);
    buf.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return buf;
}

/** The inverse of encode. */
export function decode(buf: Buffer): Insn[] {
  if (buf.length % 8 !== 0) throw new Error(`bpf: ${buf.length} bytes is not a whole number of 8-byte instructions`);
  const insns: Insn[] = [];
  for (let off = 0; off < buf.length; off += 8) {
    insns.push({ code: buf.readUInt16LE(off), jt: buf.readUInt8(off + 2), jf: buf.readUInt8(off + 3), k: buf.readUInt32LE(off + 4) });
  }
  return insns;
}

/** Small numbers (offsets, syscall numbers) read best in decimal, flags and masks in hex. */
function num(k: number): string {
  return k < 0x1000 ? String(k) : `0x${k.toString(16).padStart(8, '0')}`;
}

const ALU_NAMES = new Map<number, string>(Object.entries(ALU_OPS).map(([name, op]) => [op, name]));
const JMP_NAMES = new Map<number, string>([[BPF_JEQ, 'jeq'], [BPF_JGT, 'jgt'], [BPF_JGE, 'jge'], [BPF_JSET, 'jset']]);

/**
 * One instruction in the notation of the kernel's bpf_asm (tools/bpf), with jump targets as
 * absolute instruction numbers: `jeq #165, 80` reads "if A == 165 goto 80, else go on";
 * `jeq #0xc000003e, 3, 2` names both targets.
 */
export function formatInsn(insn: Insn, pc: number): string {
  const { code, jt, jf, k } = insn;
  const cls = code & 0x07;
  const src = code & 0x08 ? 'x' : `#${num(k)}`;
  switch (cls) {
    case BPF_LD:
    case BPF_LDX: {
      const reg = cls === BPF_LD ? 'ld' : 'ldx';
      const mode = code & 0xe0;
      if (mode === BPF_ABS) return `${reg.padEnd(4)} [${k}]`;
      if (mode === BPF_IMM) return `${reg.padEnd(4)} #${num(k)}`;
      if (mode === BPF_MEM) return `${reg.padEnd(4)} M[${k}]`;
      if (mode === BPF_LEN) return `${reg.padEnd(4)} #len`;
      break;
    }
    case BPF_ST:
      return `st   M[${k}]`;
    case BPF_STX:
      return `stx  M[${k}]`;
    case BPF_ALU: {
      const name = ALU_NAMES.get(code & 0xf0);
      if (name === 'neg') return 'neg';
      if (name) return `${name.padEnd(4)} ${src}`;
      break;
    }
    case BPF_JMP: {
      if ((code & 0xf0) === BPF_JA) return `ja   ${pc + 1 + k}`;
      const name = JMP_NAMES.get(code & 0xf0);
      if (!name) break;
      const t = pc + 1 + jt;
      const f = pc + 1 + jf;
      return jf === 0 ? `${name.padEnd(4)} ${src}, ${t}` : `${name.padEnd(4)} ${src}, ${t}, ${f}`;
    }
    case BPF_RET:
      return (code & 0x18) === BPF_A ? 'ret  a' : `ret  #${num(k)}`;
    case BPF_MISC:
      if (code === (BPF_MISC | BPF_TAX)) return 'tax';
      if (code === (BPF_MISC | BPF_TXA)) return 'txa';
      break;
  }
  return `.word 0x${code.toString(16)}, ${jt}, ${jf}, 0x${k.toString(16)}`;
}

/**
 * The program as text, one line an instruction: `  12: jeq  #165, 80   ; mount`. The
 * optional `annotate` adds a comment to a line (seccomp.ts names fields, syscalls, actions).
 */
export function disassemble(program: Buffer | Insn[], annotate?: (insn: Insn, pc: number) => string | undefined): string[] {
  const insns = Buffer.isBuffer(program) ? decode(program) : program;
  const width = String(insns.length - 1).length;
  return insns.map((insn, pc) => {
    const text = `${String(pc).padStart(width)}: ${formatInsn(insn, pc)}`;
    const note = annotate?.(insn, pc);
    return note ? `${text.padEnd(width + 26)} ; ${note}` : text;
  });
}
