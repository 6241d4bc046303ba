// What a VM exit was, as the monitor records it: decoded from the kvm_run page into a small
// object (kept for the last-exits report and --trace), and formatted as one line.

import { EXIT_REASON } from './kvm-abi.ts';

interface Base {
  /** 1 for the first exit of the run. */
  n: number;
  /** Nanoseconds the guest ran (inside KVM_RUN) before this exit. */
  guestNs: number;
}

export type ExitRecord =
  | (Base & {
    reason: 'IO';
    direction: 'in' | 'out';
    port: number;
    size: number;
    /** More than one for a string instruction (rep outsb): one exit, many transfers. */
    values: number[];
    device?: string;
    register?: string;
  })
  | (Base & { reason: 'MMIO'; write: boolean; addr: number; size: number; value: bigint; device?: string; register?: string })
  | (Base & { reason: string; detail?: string });

export function exitReasonName(reason: number): string {
  return EXIT_REASON[reason] ?? `exit ${reason}`;
}

const hex = (v: number | bigint) => `0x${v.toString(16)}`;

function printable(v: number): string {
  if (v === 10) return " '\\n'";
  if (v >= 0x20 && v < 0x7f) return ` '${String.fromCharCode(v)}'`;
  return '';
}

function duration(ns: number): string {
  if (ns < 1000) return `${ns.toFixed(0)} ns`;
  if (ns < 1e6) return `${(ns / 1000).toFixed(1)} µs`;
  return `${(ns / 1e6).toFixed(2)} ms`;
}

/** `#3     IO    out 0x3f8  COM1 (8250 UART) THR (transmit) <- 0x48 'H'   (guest ran 2.1 µs)` */
export function formatExit(e: ExitRecord): string {
  const head = `#${String(e.n).padEnd(5)} ${e.reason.padEnd(5)}`;
  const tail = `   (guest ran ${duration(e.guestNs)})`;
  if (e.reason === 'IO' && 'port' in e) {
    const where = e.device ? `${e.device} ${e.register}` : '(no device)';
    const data = e.values.map((v) => `${hex(v)}${e.size === 1 ? printable(v) : ''}`).join(' ');
    const arrow = e.direction === 'out' ? '<-' : '->';
    const count = e.values.length > 1 ? ` x${e.values.length}` : '';
    return `${head} ${e.direction.padEnd(3)} ${hex(e.port).padEnd(6)} ${where} ${arrow} ${data}${count}${tail}`;
  }
  if (e.reason === 'MMIO' && 'addr' in e) {
    const where = e.device ? `${e.device} ${e.register}` : '(no device)';
    return `${head} ${(e.write ? 'write' : 'read').padEnd(5)} ${hex(e.addr)} ${e.size} bytes  ${where} ${e.write ? '<-' : '->'} ${e.value}${tail}`;
  }
  return `${head}${'detail' in e && e.detail ? ` ${e.detail}` : ''}${tail}`;
}

export { duration };
