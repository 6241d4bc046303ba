// A classic-BPF interpreter that runs a seccomp filter the way the kernel does: over the
// 64-byte struct seccomp_data of one system call. The unit tests run box's real filter
// through it (is mount refused? is read allowed?), and a lesson can show the path a call
// takes through the filter, instruction by instruction.
//
// It accepts what the kernel's seccomp_check_filter() accepts and nothing more: 32-bit loads
// from seccomp_data at aligned offsets, no packet-style byte or half-word loads.

import { BPF_A, BPF_ABS, BPF_ALU, BPF_IMM, BPF_JMP, BPF_LD, BPF_LDX, BPF_LEN, BPF_MEM, BPF_MISC, BPF_RET, BPF_ST, BPF_STX, BPF_TAX, BPF_TXA, BPF_X, decode, formatInsn } from '../../runtime/src/security/bpf.ts';
import type { Insn } from '../../runtime/src/security/bpf.ts';

/** What the kernel tells a filter about a system call (<linux/seccomp.h>). */
export interface SeccompData {
  /** the system call number */
  nr: number;
  /** AUDIT_ARCH_* of the calling convention, e.g. AUDIT_ARCH_X86_64 */
  arch: number;
  instructionPointer?: bigint;
  /** up to six arguments, each a 64-bit register value */
  args?: (bigint | number)[];
}

/** struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }: 64 bytes, native (little) endian. */
export function seccompDataBytes(d: SeccompData): Buffer {
  const buf = Buffer.alloc(64);
  buf.writeInt32LE(d.nr | 0, 0);
  buf.writeUInt32LE(d.arch >>> 0, 4);
  buf.writeBigUInt64LE(BigInt.asUintN(64, d.instructionPointer ?? 0n), 8);
  (d.args ?? []).slice(0, 6).forEach((a, i) => buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(a)), 16 + 8 * i));
  return buf;
}

export interface FilterRun {
  /** the value of the `ret` that ended the program: the seccomp action and its data */
  ret: number;
  /** the instructions executed, in order */
  path: number[];
}

/** Run a filter over one system call and return its verdict (e.g. SECCOMP_RET_ALLOW). */
export function runFilter(program: Buffer | Insn[], data: SeccompData): number {
  return traceFilter(program, data).ret;
}

/** Like runFilter, and also the instructions the call went through. */
export function traceFilter(program: Buffer | Insn[], data: SeccompData): FilterRun {
  const insns = Buffer.isBuffer(program) ? decode(program) : program;
  const input = seccompDataBytes(data);
  const M = new Uint32Array(16);
  let A = 0;
  let X = 0;
  const path: number[] = [];
  const bad = (pc: number, why: string): Error => new Error(`bpf: instruction ${pc} (${formatInsn(insns[pc], pc)}): ${why}`);

  for (let pc = 0; pc < insns.length; pc++) {
    path.push(pc);
    const { code, jt, jf, k } = insns[pc];
    const cls = code & 0x07;
    switch (cls) {
      case BPF_LD:
      case BPF_LDX: {
        let value: number;
        const mode = code & 0xe0;
        const size = code & 0x18;
        if (mode === BPF_ABS && cls === BPF_LD && size === 0) {
          // seccomp_check_filter: only aligned 32-bit loads inside struct seccomp_data
          if (k % 4 !== 0 || k + 4 > input.length) throw bad(pc, `load outside struct seccomp_data (offset ${k})`);
          value = input.readUInt32LE(k);
        } else if (mode === BPF_IMM) value = k >>> 0;
        else if (mode === BPF_MEM && k < 16) value = M[k];
        else if (mode === BPF_LEN) value = input.length;
        else throw bad(pc, 'not allowed in a seccomp filter');
        if (cls === BPF_LD) A = value;
        else X = value;
        break;
      }
      case BPF_ST:
      case BPF_STX:
        if (k >= 16) throw bad(pc, 'scratch memory has 16 words');
        M[k] = cls === BPF_ST ? A : X;
        break;
      case BPF_ALU: {
        const b = code & BPF_X ? X : k >>> 0;
        switch (code & 0xf0) {
          case 0x00: A = (A + b) >>> 0; break;
          case 0x10: A = (A - b) >>> 0; break;
          case 0x20: A = Math.imul(A, b) >>> 0; break;
          case 0x30: if (b === 0) return { ret: 0, path }; A = Math.floor(A / b) >>> 0; break; // division by zero ends the program with 0
          case 0x40: A = (A | b) >>> 0; break;
          case 0x50: A = (A & b) >>> 0; break;
          case 0x60: A = b >= 32 ? 0 : (A << b) >>> 0; break;
          case 0x70: A = b >= 32 ? 0 : A >>> b; break;
          case 0x80: A = -A >>> 0; break;
          case 0x90: if (b === 0) return { ret: 0, path }; A = A % b; break;
          case 0xa0: A = (A ^ b) >>> 0; break;
          default: throw bad(pc, 'unknown ALU operation');
        }
        break;
      }
      case BPF_JMP: {
        const op = code & 0xf0;
        if (op === 0x00) {
          pc += k; // ja: k is a 32-bit forward offset
          break;
        }
        const b = code & BPF_X ? X : k >>> 0;
        let taken: boolean;
        if (op === 0x10) taken = A === b;
        else if (op === 0x20) taken = A > b;
        else if (op === 0x30) taken = A >= b;
        else if (op === 0x40) taken = (A & b) !== 0;
        else throw bad(pc, 'unknown jump');
        pc += taken ? jt : jf;
        break;
      }
      case BPF_RET:
        return { ret: (code & 0x18) === BPF_A ? A : k >>> 0, path };
      case BPF_MISC:
        if (code === (BPF_MISC | BPF_TXA)) A = X;
        else if (code === (BPF_MISC | BPF_TAX)) X = A;
        else throw bad(pc, 'unknown register move');
        break;
      default:
        throw bad(pc, 'unknown instruction class');
    }
  }
  throw new Error('bpf: the program ran past its end without ret');
}
