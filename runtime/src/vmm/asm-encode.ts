// Instruction encodings: from one parsed instruction to its bytes, for the x86 subset the
// lesson guests use. References: Intel SDM vol. 2, chapter 2 (instruction format) and the
// opcode tables of chapters 3-5.
//
// An x86 instruction is, in order:
//   [prefixes] [REX] opcode [ModRM] [SIB] [displacement] [immediate]
// - 0x66 switches the operand size between 16 and 32 bits (whichever is not the mode's
//   default); REX (0x40-0x4f, 64-bit mode only) sets 64-bit operands (W) and reaches
//   registers r8-r15 (R, X, B).
// - ModRM = mod(2 bits) reg(3) rm(3): mod 3 means rm is a register; otherwise rm (with SIB
//   and a displacement) describes a memory address, and reg is the other register operand or
//   an opcode extension (the "/2" in "0F 01 /2").

import { AsmError, evaluate, type Env, type Operand, type Reg, type Value } from './asm-parse.ts';

export interface EncodeContext {
  bits: 16 | 32 | 64;
  env: Env;
}

/** What an instruction needs remembered between passes: whether its jump had to be long. */
export interface InsnState {
  long?: boolean;
}

type Bytes = number[];

const JCC: Record<string, number> = {
  jo: 0x0, jno: 0x1, jb: 0x2, jc: 0x2, jnae: 0x2, jae: 0x3, jnb: 0x3, jnc: 0x3,
  je: 0x4, jz: 0x4, jne: 0x5, jnz: 0x5, jbe: 0x6, jna: 0x6, ja: 0x7, jnbe: 0x7,
  js: 0x8, jns: 0x9, jp: 0xa, jpe: 0xa, jnp: 0xb, jpo: 0xb,
  jl: 0xc, jnge: 0xc, jge: 0xd, jnl: 0xd, jle: 0xe, jng: 0xe, jg: 0xf, jnle: 0xf,
};

/** The eight arithmetic operations share one encoding scheme; this is their number in it. */
const ALU: Record<string, number> = { add: 0, or: 1, adc: 2, sbb: 3, and: 4, sub: 5, xor: 6, cmp: 7 };

/** Group 3 (F6/F7) and the shift group (C0/C1/D0/D1): the opcode extension in ModRM.reg. */
const UNARY: Record<string, number> = { not: 2, neg: 3, mul: 4, div: 6, idiv: 7 };
const SHIFT: Record<string, number> = { rol: 0, ror: 1, shl: 4, sal: 4, shr: 5, sar: 7 };

/** Instructions with no operands: their whole encoding. */
const FIXED: Record<string, Bytes> = {
  hlt: [0xf4], cli: [0xfa], sti: [0xfb], nop: [0x90], cld: [0xfc], std: [0xfd], clc: [0xf8], stc: [0xf9],
  lodsb: [0xac], stosb: [0xaa], movsb: [0xa4], outsb: [0x6e], insb: [0x6c], int3: [0xcc],
  ret: [0xc3], pushf: [0x9c], popf: [0x9d],
  fninit: [0xdb, 0xe3], fldz: [0xd9, 0xee],
  wrmsr: [0x0f, 0x30], rdtsc: [0x0f, 0x31], rdmsr: [0x0f, 0x32], cpuid: [0x0f, 0xa2], ud2: [0x0f, 0x0b],
};
/** String instructions whose operand size is in the name. */
const SIZED_STRING: Record<string, [number, number]> = {
  lodsw: [0xad, 16], lodsd: [0xad, 32], lodsq: [0xad, 64],
  stosw: [0xab, 16], stosd: [0xab, 32], stosq: [0xab, 64],
  outsw: [0x6f, 16], outsd: [0x6f, 32],
};
const PREFIX_BYTES: Record<string, number> = { rep: 0xf3, repe: 0xf3, repz: 0xf3, repne: 0xf2, repnz: 0xf2, lock: 0xf0 };
const SEGMENT_PREFIX: Record<string, number> = { es: 0x26, cs: 0x2e, ss: 0x36, ds: 0x3e, fs: 0x64, gs: 0x65 };

export function encodeInstruction(
  mnemonic: string, prefixes: string[], ops: Operand[], ctx: EncodeContext, state: InsnState,
): Bytes {
  const head = prefixes.map((p) => PREFIX_BYTES[p]);
  return [...head, ...encode(mnemonic, ops, ctx, state)];
}

function encode(m: string, ops: Operand[], ctx: EncodeContext, state: InsnState): Bytes {
  const line = ctx.env.line;
  const fail = (why: string): never => {
    throw new AsmError(line, `${m}: ${why}`);
  };
  const need = (n: number) => {
    if (ops.length !== n) fail(`takes ${n === 0 ? 'no' : n} operand${n === 1 ? '' : 's'}`);
  };

  if (m in FIXED) {
    need(0);
    return FIXED[m];
  }
  if (m in SIZED_STRING) {
    need(0);
    const [op, size] = SIZED_STRING[m];
    return [...sizePrefix(size, ctx, line), op];
  }
  if (m in ALU) return alu(ALU[m], ops, ctx, fail);
  if (m in JCC) return jump(0x70 + JCC[m], ops, ctx, state, fail);
  if (m in UNARY || m === 'inc' || m === 'dec') {
    need(1);
    const [o] = ops;
    const size = operandSize(o, undefined, fail);
    const ext = m === 'inc' ? 0 : m === 'dec' ? 1 : UNARY[m];
    const base = m === 'inc' || m === 'dec' ? 0xfe : 0xf6;
    return withModRM([base + (size === 8 ? 0 : 1)], o, ext, size, ctx);
  }
  if (m in SHIFT) {
    need(2);
    const [o, count] = ops;
    const size = operandSize(o, undefined, fail);
    if (count.kind !== 'imm') return fail('the shift count must be a number');
    const n = value(count, ctx).value;
    if (n === 1n) return withModRM([size === 8 ? 0xd0 : 0xd1], o, SHIFT[m], size, ctx);
    return [...withModRM([size === 8 ? 0xc0 : 0xc1], o, SHIFT[m], size, ctx), ...imm(n, 8, line)];
  }
  switch (m) {
    case 'mov':
      return mov(ops, ctx, fail);
    case 'test': {
      need(2);
      const [a, b] = ops;
      const size = operandSize(a, b, fail);
      if (b.kind === 'reg') return withModRM([size === 8 ? 0x84 : 0x85], a, b.reg.code, size, ctx, b.reg);
      if (b.kind !== 'imm') return fail('test takes a register or memory, then a register or number');
      const v = value(b, ctx).value;
      if (a.kind === 'reg' && a.reg.code === 0) return [...sizePrefix(size, ctx, line), ...rex(size, 0, 0, ctx), size === 8 ? 0xa8 : 0xa9, ...imm(v, Math.min(size, 32), line)];
      return [...withModRM([size === 8 ? 0xf6 : 0xf7], a, 0, size, ctx), ...imm(v, Math.min(size, 32), line)];
    }
    case 'xchg': {
      need(2);
      const [a, b] = ops;
      if (b.kind !== 'reg') return fail('the second operand must be a register');
      const size = operandSize(a, b, fail);
      return withModRM([size === 8 ? 0x86 : 0x87], a, b.reg.code, size, ctx, b.reg);
    }
    case 'push':
    case 'pop': {
      need(1);
      const [o] = ops;
      if (o.kind !== 'reg' || o.reg.kind !== 'gpr' || o.reg.size === 8) return fail('push and pop take a 16/32/64-bit register here');
      // In 64-bit mode push and pop are 64-bit by default (and cannot be 32-bit).
      const size = o.reg.size;
      if (ctx.bits === 64 && size === 32) fail('in 64-bit mode, push the 64-bit register');
      const pfx = ctx.bits === 64 ? (size === 16 ? [0x66] : []) : sizePrefix(size, ctx, line);
      const r = o.reg.code >= 8 ? [0x41] : [];
      return [...pfx, ...r, (m === 'push' ? 0x50 : 0x58) + (o.reg.code & 7)];
    }
    case 'out':
    case 'in': {
      need(2);
      // out dx, al / out imm8, al ; in al, dx / in al, imm8. The accumulator's width is the access width.
      const [port, acc] = m === 'out' ? ops : [ops[1], ops[0]];
      if (acc.kind !== 'reg' || acc.reg.kind !== 'gpr' || acc.reg.code !== 0 || acc.reg.size === 64) {
        return fail('the data register must be al, ax or eax');
      }
      const size = acc.reg.size;
      const pfx = sizePrefix(size, ctx, line);
      const wide = size === 8 ? 0 : 1;
      if (port.kind === 'reg' && port.reg.name === 'dx') return [...pfx, (m === 'out' ? 0xee : 0xec) + wide];
      if (port.kind === 'imm') {
        const p = value(port, ctx).value;
        if (p < 0n || p > 255n) fail('a port number above 255 must be in dx');
        return [...pfx, (m === 'out' ? 0xe6 : 0xe4) + wide, Number(p)];
      }
      return fail('the port must be dx or a number up to 255');
    }
    case 'jmp': {
      need(1);
      const [t] = ops;
      if (t.kind === 'far') return farJump(t, ctx, fail);
      return jump(0xeb, ops, ctx, state, fail);
    }
    case 'call': {
      need(1);
      if (ops[0].kind !== 'imm') fail('call takes a label');
      const width = ctx.bits === 16 ? 16 : 32;
      return [0xe8, ...imm(relative(ops[0], ctx, 1 + width / 8), width, line)];
    }
    case 'loop': {
      need(1);
      if (ops[0].kind !== 'imm') return fail('loop takes a label');
      const rel = relative(ops[0], ctx, 2);
      if (!fitsSigned(rel, 8) && !ctx.env.strict) return [0xe2, 0];
      if (!fitsSigned(rel, 8)) fail(`the target is ${rel} bytes away; loop reaches only -128..127`);
      return [0xe2, Number(BigInt.asUintN(8, rel))];
    }
    case 'int': {
      need(1);
      if (ops[0].kind !== 'imm') return fail('int takes a vector number');
      return [0xcd, ...imm(value(ops[0], ctx).value, 8, line)];
    }
    case 'lgdt':
    case 'lidt': {
      need(1);
      if (ops[0].kind !== 'mem') return fail('takes a memory operand: the 6-byte (10 in 64-bit mode) limit and base');
      return withModRM([0x0f, 0x01], ops[0], m === 'lgdt' ? 2 : 3, 0, ctx);
    }
  }
  return fail('not an instruction this assembler knows');
}

// ---- operand sizes and prefixes -----------------------------------------------------------

function operandSize(a: Operand, b: Operand | undefined, fail: (why: string) => never): number {
  const size = (o: Operand | undefined) => (o?.kind === 'reg' ? o.reg.size : o?.kind === 'mem' || o?.kind === 'imm' ? o.size : undefined);
  const sa = size(a);
  const sb = size(b);
  if (sa && sb && sa !== sb && b?.kind === 'reg') fail(`operand sizes differ (${sa} and ${sb} bits)`);
  const s = sa ?? sb;
  if (!s) return fail("say the size of the memory operand: byte, word, dword or qword, e.g. 'mov word [x], 1'");
  return s;
}

/** 0x66 when the operand size is the one the mode does not default to. */
function sizePrefix(size: number, ctx: EncodeContext, line: number): Bytes {
  if (size === 64 && ctx.bits !== 64) throw new AsmError(line, '64-bit operands exist only in 64-bit code (bits 64)');
  if (size === 16 && ctx.bits !== 16) return [0x66];
  if (size === 32 && ctx.bits === 16) return [0x66];
  return [];
}

/** The REX prefix if one is needed: W for 64-bit operands, R and B for registers 8-15. */
function rex(size: number, regCode: number, rmCode: number, ctx: EncodeContext, index = 0): Bytes {
  const w = size === 64 ? 8 : 0;
  const r = regCode >= 8 ? 4 : 0;
  const x = index >= 8 ? 2 : 0;
  const b = rmCode >= 8 ? 1 : 0;
  if (!(w | r | x | b)) return [];
  if (ctx.bits !== 64) throw new AsmError(ctx.env.line, 'registers r8-r15 and 64-bit operands exist only in 64-bit code');
  return [0x40 | w | r | x | b];
}

/**
 * Prefixes + opcode + ModRM (+ SIB + displacement) for an instruction whose rm operand is `o`
 * (a register or memory) and whose ModRM.reg field is `regField`. `size` 0 = no operand-size
 * prefix (lgdt, mov to a control register).
 */
function withModRM(opcode: Bytes, o: Operand, regField: number, size: number, ctx: EncodeContext, regOperand?: Reg): Bytes {
  const line = ctx.env.line;
  const pfx = size ? sizePrefix(size, ctx, line) : [];
  if (o.kind === 'reg') {
    if (o.reg.kind !== 'gpr') throw new AsmError(line, `${o.reg.name} cannot be used here`);
    return [...pfx, ...rex(size, regOperand?.code ?? 0, o.reg.code, ctx), ...opcode, modrm(3, regField, o.reg.code)];
  }
  if (o.kind !== 'mem') throw new AsmError(line, 'expected a register or a memory operand');
  const addr = address(o, regField, ctx);
  return [...addr.prefixes, ...pfx, ...rex(size, regOperand?.code ?? 0, addr.baseCode, ctx), ...opcode, ...addr.bytes];
}

function modrm(mod: number, reg: number, rm: number): number {
  return (mod << 6) | ((reg & 7) << 3) | (rm & 7);
}

/** ModRM, SIB and displacement for a memory operand, in 16-bit or 32/64-bit addressing. */
function address(o: Extract<Operand, { kind: 'mem' }>, reg: number, ctx: EncodeContext): { prefixes: Bytes; bytes: Bytes; baseCode: number } {
  const line = ctx.env.line;
  const prefixes = o.segment ? [SEGMENT_PREFIX[o.segment.name]] : [];
  const d: Value = o.disp ? evaluate(o.disp, ctx.env) : { value: 0n, constant: true, unknown: false };
  const short = d.constant && fitsSigned(d.value, 8);
  if (ctx.bits === 16) {
    // 16-bit addressing: the rm field names one of eight fixed base/index combinations.
    const names = o.regs.map((r) => r.name).sort().join('+');
    const RM16: Record<string, number> = { 'bx+si': 0, 'bx+di': 1, 'bp+si': 2, 'bp+di': 3, si: 4, di: 5, bp: 6, bx: 7 };
    if (!names) return { prefixes, bytes: [modrm(0, reg, 6), ...imm(d.value, 16, line)], baseCode: 0 };
    if (!(names in RM16)) throw new AsmError(line, `[${names}]: 16-bit code addresses memory with bx, bp, si, di or bx/bp plus si/di`);
    const rm = RM16[names];
    if (d.constant && d.value === 0n && rm !== 6) return { prefixes, bytes: [modrm(0, reg, rm)], baseCode: 0 };
    if (short) return { prefixes, bytes: [modrm(1, reg, rm), ...imm(d.value, 8, line)], baseCode: 0 };
    return { prefixes, bytes: [modrm(2, reg, rm), ...imm(d.value, 16, line)], baseCode: 0 };
  }
  if (o.regs.length > 1) throw new AsmError(line, 'only [register + displacement] addresses are supported in 32/64-bit code');
  const base = o.regs[0];
  if (!base) {
    // An absolute address. In 64-bit mode rm=101 means RIP-relative, so an absolute
    // address takes the SIB form "no base, no index".
    if (ctx.bits === 64) return { prefixes, bytes: [modrm(0, reg, 4), 0x25, ...imm(d.value, 32, line)], baseCode: 0 };
    return { prefixes, bytes: [modrm(0, reg, 5), ...imm(d.value, 32, line)], baseCode: 0 };
  }
  if (base.size !== ctx.bits) throw new AsmError(line, `[${base.name}]: in ${ctx.bits}-bit code, address memory with ${ctx.bits}-bit registers`);
  const low = base.code & 7;
  const sib = low === 4 ? [0x24] : []; // rsp/r12 as a base needs a SIB byte
  if (d.constant && d.value === 0n && low !== 5) return { prefixes, bytes: [modrm(0, reg, low), ...sib], baseCode: base.code };
  if (short) return { prefixes, bytes: [modrm(1, reg, low), ...sib, ...imm(d.value, 8, line)], baseCode: base.code };
  return { prefixes, bytes: [modrm(2, reg, low), ...sib, ...imm(d.value, 32, line)], baseCode: base.code };
}

// ---- values -------------------------------------------------------------------------------

function value(o: Operand, ctx: EncodeContext): Value {
  if (o.kind !== 'imm') throw new AsmError(ctx.env.line, 'expected a number');
  return evaluate(o.expr, ctx.env);
}

export function fitsSigned(v: bigint, bits: number): boolean {
  const lim = 1n << BigInt(bits - 1);
  return v >= -lim && v < lim;
}

/** Little-endian bytes of v in `bits` bits; v must fit as signed or unsigned. */
function imm(v: bigint, bits: number, line: number): Bytes {
  if (v >= 1n << BigInt(bits) || v < -(1n << BigInt(bits - 1))) {
    throw new AsmError(line, `${v} does not fit in ${bits} bits`);
  }
  const u = BigInt.asUintN(bits, v);
  const out: Bytes = [];
  for (let i = 0; i < bits / 8; i++) out.push(Number((u >> BigInt(8 * i)) & 0xffn));
  return out;
}

/** Target minus the address after the instruction (which is `length` bytes long). */
function relative(o: Operand, ctx: EncodeContext, length: number): bigint {
  return value(o, ctx).value - (ctx.env.here + BigInt(length));
}

// ---- instruction groups -------------------------------------------------------------------

function alu(n: number, ops: Operand[], ctx: EncodeContext, fail: (why: string) => never): Bytes {
  if (ops.length !== 2) return fail('takes 2 operands');
  const [dst, src] = ops;
  const size = operandSize(dst, src, fail);
  const line = ctx.env.line;
  const wide = size === 8 ? 0 : 1;
  if (src.kind === 'reg') return withModRM([n * 8 + wide], dst, src.reg.code, size, ctx, src.reg);
  if (src.kind === 'mem') {
    if (dst.kind !== 'reg') return fail('x86 has no memory-to-memory form');
    return withModRM([n * 8 + 2 + wide], src, dst.reg.code, size, ctx, dst.reg);
  }
  if (src.kind !== 'imm') return fail('bad source operand');
  const v = value(src, ctx);
  const immBits = Math.min(size, 32);
  // A number written in the source that fits in a signed byte gets the short form (83 /n ib,
  // sign-extended); an address never does, because it may still move between passes.
  if (size > 8 && v.constant && fitsSigned(v.value, 8)) return [...withModRM([0x83], dst, n, size, ctx), ...imm(v.value, 8, line)];
  if (dst.kind === 'reg' && dst.reg.code === 0) {
    // al/ax/eax/rax have their own one-byte opcodes
    return [...sizePrefix(size, ctx, line), ...rex(size, 0, 0, ctx), n * 8 + 4 + wide, ...imm(v.value, immBits, line)];
  }
  return [...withModRM([size === 8 ? 0x80 : 0x81], dst, n, size, ctx), ...imm(v.value, immBits, line)];
}

function mov(ops: Operand[], ctx: EncodeContext, fail: (why: string) => never): Bytes {
  if (ops.length !== 2) return fail('takes 2 operands');
  const [dst, src] = ops;
  const line = ctx.env.line;
  // Control registers: 0F 22 (to CR) / 0F 20 (from CR). Their operand is always the mode's
  // natural width (32 bits in 16/32-bit code, 64 in 64-bit code), with no 0x66 prefix.
  const toCr = dst.kind === 'reg' && dst.reg.kind === 'cr';
  const fromCr = src.kind === 'reg' && src.reg.kind === 'cr';
  if (toCr || fromCr) {
    const [cr, gpr] = toCr ? [(dst as { reg: Reg }).reg, src] : [(src as { reg: Reg }).reg, dst];
    const width = ctx.bits === 64 ? 64 : 32;
    if (gpr.kind !== 'reg' || gpr.reg.kind !== 'gpr' || gpr.reg.size !== width) return fail(`${cr.name} moves to and from a ${width}-bit register`);
    const r = gpr.reg.code >= 8 ? [0x41] : [];
    return [...r, 0x0f, toCr ? 0x22 : 0x20, modrm(3, cr.code, gpr.reg.code)];
  }
  // Segment registers: 8E /r (to segment) / 8C /r (from segment).
  if (dst.kind === 'reg' && dst.reg.kind === 'seg') {
    if (src.kind === 'reg' && src.reg.size !== 16) return fail(`${dst.reg.name} loads from a 16-bit register`);
    if (dst.reg.name === 'cs') return fail('cs changes only with a far jump');
    return withModRM([0x8e], src, dst.reg.code, 0, ctx);
  }
  if (src.kind === 'reg' && src.reg.kind === 'seg') {
    return withModRM([0x8c], dst, src.reg.code, 0, ctx);
  }
  const size = operandSize(dst, src, fail);
  const wide = size === 8 ? 0 : 1;
  if (dst.kind === 'reg' && src.kind === 'imm') {
    // B0+r ib / B8+r iw/id; with REX.W, B8+r takes a full 64-bit immediate ("movabs").
    const v = value(src, ctx).value;
    return [...sizePrefix(size, ctx, line), ...rex(size, 0, dst.reg.code, ctx), (size === 8 ? 0xb0 : 0xb8) + (dst.reg.code & 7), ...imm(v, size, line)];
  }
  if (src.kind === 'reg') return withModRM([0x88 + wide], dst, src.reg.code, size, ctx, src.reg);
  if (dst.kind === 'reg' && src.kind === 'mem') return withModRM([0x8a + wide], src, dst.reg.code, size, ctx, dst.reg);
  if (dst.kind === 'mem' && src.kind === 'imm') {
    const v = value(src, ctx).value;
    return [...withModRM([0xc6 + wide], dst, 0, size, ctx), ...imm(v, Math.min(size, 32), line)];
  }
  return fail('x86 has no memory-to-memory mov');
}

/**
 * jmp (EB/E9) and jcc (70+cc / 0F 80+cc). A jump starts short (a signed byte of distance);
 * when its target turns out farther than -128..127 bytes, it becomes near (16 or 32 bits)
 * and stays near, and the passes run again because everything after it moved.
 */
function jump(shortOp: number, ops: Operand[], ctx: EncodeContext, state: InsnState, fail: (why: string) => never): Bytes {
  if (ops.length !== 1 || ops[0].kind !== 'imm') return fail('takes a label');
  const target = ops[0];
  const line = ctx.env.line;
  const width = ctx.bits === 16 ? 16 : 32;
  const isJmp = shortOp === 0xeb;
  const nearOp = isJmp ? [0xe9] : [0x0f, shortOp + 0x10];
  if (target.distance === 'near') state.long = true;
  if (!state.long) {
    const v = value(target, ctx);
    const rel = v.value - (ctx.env.here + 2n);
    if (v.unknown || fitsSigned(rel, 8)) return [shortOp, v.unknown ? 0 : Number(BigInt.asUintN(8, rel))];
    if (target.distance === 'short') fail(`the target is ${rel} bytes away, too far for a short jump`);
    state.long = true;
  }
  const length = nearOp.length + width / 8;
  return [...nearOp, ...imm(relative(target, ctx, length), width, line)];
}

/** jmp selector:offset: load CS from the GDT and jump, the way into protected and long mode. */
function farJump(t: Extract<Operand, { kind: 'far' }>, ctx: EncodeContext, fail: (why: string) => never): Bytes {
  if (ctx.bits === 64) return fail('64-bit code has no direct far jump');
  const line = ctx.env.line;
  const sel = evaluate(t.selector, ctx.env).value;
  const off = evaluate(t.offset, ctx.env).value;
  const width = ctx.bits === 16 ? 16 : 32;
  return [0xea, ...imm(off, width, line), ...imm(sel, 16, line)];
}
