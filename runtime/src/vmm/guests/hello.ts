import type { Guest } from './guest.ts';
import { dbLines, guestMessage } from './text.ts';

export const GREETING = 'Hello from a real-mode guest!\n';

function helloSaying(text: string): Guest {
  return {
    name: 'hello',
    summary: 'real mode: print a greeting through the emulated 8250 UART, one OUT (one VM exit) per byte',
    ends: 'halt',
    withMessage: (t) => helloSaying(guestMessage(t)),
    source: String.raw`
; The smallest guest that does something visible. It runs in 16-bit real mode, as a PC's
; boot sector does, and writes its message to the serial port COM1 one byte at a time.
; Each OUT is a VM exit: the CPU stops the guest, the monitor sees "port 0x3f8, byte 'H'"
; and prints it, then resumes the guest after the OUT.

bits 16
org 0x7c00

COM1 equ 0x3f8             ; the first serial port's transmit register

start:
    mov dx, COM1
    mov si, message          ; lodsb reads the byte at ds:si and moves si forward
next:
    lodsb                    ; al = next byte of the message
    cmp al, 0
    je done                  ; the message ends with a 0 byte
    out dx, al               ; to the UART: a VM exit, handled by the monitor
    jmp next
done:
    hlt                      ; stop the CPU: with no interrupts, it never wakes (KVM_EXIT_HLT)

message:
${dbLines(text)}
    db 0                     ; the end of the message
`,
  };
}

export const hello: Guest = helloSaying(GREETING);
