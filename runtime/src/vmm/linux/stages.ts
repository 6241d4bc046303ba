// How far a Linux boot got, read from what the kernel and /init print on the console. Each
// stage is a line a reader can find in the boot log; the monitor notes when (in guest time
// and wall time) each first appears.

import { INIT_BANNER } from './initramfs.ts';

export interface Stage {
  name: string;
  /** What it means, for the summary. */
  meaning: string;
  line: RegExp;
}

export const STAGES: Stage[] = [
  { name: 'Linux version', meaning: 'the kernel runs and prints its banner', line: /Linux version \S+/ },
  { name: 'e820 map', meaning: 'it has read the memory map the monitor gave it', line: /BIOS-e820: \[mem / },
  { name: 'Memory', meaning: 'its memory allocator is up', line: /Memory: \d+K\/\d+K available/ },
  { name: 'FPU', meaning: 'the CPU features are set up (FPU state saved with FXSAVE or XSAVE)', line: /x86\/fpu: / },
  { name: 'serial driver', meaning: 'the 8250 driver has taken over COM1 (interrupts from here)', line: /ttyS0 at I\/O 0x3f8/ },
  { name: 'user space', meaning: 'the kernel is done booting and runs init', line: /Freeing unused kernel image|Run \/init as init process/ },
  { name: 'init', meaning: 'the initramfs\'s /init runs (PID 1, busybox)', line: new RegExp(INIT_BANNER) },
  { name: 'command done', meaning: 'the --cmd commands have finished', line: /box: the command exited with status \d+/ },
  { name: 'power off', meaning: 'the kernel powered the machine off', line: /reboot: Power down|reboot: System halted/ },
];

export interface Reached {
  stage: Stage;
  /** Guest time (inside KVM_RUN) and wall time since the first KVM_RUN, in ms. */
  guestMs: number;
  wallMs: number;
  /** The console line that showed it. */
  text: string;
}

/** Watches console lines for the stages, in any order (each counts once). */
export class StageWatcher {
  readonly reached: Reached[] = [];
  private partial = '';

  /** Feed console bytes; returns the stages this chunk reached. */
  feed(bytes: Uint8Array, guestMs: number, wallMs: number): Reached[] {
    // The UART hands over one byte per exit: most calls only extend the current line.
    if (!bytes.includes(10)) {
      this.partial = (this.partial + Buffer.from(bytes).toString('latin1')).slice(-4096);
      return [];
    }
    const text = this.partial + Buffer.from(bytes).toString('latin1');
    const lines = text.split('\n');
    this.partial = lines.pop()!.slice(-4096);
    const now: Reached[] = [];
    for (const line of lines) {
      for (const stage of STAGES) {
        if (this.has(stage.name) || !stage.line.test(line)) continue;
        const r = { stage, guestMs, wallMs, text: line.replace(/\r$/, '').trim() };
        this.reached.push(r);
        now.push(r);
      }
    }
    return now;
  }

  has(name: string): boolean {
    return this.reached.some((r) => r.stage.name === name);
  }

  /** The furthest stage reached, by the order of STAGES. */
  furthest(): Reached | undefined {
    let best: Reached | undefined;
    for (const r of this.reached) if (!best || STAGES.indexOf(r.stage) > STAGES.indexOf(best.stage)) best = r;
    return best;
  }
}
