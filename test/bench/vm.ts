// A benchmark, not a test: how long a lesson VM takes from nothing to its guest's last exit.
// For the hello guest: open /dev/kvm, create the VM, map and load its memory, create and set
// up the vCPU, run until the guest halts (31 exits) - the median of many runs, in-process
// after warm-up, with where the time went.
//
//   node test/bench/vm.ts [--runs 50] [--guest hello]
//
// The lead's runner can call benchVmBoot() and print formatVmBench().

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

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const runs = arg('runs') ? Number(arg('runs')) : undefined;
  console.log(formatVmBench(benchVmBoot({ runs, guest: arg('guest') })));
}
