import type { Guest } from './guest.ts';

export const fib: Guest = {
  name: 'fib',
  summary: 'compute: Fibonacci number 40 in the guest, no exits until HLT; the monitor reads the answer from eax',
  ends: 'halt',
  result: { register: 'rax', meaning: 'fib(40)' },
  source: String.raw`
; Pure computation: the guest never touches a device, so it runs at the CPU's full speed
; without a single VM exit until it halts. The monitor then reads the answer out of the
; guest's registers (KVM_GET_REGS): eax = fib(40) = 102334155.
;
; Real mode code can use 32-bit registers: the 0x66 prefix in front of each instruction
; below says "32-bit operand" (see the listing: box vm asm fib).

bits 16
org 0x7c00

N equ 40

start:
    mov eax, 0               ; fib(0)
    mov ebx, 1               ; fib(1)
    mov cx, N                ; loop counts cx down to 0
step:
    mov edx, eax
    add edx, ebx             ; edx = fib(i) + fib(i+1)
    mov eax, ebx
    mov ebx, edx             ; move one step along: (a, b) = (b, a + b)
    loop step                ; cx = cx - 1; jump back while cx is not 0
    hlt                      ; eax = fib(N)
`,
};
