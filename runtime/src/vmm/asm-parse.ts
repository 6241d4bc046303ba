// Reading assembly source: lines, labels, operands and expressions, in the Intel syntax NASM
// uses (destination first, `[...]` for memory, `;` comments). The encoder (asm-encode.ts)
// turns the parsed statements into bytes; asm.ts runs the passes.

export class AsmError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.line = line;
  }
}

// ---- registers ----------------------------------------------------------------------------

export interface Reg {
  name: string;
  /** gpr: general purpose; seg: segment register; cr: control register */
  kind: 'gpr' | 'seg' | 'cr';
  /** Width in bits (segment registers are 16; control registers are as wide as the mode). */
  size: number;
  /** The number the CPU uses for it in ModRM/opcodes (0-15; 8-15 need a REX prefix). */
  code: number;
}

const REGISTERS = new Map<string, Reg>();
const gprNames: Record<number, string[]> = {
  8: ['al', 'cl', 'dl', 'bl', 'ah', 'ch', 'dh', 'bh'],
  16: ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'],
  32: ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'],
  64: ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi'],
};
for (const [size, names] of Object.entries(gprNames)) {
  names.forEach((name, code) => REGISTERS.set(name, { name, kind: 'gpr', size: Number(size), code }));
}
for (let code = 8; code < 16; code++) {
  for (const [suffix, size] of [['', 64], ['d', 32], ['w', 16], ['b', 8]] as const) {
    REGISTERS.set(`r${code}${suffix}`, { name: `r${code}${suffix}`, kind: 'gpr', size, code });
  }
}
['es', 'cs', 'ss', 'ds', 'fs', 'gs'].forEach((name, code) => REGISTERS.set(name, { name, kind: 'seg', size: 16, code }));
for (const n of [0, 2, 3, 4]) REGISTERS.set(`cr${n}`, { name: `cr${n}`, kind: 'cr', size: 0, code: n });

export function register(name: string): Reg | undefined {
  return REGISTERS.get(name.toLowerCase());
}

// ---- expressions --------------------------------------------------------------------------

/** An expression tree; evaluated on every pass, because labels move until the passes settle. */
export type Expr =
  | { op: 'num'; value: bigint }
  | { op: 'sym'; name: string }
  | { op: 'here' } // $: the address of the current statement
  | { op: 'neg' | 'not'; a: Expr }
  | { op: '+' | '-' | '*' | '/' | '%' | '<<' | '>>' | '&' | '|' | '^'; a: Expr; b: Expr };

const BINARY_LEVELS: string[][] = [['|'], ['^'], ['&'], ['<<', '>>'], ['+', '-'], ['*', '/', '%']];

/** Parse an expression: numbers (42, 0x2a, 0b101010, 'A'), symbols, $, + - * / % << >> & | ^ ~ (). */
export function parseExpr(text: string, line: number): Expr {
  const tokens = text.match(/0x[0-9a-f_]+|0b[01_]+|\d[\d_]*|'(?:[^'\\]|\\.)'|[A-Za-z_.][\w.]*|\$|<<|>>|\S/gi) ?? [];
  let i = 0;
  const fail = (what: string): never => {
    throw new AsmError(line, `${what} in expression '${text.trim()}'`);
  };
  const primary = (): Expr => {
    const t = tokens[i++];
    if (t === undefined) return fail('missing value');
    if (t === '(') {
      const e = binary(0);
      if (tokens[i++] !== ')') fail("missing ')'");
      return e;
    }
    if (t === '-') return { op: 'neg', a: primary() };
    if (t === '+') return primary();
    if (t === '~') return { op: 'not', a: primary() };
    if (t === '$') return { op: 'here' };
    if (/^\d|^0x|^0b/i.test(t)) return { op: 'num', value: BigInt(t.replace(/_/g, '')) };
    if (t.startsWith("'")) return { op: 'num', value: BigInt(unescape(t.slice(1, -1), line).charCodeAt(0)) };
    if (/^[A-Za-z_.]/.test(t)) return { op: 'sym', name: t };
    return fail(`unexpected '${t}'`);
  };
  const binary = (level: number): Expr => {
    if (level === BINARY_LEVELS.length) return primary();
    let left = binary(level + 1);
    while (BINARY_LEVELS[level].includes(tokens[i])) {
      const op = tokens[i++] as '+';
      left = { op, a: left, b: binary(level + 1) };
    }
    return left;
  };
  const e = binary(0);
  if (i < tokens.length) fail(`unexpected '${tokens[i]}'`);
  return e;
}

/** What evaluating an expression needs: the symbols so far and the current address. */
export interface Env {
  lookup(name: string): { value: bigint; isLabel: boolean } | undefined;
  here: bigint;
  /** On the last pass every symbol must be known; before that, unknown ones count as 0. */
  strict: boolean;
  line: number;
}

export interface Value {
  value: bigint;
  /** False if the value depends on where code lands (a label or $): it may change between passes. */
  constant: boolean;
  /** A symbol in it is not defined (yet). */
  unknown: boolean;
}

export function evaluate(e: Expr, env: Env): Value {
  switch (e.op) {
    case 'num':
      return { value: e.value, constant: true, unknown: false };
    case 'here':
      return { value: env.here, constant: false, unknown: false };
    case 'sym': {
      const s = env.lookup(e.name);
      if (!s) {
        if (env.strict) throw new AsmError(env.line, `'${e.name}' is not defined`);
        return { value: 0n, constant: false, unknown: true };
      }
      return { value: s.value, constant: !s.isLabel, unknown: false };
    }
    case 'neg':
    case 'not': {
      const a = evaluate(e.a, env);
      return { ...a, value: e.op === 'neg' ? -a.value : ~a.value };
    }
    default: {
      const a = evaluate(e.a, env);
      const b = evaluate(e.b, env);
      const v = (() => {
        switch (e.op) {
          case '+': return a.value + b.value;
          case '-': return a.value - b.value;
          case '*': return a.value * b.value;
          case '/': return b.value === 0n ? 0n : a.value / b.value;
          case '%': return b.value === 0n ? 0n : a.value % b.value;
          case '<<': return a.value << b.value;
          case '>>': return a.value >> b.value;
          case '&': return a.value & b.value;
          case '|': return a.value | b.value;
          case '^': return a.value ^ b.value;
        }
      })();
      return { value: v, constant: a.constant && b.constant, unknown: a.unknown || b.unknown };
    }
  }
}

// ---- operands -----------------------------------------------------------------------------

export type Operand =
  | { kind: 'reg'; reg: Reg }
  | { kind: 'imm'; expr: Expr; size?: number; distance?: 'short' | 'near' }
  | { kind: 'mem'; size?: number; regs: Reg[]; disp?: Expr; segment?: Reg }
  | { kind: 'far'; selector: Expr; offset: Expr };

const SIZE_WORDS: Record<string, number> = { byte: 8, word: 16, dword: 32, qword: 64 };

export function parseOperand(text: string, line: number): Operand {
  let t = text.trim();
  let size: number | undefined;
  let distance: 'short' | 'near' | undefined;
  const word = /^(byte|word|dword|qword|short|near)\s+/i.exec(t);
  if (word) {
    const w = word[1].toLowerCase();
    if (w === 'short' || w === 'near') distance = w;
    else size = SIZE_WORDS[w];
    t = t.slice(word[0].length).trim();
  }
  const reg = register(t);
  if (reg) {
    if (size !== undefined || distance) throw new AsmError(line, `'${text.trim()}': a register has its own size`);
    return { kind: 'reg', reg };
  }
  if (t.startsWith('[')) {
    if (!t.endsWith(']')) throw new AsmError(line, `'${t}': missing ']'`);
    return { kind: 'mem', size, ...parseAddress(t.slice(1, -1), line) };
  }
  // selector:offset, the operand of a far jump
  const far = /^([^:[\]]+):([^:[\]]+)$/.exec(t);
  if (far && !register(far[1].trim())) {
    return { kind: 'far', selector: parseExpr(far[1], line), offset: parseExpr(far[2], line) };
  }
  return { kind: 'imm', expr: parseExpr(t, line), size, distance };
}

/** `[bx + si + 4]`, `[rsi]`, `[es:di]`, `[gdt_descriptor]`: registers, then a displacement. */
function parseAddress(inside: string, line: number): { regs: Reg[]; disp?: Expr; segment?: Reg } {
  let body = inside.trim();
  let segment: Reg | undefined;
  const seg = /^([a-z]s)\s*:/i.exec(body);
  if (seg && register(seg[1])?.kind === 'seg') {
    segment = register(seg[1]);
    body = body.slice(seg[0].length);
  }
  const regs: Reg[] = [];
  const rest: string[] = [];
  // Split on + and - at the top level, keeping the sign with each term.
  for (const term of body.match(/[+-]?[^+-]+/g) ?? []) {
    const name = term.replace(/^[+-]/, '').trim();
    const r = register(name);
    if (r) {
      if (r.kind !== 'gpr' || term.trim().startsWith('-')) throw new AsmError(line, `'[${inside}]': ${name} cannot address memory that way`);
      regs.push(r);
    } else {
      rest.push(term);
    }
  }
  const dispText = rest.join('').trim();
  return { regs, segment, disp: dispText ? parseExpr(dispText.replace(/^\+/, ''), line) : undefined };
}

// ---- lines --------------------------------------------------------------------------------

export type Statement =
  | { kind: 'label'; name: string; line: number }
  | { kind: 'equ'; name: string; expr: Expr; line: number }
  | { kind: 'bits'; bits: 16 | 32 | 64; line: number }
  | { kind: 'org'; expr: Expr; line: number }
  | { kind: 'align'; expr: Expr; line: number }
  | { kind: 'data'; unit: 1 | 2 | 4 | 8; items: (Expr | Uint8Array)[]; line: number }
  | { kind: 'insn'; mnemonic: string; prefixes: string[]; operands: Operand[]; line: number; text: string };

const DATA_UNITS: Record<string, 1 | 2 | 4 | 8> = { db: 1, dw: 2, dd: 4, dq: 8 };
const PREFIXES = new Set(['rep', 'repe', 'repz', 'repne', 'repnz', 'lock']);

/** Strip a `;` comment, but not a ';' inside quotes. */
function stripComment(s: string): string {
  let quote: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === ';') return s.slice(0, i);
  }
  return s;
}

/** Split operands on commas that are not inside quotes or brackets. */
function splitOperands(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === '\\') {
        cur += c + s[++i];
        continue;
      }
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '(') depth++;
    else if (c === ']' || c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

function unescape(s: string, line: number): string {
  return s.replace(/\\(.)/g, (_m, c: string) => {
    const map: Record<string, string> = { n: '\n', r: '\r', t: '\t', '0': '\0', '\\': '\\', '"': '"', "'": "'" };
    if (!(c in map)) throw new AsmError(line, `unknown escape '\\${c}'`);
    return map[c];
  });
}

/** The source as statements. Labels starting with '.' belong to the last plain label. */
export function parseSource(source: string): Statement[] {
  const out: Statement[] = [];
  let scope = '';
  source.split('\n').forEach((raw, index) => {
    const line = index + 1;
    let text = stripComment(raw).trim();
    const label = /^([A-Za-z_.][\w.]*):/.exec(text);
    if (label) {
      const name = label[1].startsWith('.') ? scope + label[1] : label[1];
      if (!label[1].startsWith('.')) scope = label[1];
      out.push({ kind: 'label', name, line });
      text = text.slice(label[0].length).trim();
    }
    if (!text) return;
    const qualify = (e: Expr): Expr => qualifyLocals(e, scope);
    const equ = /^([A-Za-z_][\w.]*)\s+equ\s+(.+)$/i.exec(text);
    if (equ) {
      out.push({ kind: 'equ', name: equ[1], expr: qualify(parseExpr(equ[2], line)), line });
      return;
    }
    const [head, ...restWords] = text.split(/\s+/);
    const rest = text.slice(head.length).trim();
    const word = head.toLowerCase();
    if (word === 'bits') {
      if (!['16', '32', '64'].includes(rest)) throw new AsmError(line, `bits ${rest}: use bits 16, 32 or 64`);
      out.push({ kind: 'bits', bits: Number(rest) as 16, line });
    } else if (word === 'org') {
      out.push({ kind: 'org', expr: parseExpr(rest, line), line });
    } else if (word === 'align') {
      out.push({ kind: 'align', expr: parseExpr(rest, line), line });
    } else if (word in DATA_UNITS) {
      const items = splitOperands(rest).map((item) => {
        if (item.startsWith('"')) {
          if (!item.endsWith('"') || item.length < 2) throw new AsmError(line, `unterminated string ${item}`);
          return new TextEncoder().encode(unescape(item.slice(1, -1), line));
        }
        return qualify(parseExpr(item, line));
      });
      out.push({ kind: 'data', unit: DATA_UNITS[word], items, line });
    } else {
      const prefixes: string[] = [];
      let mnemonic = word;
      let operandText = rest;
      while (PREFIXES.has(mnemonic) && restWords.length) {
        prefixes.push(mnemonic);
        const next = operandText.split(/\s+/)[0];
        mnemonic = next.toLowerCase();
        operandText = operandText.slice(next.length).trim();
      }
      const operands = splitOperands(operandText).map((o) => qualifyOperand(parseOperand(o, line), scope));
      out.push({ kind: 'insn', mnemonic, prefixes, operands, line, text });
    }
  });
  return out;
}

function qualifyLocals(e: Expr, scope: string): Expr {
  switch (e.op) {
    case 'sym':
      return e.name.startsWith('.') ? { op: 'sym', name: scope + e.name } : e;
    case 'num':
    case 'here':
      return e;
    case 'neg':
    case 'not':
      return { op: e.op, a: qualifyLocals(e.a, scope) };
    default:
      return { op: e.op, a: qualifyLocals(e.a, scope), b: qualifyLocals(e.b, scope) };
  }
}

function qualifyOperand(o: Operand, scope: string): Operand {
  if (o.kind === 'imm') return { ...o, expr: qualifyLocals(o.expr, scope) };
  if (o.kind === 'mem' && o.disp) return { ...o, disp: qualifyLocals(o.disp, scope) };
  if (o.kind === 'far') return { ...o, selector: qualifyLocals(o.selector, scope), offset: qualifyLocals(o.offset, scope) };
  return o;
}
