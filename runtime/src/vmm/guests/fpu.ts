import type { Guest } from './guest.ts';

export const fpu: Guest = {
  name: 'fpu',
  summary: 'one x87 instruction: runs on the CPU with hardware virtualization; an emulating KVM (nested kvm-pvm) stops with KVM_EXIT_INTERNAL_ERROR',
  ends: 'exit',
  source: String.raw`
; Is the guest running on the CPU, or is KVM imitating the CPU? With hardware
; virtualization (Intel VT-x, AMD-V) guest instructions run on the processor itself, and
; KVM only emulates the few it must (an access to device memory, for instance). A KVM with
; no hardware help, such as a nested "kvm-pvm" host, has to emulate every instruction in
; software, and its emulator knows only part of x86: not the x87 floating-point unit.
;
; So this guest prints one line on one kind of host, and is stopped with
; KVM_EXIT_INTERNAL_ERROR ("emulation failure", with the instruction's bytes) on the other.

bits 16
org 0x7c00

COM1      equ 0x3f8
EXIT_PORT equ 0xf4

start:
    fninit                   ; reset the floating-point unit
    fldz                     ; push 0.0 on the FPU stack
    mov dx, COM1
    mov si, message
next:
    lodsb
    cmp al, 0
    je done
    out dx, al
    jmp next
done:
    mov al, 0
    out EXIT_PORT, al

message:
    db "The FPU instructions ran on the CPU: this host has hardware virtualization.", 10, 0
`,
};
