// The guest assembler: encodings against known bytes (each checked by hand against the Intel
// SDM and with `objdump -D -b binary -mi386 -Maddr16,data16` / `-mi386:x86-64`), the passes
// that place labels, and the errors a guest author meets. Where binutils is installed, every
// lesson guest is also disassembled by objdump and must read back as its own source.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { assemble, AsmError, formatListing, lineAt } from '../../runtime/src/vmm/asm.ts';
import { GUESTS } from '../../runtime/src/vmm/guests/index.ts';
import { needs } from '../support/requires.ts';

/** The bytes of one instruction in a given mode, as hex. */
function enc(bits: 16 | 32 | 64, insn: string): string {
  const p = assemble(`bits ${bits}\n${insn}`);
  return [...p.image].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

describe('encodings in 16-bit real mode', () => {
  const cases: [string, string][] = [
    ['mov dx, 0x3f8', 'ba f8 03'], // B8+r iw
    ['mov al, 0x41', 'b0 41'],
    ['mov al, \'H\'', 'b0 48'],
    ['mov eax, 0x12345678', '66 b8 78 56 34 12'], // 32-bit operand in 16-bit code: 0x66
    ['mov ax, bx', '89 d8'], // 89 /r, mod=11 reg=bx rm=ax
    ['mov [0x10], cx', '89 0e 10 00'], // rm=110 with mod=00: a bare disp16
    ['mov eax, [4]', '66 8b 06 04 00'],
    ['mov word [bx+2], 7', 'c7 47 02 07 00'],
    ['mov [bx+si+0x100], ax', '89 80 00 01'],
    ['mov [es:di], al', '26 88 05'], // segment override prefix
    ['mov ds, ax', '8e d8'],
    ['mov ax, es', '8c c0'],
    ['mov cr0, eax', '0f 22 c0'], // no 0x66: control registers move 32 bits here
    ['mov eax, cr4', '0f 20 e0'],
    ['mov cr3, eax', '0f 22 d8'],
    ['out dx, al', 'ee'],
    ['out dx, eax', '66 ef'],
    ['out 0xf4, al', 'e6 f4'],
    ['in al, dx', 'ec'],
    ['in eax, 0x60', '66 e5 60'],
    ['cmp al, 0', '3c 00'], // the accumulator's short form
    ['cmp ax, 1000', '3d e8 03'],
    ['add edx, 1', '66 83 c2 01'], // 83 /0 ib: sign-extended byte
    ['or eax, 0x80000001', '66 0d 01 00 00 80'],
    ['and bl, 0x0f', '80 e3 0f'],
    ['xor ax, ax', '31 c0'],
    ['inc byte [bx]', 'fe 07'],
    ['dec ecx', '66 ff c9'],
    ['lgdt [0x7c88]', '0f 01 16 88 7c'], // 0F 01 /2
    ['lidt [bp+si]', '0f 01 1a'], // 0F 01 /3
    ['wrmsr', '0f 30'],
    ['rdmsr', '0f 32'],
    ['ud2', '0f 0b'],
    ['fninit', 'db e3'],
    ['fldz', 'd9 ee'],
    ['hlt', 'f4'],
    ['lodsb', 'ac'],
    ['rep outsb', 'f3 6e'],
    ['int 0x10', 'cd 10'],
    ['push ax', '50'],
    ['pop eax', '66 58'],
    ['shl ax, 4', 'c1 e0 04'],
    ['shr eax, 1', '66 d1 e8'],
    ['test eax, 0x100', '66 a9 00 01 00 00'],
    ['jmp 0x08:0x7e00', 'ea 00 7e 08 00'], // far jump: offset, then selector
  ];
  for (const [insn, bytes] of cases) it(insn, () => expect(enc(16, insn)).toBe(bytes));
});

describe('encodings in 32-bit protected mode', () => {
  const cases: [string, string][] = [
    ['mov eax, 5', 'b8 05 00 00 00'],
    ['mov ax, 5', '66 b8 05 00'], // now 16 bits is the one needing 0x66
    ['mov [0x1000], eax', '89 05 00 10 00 00'], // mod=00 rm=101: disp32
    ['mov ecx, [ebp]', '8b 4d 00'], // ebp as a base always carries a displacement
    ['mov edx, [esp+8]', '8b 54 24 08'], // esp as a base needs a SIB byte
    ['cmp dword [ebx], 0x100', '81 3b 00 01 00 00'],
    ['lidt [0x7c40]', '0f 01 1d 40 7c 00 00'],
    ['out dx, ax', '66 ef'],
  ];
  for (const [insn, bytes] of cases) it(insn, () => expect(enc(32, insn)).toBe(bytes));
});

describe('encodings in 64-bit long mode', () => {
  const cases: [string, string][] = [
    ['mov rax, 0x1122334455667788', '48 b8 88 77 66 55 44 33 22 11'], // REX.W B8+r io
    ['mov r8, 1', '49 b8 01 00 00 00 00 00 00 00'], // REX.B reaches r8
    ['mov r15d, 2', '41 bf 02 00 00 00'],
    ['mov [rdi], rax', '48 89 07'],
    ['mov rax, [rsp+8]', '48 8b 44 24 08'],
    ['mov [0x1000], eax', '89 04 25 00 10 00 00'], // absolute: SIB without base (rm=101 is rip-relative)
    ['mov r9, [r12]', '4d 8b 0c 24'],
    ['mov r13, [r13]', '4d 8b 6d 00'],
    ['add r10, 100', '49 83 c2 64'],
    ['cmp rcx, 0x1000', '48 81 f9 00 10 00 00'],
    ['xor r11d, r11d', '45 31 db'],
    ['inc rax', '48 ff c0'], // not 40+r: those bytes are REX prefixes in 64-bit mode
    ['push rbp', '55'],
    ['pop r12', '41 5c'],
    ['mov cr3, rax', '0f 22 d8'],
    ['mov cr4, r8', '41 0f 22 e0'],
    ['lgdt [0x2000]', '0f 01 14 25 00 20 00 00'],
    ['out dx, al', 'ee'],
    ['shl rax, 12', '48 c1 e0 0c'],
  ];
  for (const [insn, bytes] of cases) it(insn, () => expect(enc(64, insn)).toBe(bytes));
});

describe('labels and passes', () => {
  it('resolves backward and forward labels, local labels and $', () => {
    const p = assemble(`bits 16
org 0x7c00
start:
    mov si, msg
.next:
    lodsb
    jmp .next
msg: db "Hi", 10, 0
len equ $ - msg
    mov cx, len`);
    expect(p.origin).toBe(0x7c00);
    expect(p.symbols.get('start.next')).toBe(0x7c03n);
    expect(p.symbols.get('msg')).toBe(0x7c06n);
    expect(p.symbols.get('len')).toBe(4n);
    expect([...p.image.slice(0, 6)]).toEqual([0xbe, 0x06, 0x7c, 0xac, 0xeb, 0xfd]);
    expect([...p.image.slice(-3)]).toEqual([0xb9, 0x04, 0x00]);
  });

  it('keeps a jump short when it can, and makes it near when the target is too far', () => {
    const near = assemble(`bits 16
org 0x7c00
start: jmp target
    align 256
target: je start`);
    expect([...near.image.slice(0, 3)]).toEqual([0xe9, 0xfd, 0x00]); // 0x7d00 - 0x7c03
    expect([...near.image.slice(0x100)]).toEqual([0x0f, 0x84, 0xfc, 0xfe]); // to 0x7c00 from 0x7d04
    const short = assemble('bits 64\nstart: jmp start');
    expect([...short.image]).toEqual([0xeb, 0xfe]);
  });

  it('refuses a short jump or a loop that cannot reach', () => {
    expect(() => assemble('bits 16\nstart: loop far\nalign 512\nfar: hlt')).toThrow(/reaches only -128..127/);
    expect(() => assemble('bits 16\nstart: jmp short far\nalign 512\nfar: hlt')).toThrow(/too far for a short jump/);
  });

  it('pads with align and lays out data little-endian', () => {
    const p = assemble('org 0x1000\ndb 1\nalign 8\ndq 0x00209a0000000000\ndw 0x1234\ndd label\nlabel:');
    expect([...p.image]).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x9a, 0x20, 0, 0x34, 0x12, 0x16, 0x10, 0, 0]);
  });

  it('maps addresses back to source lines (what stop reports use)', () => {
    const p = assemble('bits 16\norg 0x7c00\nstart:\n  mov ax, 1 ; one\n  hlt');
    expect(lineAt(p, 0x7c01)?.source).toBe('mov ax, 1 ; one');
    expect(lineAt(p, 0x7c03)?.line).toBe(5);
    expect(formatListing(p)).toContain('07c00  b8 01 00');
  });
});

describe('errors name the line and the problem', () => {
  const bad: [string, RegExp][] = [
    ['bits 16\n  frob ax', /line 2: frob: not an instruction/],
    ['bits 16\n  mov ax, nowhere', /line 2: 'nowhere' is not defined/],
    ['bits 16\n  mov [bx], 1', /say the size of the memory operand/],
    ['bits 16\n  mov rax, 1', /64-bit operands exist only in 64-bit code/],
    ['bits 16\n  out 0x500, al', /port number above 255 must be in dx/],
    ['bits 16\n  mov ax, ebx', /operand sizes differ/],
    ['bits 16\n  mov al, 300', /300 does not fit in 8 bits/],
    ['bits 16\n  mov cr0, ax', /cr0 moves to and from a 32-bit register/],
    ['bits 64\n  jmp 0x08:0', /no direct far jump/],
    ['x: nop\nx: nop', /'x' is defined twice/],
    ['a equ b\nb equ a\nmov ax, a', /defined in terms of itself/],
    ['db "unterminated', /unterminated string/],
  ];
  for (const [src, message] of bad) {
    it(message.source, () => {
      let err: unknown;
      try {
        assemble(src);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AsmError);
      expect((err as Error).message).toMatch(message);
    });
  }
});

describe('the lesson guests', () => {
  for (const g of GUESTS) {
    it(`${g.name} assembles, starts at 0x7c00 and fits below the 640 KiB hole`, () => {
      const p = assemble(g.source);
      expect(p.origin).toBe(0x7c00);
      expect(p.image.length).toBeGreaterThan(0);
      expect(p.origin + p.image.length).toBeLessThanOrEqual(0xa0000);
    });
  }

  const objdump = spawnSync('objdump', ['--version']).status === 0;

  // objdump's Intel syntax for what the guests write; enough to tell one instruction from another.
  const normalize = (s: string) => s.toLowerCase()
    .replace(/\b(byte|word|dword|qword) ptr /g, '').replace(/\bds:/g, '').replace(/movabs/, 'mov')
    .replace(/lods\s+al,\[[er]?si\]/, 'lodsb').replace(/\s+/g, ' ').replace(/0x0*([0-9a-f])/g, '0x$1').trim();

  const registersIn = (s: string) => s.toLowerCase().match(/\b(r\d+[dwb]?|e?[abcd]x|[abcd][lh]|[er]?[sd]i|[er]?[sb]p|cr\d|[cdefgs]s)\b/g) ?? [];

  needs(!objdump && 'objdump is not installed (apt-get install binutils)').it('every guest instruction disassembles (objdump) to what its source says', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmm-asm-'));
    try {
      for (const g of GUESTS) {
        const p = assemble(g.source);
        // The mode each source line is in: the last `bits` above it.
        const lines = g.source.split('\n');
        const modeAt: number[] = [];
        lines.reduce((bits, line, i) => (modeAt[i + 1] = Number(/^\s*bits\s+(\d+)/.exec(line)?.[1] ?? bits)), 16);
        for (const l of p.listing) {
          const bits = modeAt[l.line];
          const code = l.source.replace(/;.*/, '').replace(/^[\w.]+:\s*/, '').trim();
          if (!l.bytes.length || /^(db|dw|dd|dq|align)\b/.test(code)) continue;
          const file = path.join(dir, 'insn.bin');
          fs.writeFileSync(file, l.bytes);
          const arch = bits === 64 ? ['-mi386:x86-64', '-Mintel'] : bits === 32 ? ['-mi386', '-Mintel'] : ['-mi386', '-Maddr16,data16,intel'];
          const out = execFileSync('objdump', ['-D', '-b', 'binary', ...arch, `--adjust-vma=${l.address}`, file]).toString();
          const decoded = out.split('\n').filter((x) => /^\s+[0-9a-f]+:\t/.test(x)).map((x) => x.split('\t')[2] ?? '').join(' ');
          const text = normalize(decoded);
          // The mnemonic always matches; register operands appear by name; numbers and labels
          // are checked by value through the symbol table.
          const mnemonic = code.split(/\s+/)[0].toLowerCase();
          expect(text, `${g.name} line ${l.line}: ${code}`).toMatch(new RegExp(`^(rep )?${mnemonic === 'jmp' && code.includes(':') ? 'jmp' : mnemonic === 'lodsb' ? 'lodsb' : mnemonic}`));
          // Register operands, in order: objdump must show the same ones the same way round.
          const operands = code.split(/\s+/).slice(1).join(' ');
          if (operands) expect(registersIn(text.replace(/^\S+\s*/, '')), `${g.name} line ${l.line}: ${code}`).toEqual(registersIn(operands));
          const target = /^(j\w+|loop|call)\s+([\w.]+)$/.exec(code);
          if (target) {
            const scoped = target[2].startsWith('.') ? [...p.symbols.keys()].find((k) => k.endsWith(target[2])) : target[2];
            const addr = p.symbols.get(scoped!);
            expect(text, `${g.name} line ${l.line}: ${code}`).toContain(`0x${addr!.toString(16)}`);
          }
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
