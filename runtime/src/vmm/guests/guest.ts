// What a lesson guest is: a name, a line for `box vm list`, and its assembly source. The
// monitor assembles the source when it runs the guest (a few milliseconds), so what the
// reader reads is exactly what runs.

import type { RegName } from '../regs.ts';

export interface Guest {
  name: string;
  /** One line: what the guest shows. */
  summary: string;
  /** x86 assembly in the syntax of asm.ts, loaded at 0x7c00 and started in real mode. */
  source: string;
  /** Where the guest leaves its answer when it halts, for the monitor to print. */
  result?: { register: RegName; meaning: string };
  /** How the guest is expected to end: a lesson guest that faults on purpose says so. */
  ends?: 'halt' | 'exit' | 'shutdown' | 'timeout';
  /** For a guest that prints a message: the same guest printing `text` instead (`--message`). */
  withMessage?(text: string): Guest;
}
