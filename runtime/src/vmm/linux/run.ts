// Running the Linux machine. The same exit loop as the lesson guests (monitor.ts), in time
// slices: a periodic timer signal interrupts KVM_RUN every SLICE_MS (watchdog.ts), and
// between slices the monitor gives Node's event loop a turn, so the user's keystrokes reach
// the serial port and the boot log reaches the terminal while the guest runs. KVM_RUN never
// holds the event loop longer than one slice.
//
// A run ends when the kernel powers off or resets, when the guest crashes or KVM gives up,
// when the boot makes no progress (no console output for `stallMs` of guest time before
// user space), or at `timeoutMs`. Every end comes with the stage the boot reached.

import { setImmediate as nextTurn } from 'node:timers/promises';
import { bytesAt, ExitLoop, type StopReason } from '../monitor.ts';
import type { ExitRecord } from '../exits.ts';
import type { Regs, Sregs } from '../regs.ts';
import { Watchdog } from '../watchdog.ts';
import type { LinuxMachine } from './machine.ts';
import { StageWatcher, type Reached } from './stages.ts';

export const SLICE_MS = 50;

export type LinuxStop =
  | StopReason
  | { kind: 'poweroff' }
  | { kind: 'reset' }
  | { kind: 'stalled'; ms: number }
  | { kind: 'detached' };

export interface LinuxRunOptions {
  /** The guest's console output, as it comes. */
  console(bytes: Uint8Array): void;
  /** Called at the end of every slice (flush output here). */
  onSlice?(): void;
  onStage?(r: Reached): void;
  /** Stop when the boot prints nothing for this much guest time before reaching user space. */
  stallMs: number;
  /** Stop after this much wall time in all; undefined = never. */
  timeoutMs?: number;
  /** Set by the user detaching (Ctrl-]). */
  signal?: AbortSignal;
}

export interface LinuxRunResult {
  stop: LinuxStop;
  stages: Reached[];
  /** The kernel's panic message, if it panicked. */
  panic?: string;
  exits: number;
  byReason: Map<string, number>;
  byDevice: Map<string, number>;
  guestNs: number;
  wallNs: number;
  lastExits: ExitRecord[];
  regs: Regs;
  sregs: Sregs;
  /** Up to 16 instruction bytes at rip, through the guest's page tables. */
  codeAtRip?: Uint8Array;
}

export async function runLinux(m: LinuxMachine, o: LinuxRunOptions): Promise<LinuxRunResult> {
  const watcher = new StageWatcher();
  const start = process.hrtime.bigint();
  let lastOutputNs = 0;
  let tail = ''; // the last of the console, for the lines that end a run
  let stop: LinuxStop | undefined;
  let loop: ExitLoop;
  const guestMs = () => loop.guestNs / 1e6;
  const wallMs = () => Number(process.hrtime.bigint() - start) / 1e6;
  loop = new ExitLoop(m, {
    console: (bytes) => {
      o.console(bytes);
      lastOutputNs = loop.guestNs;
      tail = (tail + Buffer.from(bytes).toString('latin1')).slice(-2048);
      for (const r of watcher.feed(bytes, guestMs(), wallMs())) o.onStage?.(r);
      if (watcher.has('power off')) stop ??= { kind: 'poweroff' };
    },
  });
  // A restart request: the kernel prints this line, then resets the CPU (a triple fault with
  // reboot=t), which KVM reports as a shutdown exit.
  const resetting = () => /reboot: Restarting system/.test(tail);

  const watchdog = new Watchdog(m.vcpu, SLICE_MS, SLICE_MS);
  try {
    while (!stop) {
      const s = loop.step();
      if (s) {
        stop = s.kind === 'shutdown' && (resetting() || watcher.has('power off')) ? { kind: 'reset' } : s;
        break;
      }
      if (loop.lastExits.at(-1)?.reason !== 'INTR') continue;
      watchdog.take();
      // End of a slice: let Node run (keyboard input, output, timers), then check the clocks.
      o.onSlice?.();
      await nextTurn();
      if (o.signal?.aborted) stop = { kind: 'detached' };
      else if (o.timeoutMs !== undefined && wallMs() > o.timeoutMs) stop = { kind: 'timeout', ms: o.timeoutMs };
      else if (!watcher.has('init') && (loop.guestNs - lastOutputNs) / 1e6 > o.stallMs) stop = { kind: 'stalled', ms: o.stallMs };
    }
  } finally {
    watchdog.stop();
    o.onSlice?.();
  }
  const panic = /Kernel panic - not syncing: ([^\r\n]*)/.exec(tail)?.[1];
  const regs = m.vcpu.getRegs();
  const sregs = m.vcpu.getSregs();
  return {
    stop: stop!,
    stages: watcher.reached,
    panic,
    exits: loop.exits,
    byReason: loop.byReason,
    byDevice: loop.byDevice,
    guestNs: loop.guestNs,
    wallNs: Number(process.hrtime.bigint() - start),
    lastExits: loop.lastExits,
    regs,
    sregs,
    codeAtRip: bytesAt(m, sregs.cs.base + regs.rip, 16),
  };
}
