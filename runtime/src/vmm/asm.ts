// A small x86 assembler, so that the lesson guests are readable source in this repository
// rather than opaque bytes. It knows the instructions the guests use, in 16-bit real mode,
// 32-bit protected mode and 64-bit long mode, with NASM's Intel syntax:
//
//   bits 16                       ; the mode the following code runs in
//   org 0x7c00                    ; the address the first byte is loaded at
//   COM1 equ 0x3f8                ; a named constant
//   start:  mov dx, COM1          ; labels end with ':'; '.name' is local to the last label
//           mov al, 'H'
//           out dx, al
//   msg:    db "Hello", 10, 0     ; data: db/dw/dd/dq, strings in double quotes
//           align 4096            ; pad with zeros to a multiple of 4096
//
// Labels can be used before they are defined, so it assembles in passes: each pass places
// every statement using the label addresses of the pass before, until nothing moves.
// (A jump to a far label grows from 2 to 3-6 bytes, which moves everything after it.)

import { encodeInstruction, type InsnState } from './asm-encode.ts';
import { AsmError, evaluate, parseSource, type Env, type Statement } from './asm-parse.ts';

export { AsmError } from './asm-parse.ts';

export interface ListingLine {
  /** Guest address of the first byte. */
  address: number;
  bytes: Uint8Array;
  /** 1-based line in the source. */
  line: number;
  source: string;
}

export interface Program {
  /** Where the image is meant to be loaded (the first `org`). */
  origin: number;
  image: Uint8Array;
  /** Labels and equ constants, by name. */
  symbols: Map<string, bigint>;
  /** Each instruction and data line with its address and bytes, for listings and reports. */
  listing: ListingLine[];
}

const MAX_PASSES = 20;

export function assemble(source: string): Program {
  const statements = parseSource(source);
  const lines = source.split('\n');
  const states = new Map<Statement, InsnState>();
  const equPositions = new Map<string, bigint>();
  let labels = new Map<string, bigint>();

  // Place everything until the labels stop moving, then emit once more with every symbol
  // required to exist.
  for (let pass = 0; ; pass++) {
    if (pass === MAX_PASSES) throw new AsmError(1, `labels did not settle after ${MAX_PASSES} passes`);
    const result = run(statements, labels, states, equPositions, false, lines);
    const settled = sameMap(labels, result.labels);
    labels = result.labels;
    if (settled && pass > 0) break;
  }
  return run(statements, labels, states, equPositions, true, lines).program;
}

function sameMap(a: Map<string, bigint>, b: Map<string, bigint>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

function run(
  statements: Statement[], previous: Map<string, bigint>, states: Map<Statement, InsnState>,
  equPositions: Map<string, bigint>, strict: boolean, lines: string[],
): { labels: Map<string, bigint>; program: Program } {
  const labels = new Map<string, bigint>();
  const equs = new Map<string, Statement & { kind: 'equ' }>();
  for (const s of statements) if (s.kind === 'equ') equs.set(s.name, s);
  const out: number[] = [];
  const listing: ListingLine[] = [];
  let origin: bigint | undefined;
  let bits: 16 | 32 | 64 = 16;
  let line = 0;
  let here = 0n;
  const resolving = new Set<string>();

  const env: Env = {
    get here() {
      return here;
    },
    get line() {
      return line;
    },
    strict,
    lookup(name) {
      // A label defined earlier in this pass, else its address from the previous pass.
      const label = labels.get(name) ?? previous.get(name);
      if (label !== undefined) return { value: label, isLabel: true };
      const equ = equs.get(name);
      if (!equ) return undefined;
      if (resolving.has(name)) throw new AsmError(equ.line, `'${name}' is defined in terms of itself`);
      resolving.add(name);
      try {
        // `$` in a constant means where the constant was defined (`len equ $ - msg`).
        const at = equPositions.get(name) ?? 0n;
        const v = evaluate(equ.expr, { here: at, line: equ.line, strict, lookup: env.lookup });
        return v.unknown ? undefined : { value: v.value, isLabel: !v.constant };
      } finally {
        resolving.delete(name);
      }
    },
  };

  const emit = (bytes: number[], s: Statement) => {
    if (origin === undefined) origin = 0n;
    listing.push({ address: Number(here), bytes: Uint8Array.from(bytes), line: s.line, source: lines[s.line - 1].trim() });
    out.push(...bytes);
    here += BigInt(bytes.length);
  };

  for (const s of statements) {
    line = s.line;
    switch (s.kind) {
      case 'label':
        if (labels.has(s.name) || equs.has(s.name)) throw new AsmError(s.line, `'${s.name}' is defined twice`);
        labels.set(s.name, here);
        // A line with only a label still shows in the listing, at the address it names.
        if (lines[s.line - 1].trim().replace(/;.*/, '').trim().endsWith(':')) {
          listing.push({ address: Number(here), bytes: new Uint8Array(0), line: s.line, source: lines[s.line - 1].trim() });
        }
        break;
      case 'equ':
        equPositions.set(s.name, here);
        if (strict) evaluate(s.expr, env); // report undefined names in constants
        break;
      case 'bits':
        bits = s.bits;
        break;
      case 'org': {
        if (origin !== undefined) throw new AsmError(s.line, 'org must come before any code or data, once');
        origin = evaluate(s.expr, env).value;
        here = origin;
        break;
      }
      case 'align': {
        const n = evaluate(s.expr, env).value;
        if (n <= 0n || (n & (n - 1n)) !== 0n) throw new AsmError(s.line, `align ${n}: use a power of two`);
        const pad = Number((n - (here % n)) % n);
        if (pad) emit(new Array(pad).fill(0), s);
        break;
      }
      case 'data': {
        const bytes: number[] = [];
        for (const item of s.items) {
          if (item instanceof Uint8Array) {
            if (s.unit !== 1) throw new AsmError(s.line, 'strings go in db');
            bytes.push(...item);
            continue;
          }
          const v = BigInt.asUintN(s.unit * 8, evaluate(item, env).value);
          for (let i = 0; i < s.unit; i++) bytes.push(Number((v >> BigInt(8 * i)) & 0xffn));
        }
        emit(bytes, s);
        break;
      }
      case 'insn': {
        let state = states.get(s);
        if (!state) states.set(s, (state = {}));
        emit(encodeInstruction(s.mnemonic, s.prefixes, s.operands, { bits, env }, state), s);
        break;
      }
    }
  }
  const symbols = new Map(labels);
  for (const name of equs.keys()) {
    const v = env.lookup(name);
    if (v) symbols.set(name, v.value);
  }
  return { labels, program: { origin: Number(origin ?? 0n), image: Uint8Array.from(out), symbols, listing } };
}

/** The listing as text: address, bytes, source, the way an assembler's -l output looks. */
export function formatListing(p: Program): string {
  return p.listing.map((l) => {
    if (!l.bytes.length) return `${l.address.toString(16).padStart(5, '0')}  ${''.padEnd(26)} ${l.source}`;
    const hexBytes = [...l.bytes.slice(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const more = l.bytes.length > 8 ? ` …(${l.bytes.length})` : '';
    return `${l.address.toString(16).padStart(5, '0')}  ${(hexBytes + more).padEnd(26)} ${l.source}`;
  }).join('\n');
}

/** The listing line that holds guest address `addr`, if the program has one. */
export function lineAt(p: Program, addr: number): ListingLine | undefined {
  return p.listing.find((l) => addr >= l.address && addr < l.address + l.bytes.length && l.bytes.length > 0);
}
