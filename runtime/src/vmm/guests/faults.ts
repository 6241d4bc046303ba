// Guests that go wrong on purpose, to show what the monitor does when a guest crashes or
// never stops: it ends the run with a report, never a hang.

import type { Guest } from './guest.ts';

export const tripleFault: Guest = {
  name: 'triple-fault',
  summary: 'crash: an invalid instruction with no interrupt table, a fault within a fault within a fault (KVM_EXIT_SHUTDOWN)',
  ends: 'shutdown',
  source: String.raw`
; The CPU answers an invalid instruction with exception 6 (#UD), delivered through the
; interrupt descriptor table (IDT). This guest loads an empty one, so delivering #UD fails
; with a general protection fault (#GP), delivering that fails too (a double fault, #DF),
; and a fault while delivering a double fault is a "triple fault": the CPU gives up and
; shuts down. On a PC that means a reset; KVM stops the vCPU and tells the monitor.
;
; It switches to 32-bit protected mode first: in real mode KVM delivers exceptions with
; its instruction emulator, which does not check the table's limit, so there the guest
; would jump through a vector at address 0 instead of faulting.

bits 16
org 0x7c00

CODE32 equ 0x08

start:
    cli
    lgdt [gdt_pointer]
    mov eax, cr0
    or eax, 1                ; CR0.PE: protected mode
    mov cr0, eax
    jmp CODE32:protected     ; load CS with a 32-bit code segment

bits 32
protected:
    lidt [no_idt]            ; an interrupt table of length 0
    ud2                      ; "undefined instruction", on purpose
    hlt                      ; never reached

no_idt:
    dw 0                     ; limit: empty
    dd 0                     ; base

align 8
gdt:
    dq 0                     ; entry 0 is always empty
    dq 0x00cf9a000000ffff    ; entry 1 (0x08): 32-bit code, base 0, limit 4 GiB
gdt_end:
gdt_pointer:
    dw gdt_end - gdt - 1
    dd gdt
`,
};

export const runaway: Guest = {
  name: 'runaway',
  summary: 'a guest that never stops: an endless loop with no exits, stopped by the monitor\'s watchdog',
  ends: 'timeout',
  source: String.raw`
; A loop that never exits to the monitor: from outside, the vCPU is just busy. Only a
; timer can take the CPU back (see watchdog.ts); then the monitor shows where the guest was.

bits 16
org 0x7c00

start:
    mov ax, 0
spin:
    inc ax                   ; count, so the report shows the guest was busy
    jmp spin
`,
};
