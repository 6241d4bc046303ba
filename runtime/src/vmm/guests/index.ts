// The lesson guests, by name, in the order `box vm list` shows them.

import type { Guest } from './guest.ts';
import { fib } from './fib.ts';
import { fpu } from './fpu.ts';
import { tripleFault, runaway } from './faults.ts';
import { hello } from './hello.ts';
import { longMode } from './long-mode.ts';
import { messagePv, messageTrap } from './message.ts';
import { mmio } from './mmio.ts';

export type { Guest } from './guest.ts';

export const GUESTS: Guest[] = [hello, longMode, mmio, fib, messageTrap, messagePv, fpu, tripleFault, runaway];

export function findGuest(name: string): Guest | undefined {
  return GUESTS.find((g) => g.name === name);
}
