import type { Guest } from './guest.ts';

export const mmio: Guest = {
  name: 'mmio',
  summary: 'memory-mapped I/O: plain loads and stores to a device at 0xd0000 exit to the monitor (KVM_EXIT_MMIO)',
  ends: 'exit',
  source: String.raw`
; A device that is reached with ordinary memory instructions. Nothing in the guest's code
; says "device": the stores below look like any store to memory. But no RAM is behind
; physical address 0xd0000, so KVM stops the guest on each access and hands the monitor the
; address, the width and the data (KVM_EXIT_MMIO). The monitor's display device answers.
;
;   0xd0000  DISPLAY  write a number to show it
;   0xd0004  COUNTER  read: how many times it was read before
;   0xd0008  SQUARE   write n, read back n * n

bits 16
org 0x7c00

DEVICE   equ 0xd000          ; real-mode segment of the device: 0xd000 * 16 = 0xd0000
DISPLAY  equ 0
COUNTER  equ 4
SQUARE   equ 8
EXIT_PORT equ 0xf4

start:
    mov ax, DEVICE
    mov ds, ax               ; from now on [x] means physical 0xd0000 + x

    mov cx, 3                ; count down 3, 2, 1 on the display
countdown:
    mov [DISPLAY], cx        ; a 16-bit store: one MMIO exit
    loop countdown

    mov eax, [COUNTER]       ; a 32-bit load: 0, the first read
    mov eax, [COUNTER]       ; 1: the device remembers
    mov [DISPLAY], eax

    mov dword [SQUARE], 12   ; ask the device for 12 * 12
    mov eax, [SQUARE]
    mov [DISPLAY], eax       ; shows 144

    mov al, 0
    out EXIT_PORT, al        ; done: exit status 0
`,
};
