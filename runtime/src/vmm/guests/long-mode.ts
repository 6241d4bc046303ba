import type { Guest } from './guest.ts';

export const longMode: Guest = {
  name: 'long-mode',
  summary: 'switch from 16-bit real mode to 64-bit long mode (page tables, GDT, CR0/CR4/EFER) and print from there',
  ends: 'exit',
  source: String.raw`
; From real mode to 64-bit long mode, the way every x86-64 operating system starts, in five
; steps. The CPU refuses long mode without paging, so the guest first builds page tables
; (the four tables at the end of this file), then turns the mode on bit by bit:
;
;   CR3        where the top page table is
;   CR4.PAE    long mode uses the 64-bit page-table format that PAE introduced
;   EFER.LME   "long mode enable", in a model-specific register (MSR 0xc0000080)
;   CR0.PE+PG  protection and paging on: the CPU is now in long mode...
;   far jmp    ...and loading CS with a 64-bit code segment from the GDT enters 64-bit code
;
; Writes to CR0, CR3, CR4 and EFER are privileged, and some of them do trap out of the
; guest, but into KVM, which handles them inside the kernel: the monitor never hears of
; them. Only the OUTs below reach it, and only those are in box's exit counts.

bits 16
org 0x7c00

COM1          equ 0x3f8
EXIT_PORT     equ 0xf4
MSR_EFER      equ 0xc0000080
EFER_LME      equ 1 << 8
CR4_PAE       equ 1 << 5
CR0_PE        equ 1 << 0
CR0_PG        equ 1 << 31
CODE64        equ 0x08       ; selector: GDT entry 1
PRESENT       equ 1 << 0     ; page-table entry bits
WRITABLE      equ 1 << 1
HUGE          equ 1 << 7     ; in a page directory: this entry maps a 2 MiB page

start:
    cli                      ; no interrupts: there is no interrupt table for them

    mov eax, pml4            ; 1. the top-level page table
    mov cr3, eax

    mov eax, cr4             ; 2. PAE
    or eax, CR4_PAE
    mov cr4, eax

    mov ecx, MSR_EFER        ; 3. EFER.LME: rdmsr/wrmsr move edx:eax to/from MSR number ecx
    rdmsr
    or eax, EFER_LME
    wrmsr

    lgdt [gdt_pointer]       ; 4. a GDT with a 64-bit code segment

    mov eax, cr0             ; 5. protection and paging on, together
    or eax, CR0_PE | CR0_PG
    mov cr0, eax

    jmp CODE64:long_mode     ; load CS from GDT entry 1: now in 64-bit mode

bits 64
long_mode:
    mov rsi, message         ; 64-bit registers now
    mov dx, COM1
.next:
    lodsb                    ; al = [rsi], rsi += 1
    cmp al, 0
    je .done
    out dx, al
    jmp .next
.done:
    mov al, 0
    out EXIT_PORT, al        ; exit status 0

message:
    db "Hello from 64-bit long mode!", 10, 0

; The GDT: segment descriptors, 8 bytes each. In long mode segments no longer limit
; anything; the code segment only says "64-bit" (its L bit, bit 53).
align 8
gdt:
    dq 0                     ; entry 0 must be empty
    dq 0x00209a0000000000    ; entry 1 (0x08): present, ring 0, code, execute/read, L=1
gdt_end:
gdt_pointer:                 ; what lgdt loads: the limit (size - 1), then the address
    dw gdt_end - gdt - 1
    dd gdt

; Page tables: four levels, 512 entries of 8 bytes, each table 4 KiB and 4 KiB-aligned.
; One entry per level is enough to map the first 2 MiB to itself (virtual = physical),
; so the code keeps running at the same addresses after paging is on.
align 4096
pml4:
    dq pdpt + PRESENT + WRITABLE         ; level 4: 512 GiB per entry
align 4096
pdpt:
    dq pd + PRESENT + WRITABLE           ; level 3: 1 GiB per entry
align 4096
pd:
    dq 0 + PRESENT + WRITABLE + HUGE     ; level 2: one 2 MiB page at physical 0
align 4096
`,
};
