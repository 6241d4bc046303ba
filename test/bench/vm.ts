// A benchmark, not a test: how long a lesson VM takes from nothing to its guest's last exit.
// For the hello guest: open /dev/kvm, create the VM, map and load its memory, create and set
// up the vCPU, run until the guest halts (31 exits) - the median of many runs, in-process
// after warm-up, with where the time went.
//
//   node test/bench/vm.ts [--runs 50] [--guest hello]
//
// The lead's runner can call benchVmBoot() and print formatVmBench().
//
// And the seed's trade-off in two numbers: a Linux VM boot (`box vm linux --cmd true`, as far
// as the host gets, with the stage reached) against the container start median (`box run
// --rm busybox true`), measured in the same run:
//
//   node test/bench/vm.ts --linux [--runs 10] [--timeout 300]

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Trace } from '../../runtime/src/sys/trace.ts';
import { assemble } from '../../runtime/src/vmm/asm.ts';
import { findGuest } from '../../runtime/src/vmm/index.ts';
import { createMachine } from '../../runtime/src/vmm/machine.ts';
import { runMachine } from '../../runtime/src/vmm/monitor.ts';

export interface VmBenchResult {
  guest: string;
  runs: number;
  /** Milliseconds from opening /dev/kvm to the guest's final exit (HLT or exit port), median. */
  createToExitMs: number;
  /** The same, 90th percentile. */
  p90Ms: number;
  /** Medians of the parts: VM and vCPU set up; inside KVM_RUN; in the monitor between runs; teardown. */
  setupMs: number;
  guestMs: number;
  monitorMs: number;
  teardownMs: number;
  exits: number;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

const median = (xs: number[]) => percentile(xs, 50);

export function benchVmBoot(opts: { runs?: number; warmup?: number; guest?: string; kvmPath?: string } = {}): VmBenchResult {
  const runs = opts.runs ?? 50;
  const warmup = opts.warmup ?? 10;
  const guest = findGuest(opts.guest ?? 'hello');
  if (!guest) throw new Error(`no guest ${opts.guest}`);
  const program = assemble(guest.source);
  const total: number[] = [];
  const setup: number[] = [];
  const inGuest: number[] = [];
  const inMonitor: number[] = [];
  const teardown: number[] = [];
  let exits = 0;
  for (let i = -warmup; i < runs; i++) {
    const t0 = performance.now();
    const m = createMachine(program, { kvmPath: opts.kvmPath, trace: new Trace() });
    const t1 = performance.now();
    const r = runMachine(m, { console: () => {} });
    const t2 = performance.now();
    m.close();
    const t3 = performance.now();
    if (r.stop.kind !== 'halt' && r.stop.kind !== 'exit') throw new Error(`${guest.name} stopped with ${r.stop.kind}`);
    if (i < 0) continue;
    total.push(t2 - t0);
    setup.push(t1 - t0);
    inGuest.push(r.guestNs / 1e6);
    inMonitor.push(r.monitorNs / 1e6);
    teardown.push(t3 - t2);
    exits = r.exits;
  }
  return {
    guest: guest.name,
    runs,
    createToExitMs: median(total),
    p90Ms: percentile(total, 90),
    setupMs: median(setup),
    guestMs: median(inGuest),
    monitorMs: median(inMonitor),
    teardownMs: median(teardown),
    exits,
  };
}

export function formatVmBench(r: VmBenchResult): string {
  const f = (ms: number) => `${ms.toFixed(3)} ms`;
  return [
    `VM create-to-exit, guest '${r.guest}' (${r.exits} exits), median of ${r.runs} runs: ${f(r.createToExitMs)} (p90 ${f(r.p90Ms)})`,
    `  set up (open /dev/kvm, VM, memory, vCPU, registers): ${f(r.setupMs)}`,
    `  in the guest (inside KVM_RUN):                      ${f(r.guestMs)}`,
    `  in the monitor (between KVM_RUNs):                  ${f(r.monitorMs)}`,
    `  teardown (close, munmap; not in the total):         ${f(r.teardownMs)}`,
  ].join('\n');
}

const box = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../runtime/bin/box');

export interface RaceResult {
  containerRuns: number;
  /** `box run --rm busybox true`, start to exit, median and all runs (ms). */
  containerMedianMs: number;
  /** `box vm linux --cmd true`: wall ms from start to box's exit, whatever stopped it. */
  vmWallMs: number;
  vmExit: number | null;
  /** box's first report line ("the guest powered off", "no progress: ..."). */
  vmStop: string;
  /** "user space (...) at 2.1 s of guest time, 2.3 s wall" */
  vmReached: string;
  vmStages: string;
  vmSetup: string;
}

/** The boot race, one VM boot against the container start median, in one run. */
export function benchLinuxVsContainer(opts: { runs?: number; timeoutS?: number; stallS?: number } = {}): RaceResult {
  const runs = opts.runs ?? 10;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'box-bench-race-'));
  fs.chmodSync(root, 0o711);
  const env = { ...process.env, BOX_ROOT: root };
  const ms: number[] = [];
  try {
    for (let i = -2; i < runs; i++) {
      const t0 = performance.now();
      const r = spawnSync(box, ['run', '--rm', 'busybox', 'true'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) throw new Error(`box run failed: ${r.stderr}`);
      if (i >= 0) ms.push(performance.now() - t0);
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  const timeout = opts.timeoutS ?? 300;
  const t0 = performance.now();
  const vm = spawnSync(box, ['vm', 'linux', '--cmd', 'true', '--timeout', String(timeout), '--stall', String(opts.stallS ?? 60)], {
    encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: (timeout + 120) * 1000,
  });
  const vmWallMs = performance.now() - t0;
  const line = (re: RegExp) => re.exec(vm.stderr ?? '')?.[1] ?? '(none)';
  return {
    containerRuns: runs,
    containerMedianMs: median(ms),
    vmWallMs,
    vmExit: vm.status,
    vmStop: [...(vm.stderr ?? '').matchAll(/^box vm linux: ([^\n]*)/gm)].at(-1)?.[1] ?? '(no report)',
    vmReached: line(/boot reached: ([^\n]*)/),
    vmStages: line(/stages: ([^\n]*)/),
    vmSetup: line(/(set up in \d+ ms)/),
  };
}

export function formatRace(r: RaceResult): string {
  const finished = r.vmExit === 0;
  return [
    `container: box run --rm busybox true, median of ${r.containerRuns} runs: ${r.containerMedianMs.toFixed(1)} ms`,
    `VM:        box vm linux --cmd true: ${(r.vmWallMs / 1000).toFixed(1)} s wall, exit ${r.vmExit}, ${finished ? 'booted to user space and powered off' : 'did not finish'}`,
    `           ${r.vmStop}`,
    `           reached: ${r.vmReached}`,
    `           stages (guest time): ${r.vmStages}; kernel unpacked and VM ${r.vmSetup}`,
    finished
      ? `           the VM took ${(r.vmWallMs / r.containerMedianMs).toFixed(0)}x the container's start`
      : `           at least ${(r.vmWallMs / r.containerMedianMs).toFixed(0)}x the container's start, and it did not get to user space on this host`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const runs = arg('runs') ? Number(arg('runs')) : undefined;
  if (process.argv.includes('--linux')) {
    const timeoutS = arg('timeout') ? Number(arg('timeout')) : undefined;
    console.log(formatRace(benchLinuxVsContainer({ runs, timeoutS })));
  } else {
    console.log(formatVmBench(benchVmBoot({ runs, guest: arg('guest') })));
  }
}
