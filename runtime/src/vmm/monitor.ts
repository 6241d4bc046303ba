// The monitor's loop: enter the guest with KVM_RUN, and when the guest does something only
// a monitor can answer (touch a device, halt, crash), KVM returns here with the reason in
// the kvm_run page. The monitor plays the device and enters the guest again. That is all a
// hypervisor's "trap and emulate" is; the rest of a real one (QEMU, Firecracker) is more
// devices.
//
// KVM_RUN blocks the calling thread, and box calls it on Node's main thread: the event loop
// stands still while the guest runs. For `box vm run` that is fine, because the monitor has
// nothing else to do; console output is written synchronously, and the watchdog needs no
// JavaScript to fire (see watchdog.ts). A monitor that must also read the user's keyboard
// (a Linux shell) would run the vCPU in a worker thread instead.

import { EXIT, INTERNAL_ERROR, RUN, SYSTEM_EVENT } from './kvm-abi.ts';
import type { DeviceContext, Stop as DeviceStop } from './devices/bus.ts';
import { exitReasonName, type ExitRecord } from './exits.ts';
import type { Machine } from './machine.ts';
import type { Regs, Sregs } from './regs.ts';
import { Watchdog } from './watchdog.ts';

export type StopReason =
  | { kind: 'halt' }
  | DeviceStop
  | { kind: 'shutdown' }
  | { kind: 'timeout'; ms: number }
  | { kind: 'fail-entry'; hardwareReason: bigint }
  | { kind: 'internal-error'; suberror: number; description: string; instruction?: Uint8Array }
  | { kind: 'system-event'; event: string }
  | { kind: 'unhandled'; reason: string };

export interface RunOptions {
  /** Stop a guest that has not finished after this long (default 5000 ms). */
  timeoutMs?: number;
  /** Called for every exit as it happens (--trace). */
  onExit?: (e: ExitRecord) => void;
  /** Where the guest's console output goes. */
  console: (bytes: Uint8Array) => void;
}

export interface RunResult {
  stop: StopReason;
  /** VM exits, all reasons together. */
  exits: number;
  byReason: Map<string, number>;
  /** Port and MMIO exits by the device that handled them ("(no device)" for none). */
  byDevice: Map<string, number>;
  /** Time inside KVM_RUN: the guest running, plus KVM's own entry and exit work. */
  guestNs: number;
  /** Time in the monitor between KVM_RUNs: decoding exits and emulating devices. */
  monitorNs: number;
  /** The last exits, oldest first, for the report of a guest that went wrong. */
  lastExits: ExitRecord[];
  regs: Regs;
  sregs: Sregs;
}

const KEEP_EXITS = 12;
export const DEFAULT_TIMEOUT_MS = 5000;

/** What the exit loop needs of a machine: the lesson machine and the Linux machine both have it. */
export type LoopMachine = Pick<Machine, 'vm' | 'vcpu' | 'bus'>;

/**
 * One KVM_RUN and what the monitor does about its exit, with the counts kept across calls.
 * `box vm run` calls step() until the guest stops; `box vm linux` does too, a time slice at
 * a time, returning to Node's event loop in between.
 */
export class ExitLoop {
  readonly byReason = new Map<string, number>();
  readonly byDevice = new Map<string, number>();
  readonly lastExits: ExitRecord[] = [];
  exits = 0;
  guestNs = 0;
  private readonly m: LoopMachine;
  private readonly ctx: DeviceContext;
  private readonly onExit?: (e: ExitRecord) => void;

  constructor(m: LoopMachine, opts: Pick<RunOptions, 'console' | 'onExit'>) {
    this.m = m;
    this.ctx = { vm: m.vm, vcpu: m.vcpu, console: opts.console };
    this.onExit = opts.onExit;
  }

  private record(e: ExitRecord): void {
    if ('device' in e) {
      const d = e.device ?? '(no device)';
      this.byDevice.set(d, (this.byDevice.get(d) ?? 0) + 1);
    }
    this.lastExits.push(e);
    if (this.lastExits.length > KEEP_EXITS) this.lastExits.shift();
    this.onExit?.(e);
  }

  /** Enter the guest once; returns why the run must stop, or undefined to go on. */
  step(): StopReason | undefined {
    const { vcpu, bus } = this.m;
    const run = vcpu.run;
    const ctx = this.ctx;
    const before = process.hrtime.bigint();
    const reason = vcpu.enter();
    const ran = Number(process.hrtime.bigint() - before);
    this.guestNs += ran;
    this.exits++;
    const name = exitReasonName(reason);
    this.byReason.set(name, (this.byReason.get(name) ?? 0) + 1);
    const base = { n: this.exits, guestNs: ran };
    let stop: StopReason | undefined;

    switch (reason) {
      case EXIT.IO: {
        // kvm_run.io: which port, how wide, how many (string I/O), and where in this page
        // the data is: written by the guest for OUT, to be written by us for IN.
        const out = run[RUN.io.direction] === 1;
        const size = run[RUN.io.size];
        const port = run.readUInt16LE(RUN.io.port);
        const count = run.readUInt32LE(RUN.io.count);
        const at = Number(run.readBigUInt64LE(RUN.io.data_offset));
        const device = bus.port(port);
        const values: number[] = [];
        for (let i = 0; i < count; i++) {
          const off = at + i * size;
          if (out) {
            const v = run.readUIntLE(off, size);
            values.push(v);
            const s = device?.write(port, size, v, ctx);
            if (s) stop = s;
          } else {
            // No device: the bus floats high and the guest reads all ones.
            const v = device ? device.read(port, size, ctx) >>> 0 : 0xffffffff;
            const masked = size === 4 ? v : v & ((1 << (8 * size)) - 1);
            run.writeUIntLE(masked, off, size);
            values.push(masked);
          }
        }
        this.record({ ...base, reason: 'IO', direction: out ? 'out' : 'in', port, size, values, device: device?.name, register: device?.register(port, out) });
        break;
      }
      case EXIT.MMIO: {
        const addr = Number(run.readBigUInt64LE(RUN.mmio.phys_addr));
        const len = run.readUInt32LE(RUN.mmio.len);
        const write = run[RUN.mmio.is_write] === 1;
        const device = bus.mmioAt(addr);
        let value: bigint;
        if (write) {
          value = readLE(run, RUN.mmio.data, len);
          const s = device?.write(addr, len, value, ctx);
          if (s) stop = s;
        } else {
          value = device ? BigInt.asUintN(len * 8, device.read(addr, len, ctx)) : BigInt.asUintN(len * 8, -1n);
          writeLE(run, RUN.mmio.data, len, value);
        }
        this.record({ ...base, reason: 'MMIO', write, addr, size: len, value, device: device?.name, register: device?.register(addr, write) });
        break;
      }
      case EXIT.HLT:
        // No interrupt controller, so nothing can wake a halted CPU: HLT ends the run. (With
        // KVM's in-kernel irqchip, HLT waits inside KVM_RUN and never comes here.)
        this.record({ ...base, reason: name });
        stop = { kind: 'halt' };
        break;
      case EXIT.SHUTDOWN:
        // A fault while delivering a fault while delivering a fault: a triple fault. Real
        // hardware resets; KVM stops the vCPU and tells the monitor.
        this.record({ ...base, reason: name, detail: 'triple fault' });
        stop = { kind: 'shutdown' };
        break;
      case EXIT.FAIL_ENTRY: {
        const hw = run.readBigUInt64LE(RUN.fail_entry.hardware_entry_failure_reason);
        this.record({ ...base, reason: name, detail: `hardware reason 0x${hw.toString(16)}` });
        stop = { kind: 'fail-entry', hardwareReason: hw };
        break;
      }
      case EXIT.INTERNAL_ERROR: {
        const sub = run.readUInt32LE(RUN.internal.suberror);
        const flags = run.readBigUInt64LE(RUN.emulation_failure.flags);
        const withBytes = sub === 1 && (flags & 1n) === 1n;
        const size = run[RUN.emulation_failure.insn_size];
        const instruction = withBytes ? Uint8Array.from(run.subarray(RUN.emulation_failure.insn_bytes, RUN.emulation_failure.insn_bytes + size)) : undefined;
        const description = INTERNAL_ERROR[sub] ?? `suberror ${sub}`;
        this.record({ ...base, reason: name, detail: description });
        stop = { kind: 'internal-error', suberror: sub, description, instruction };
        break;
      }
      case EXIT.SYSTEM_EVENT: {
        // The guest asked the (emulated) platform to power off or reset, through a device
        // KVM handles itself (PSCI on Arm; on x86 only with a paravirtual device).
        const type = SYSTEM_EVENT[run.readUInt32LE(RUN.system_event.type)] ?? 'unknown';
        this.record({ ...base, reason: name, detail: type });
        stop = { kind: 'system-event', event: type };
        break;
      }
      case EXIT.INTR:
        // Our watchdog's signal (or another one: then just go back in).
        this.record({ ...base, reason: name, detail: 'interrupted by a signal' });
        break;
      default:
        this.record({ ...base, reason: name });
        stop = { kind: 'unhandled', reason: name };
    }
    return stop;
  }
}

export function runMachine(m: Machine, opts: RunOptions): RunResult {
  const { vcpu } = m;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const loop = new ExitLoop(m, opts);
  let stop: StopReason | undefined;
  const watchdog = new Watchdog(vcpu, timeoutMs);
  const start = process.hrtime.bigint();
  try {
    while (!stop) {
      stop = loop.step();
      // A guest that keeps exiting (an endless loop of OUTs) is stopped here; one that never
      // exits, by the watchdog's signal.
      if (!stop && watchdog.expired()) stop = { kind: 'timeout', ms: timeoutMs };
    }
  } finally {
    watchdog.stop();
  }
  const wallNs = Number(process.hrtime.bigint() - start);
  return {
    stop,
    exits: loop.exits,
    byReason: loop.byReason,
    byDevice: loop.byDevice,
    guestNs: loop.guestNs,
    monitorNs: wallNs - loop.guestNs,
    lastExits: loop.lastExits,
    regs: vcpu.getRegs(),
    sregs: vcpu.getSregs(),
  };
}

/** Up to `max` instruction bytes at a guest-linear address, through the guest's page tables if paging is on. */
export function bytesAt(m: LoopMachine, linear: bigint, max: number): Uint8Array | undefined {
  const phys = m.vcpu.translate(linear);
  if (phys === null) return undefined;
  const ram = m.vm.ram(Number(phys));
  if (!ram) return undefined;
  const n = Math.min(max, ram.guestPhys + ram.size - Number(phys));
  return Uint8Array.from(ram.slice(Number(phys), n));
}

function readLE(buf: Buffer, at: number, len: number): bigint {
  let v = 0n;
  for (let i = len - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[at + i]);
  return v;
}

function writeLE(buf: Buffer, at: number, len: number, v: bigint): void {
  for (let i = 0; i < len; i++) buf[at + i] = Number((v >> BigInt(8 * i)) & 0xffn);
}
