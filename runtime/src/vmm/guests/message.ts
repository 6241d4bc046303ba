// The trap-and-emulate / paravirtual pair: one message, two ways out of the guest.
// `box vm compare` runs both and prints their exit counts and times side by side.

import type { Guest } from './guest.ts';
import { dbLines, guestMessage } from './text.ts';

/** The text both guests print: long enough that the cost per exit shows. */
export const MESSAGE = [
  'A hypervisor runs a guest directly on the CPU until the guest touches',
  'something it must not own: a device, a privileged register, a halt.',
  'Then the CPU exits to the monitor, which emulates that one thing and',
  'resumes the guest. Each exit costs microseconds; a paravirtual guest',
  'knows about its monitor and asks for a whole buffer at once.',
].join('\n') + '\n';

function trapSaying(text: string): Guest {
  return {
    name: 'message-trap',
    summary: `trap and emulate: a ${Buffer.byteLength(text)}-byte message to the 8250 UART, one OUT and one VM exit per byte`,
    ends: 'exit',
    withMessage: (t) => trapSaying(guestMessage(t)),
    source: String.raw`
; Full virtualization: the guest drives the serial port exactly as it would drive the chip
; on real hardware, and does not know a monitor exists. Every OUT traps to the monitor,
; which emulates the UART for one byte and resumes the guest.

bits 16
org 0x7c00

COM1      equ 0x3f8
EXIT_PORT equ 0xf4

start:
    mov dx, COM1
    mov si, message
    mov cx, message_length
next:
    lodsb
    out dx, al               ; one byte, one VM exit
    loop next
    mov al, 0
    out EXIT_PORT, al

message:
${dbLines(text)}
message_length equ $ - message
`,
  };
}

function pvSaying(text: string): Guest {
  return {
    name: 'message-pv',
    summary: `paravirtual: the same ${Buffer.byteLength(text)}-byte message handed to the monitor in one hypercall (one VM exit)`,
    ends: 'exit',
    withMessage: (t) => pvSaying(guestMessage(t)),
    source: String.raw`
; Paravirtualization: the guest knows it runs on this monitor and calls it directly. One
; OUT to the hypercall port says "write the buffer at rbx, rcx bytes long"; the monitor
; reads the whole buffer straight from guest memory. One VM exit instead of one per byte.
; (Xen's PV guests and virtio drivers work on this idea: ask the hypervisor, don't
; pretend to talk to hardware.)

bits 16
org 0x7c00

HYPERCALL equ 0x500
HC_WRITE  equ 1
EXIT_PORT equ 0xf4

start:
    mov ebx, message         ; argument 1: guest-physical address of the buffer
    mov ecx, message_length  ; argument 2: its length
    mov al, HC_WRITE         ; the call number
    mov dx, HYPERCALL        ; (a port above 255 must be in dx)
    out dx, al               ; one VM exit for the whole message
    mov al, 0
    out EXIT_PORT, al

message:
${dbLines(text)}
message_length equ $ - message
`,
  };
}

export const messageTrap: Guest = trapSaying(MESSAGE);
export const messagePv: Guest = pvSaying(MESSAGE);
