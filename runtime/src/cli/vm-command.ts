// `box vm`: run the lesson guests on KVM. Parsing and printing only; the monitor is in vmm/.
//
//   box vm list                         the guests, one line each
//   box vm run GUEST [--trace]          run one; its console on stdout, the monitor's report on stderr
//   box vm compare                      trap-and-emulate against paravirtual, side by side
//   box vm asm GUEST                    the guest's listing: address, machine code, source
//   box vm linux [--cmd CMDS]           boot a Linux kernel with a busybox initramfs

import fs from 'node:fs';
import { formatListing, assemble } from '../vmm/asm.ts';
import { formatExit, type ExitRecord } from '../vmm/exits.ts';
import { findGuest, GUESTS, runGuest, type Guest, type GuestRun } from '../vmm/index.ts';
import { DEFAULT_TIMEOUT_MS } from '../vmm/monitor.ts';
import { exitStatus, formatCounts, formatMs, formatStopReport, formatSummary, isFailure } from '../vmm/report.ts';
import { UserError } from '../sys/errors.ts';
import type { Trace } from '../sys/trace.ts';
import { helpText, parseArgs, type OptionSpec } from '../container/args.ts';
import { formatTable } from './format.ts';

const KVM_OPTION: OptionSpec = { name: 'kvm', value: true, help: 'the KVM device (default /dev/kvm)' };
const TIMEOUT_OPTION: OptionSpec = { name: 'timeout', value: true, help: `stop a guest still running after this many seconds (default ${DEFAULT_TIMEOUT_MS / 1000})` };

const RUN_OPTIONS: OptionSpec[] = [
  { name: 'trace', help: 'print every VM exit as it happens: reason, port or address, data' },
  { name: 'message', value: true, help: 'what hello, message-trap or message-pv prints instead of its own text (a newline is added if it has none)' },
  KVM_OPTION,
  TIMEOUT_OPTION,
];
/**
 * Warm-up runs of `box vm compare` that are not counted: V8 compiles the monitor's loop to
 * machine code only after it has run a while; before that, its time per exit is several
 * times higher.
 */
const WARMUP_RUNS = 10;
const COMPARE_OPTIONS: OptionSpec[] = [
  { name: 'runs', value: true, help: `runs of each guest, after ${WARMUP_RUNS} warm-up runs; the table shows medians (default 5)` },
  KVM_OPTION,
  TIMEOUT_OPTION,
];

export function vmHelp(): string {
  return `Usage: box vm COMMAND

A small virtual machine monitor on KVM (/dev/kvm), and guest programs that show what a
hypervisor does: every VM exit, counted and timed.

Commands:
  list                      the lesson guests
  run GUEST                 run a guest: its console on stdout, the monitor's report on stderr
  compare                   the same message through the emulated UART (one exit per byte)
                            and through a hypercall (one exit), side by side
  asm GUEST                 the guest's source with its machine code and addresses
  linux                     boot a Linux kernel with a busybox initramfs, its console here

${helpText('box vm run [OPTIONS] GUEST', 'Run a guest. Exit status: the guest\'s exit code (port 0xf4), 0 after HLT, 1 if it crashed, 124 if the watchdog stopped it.', RUN_OPTIONS).trimEnd()}

${helpText('box vm compare [OPTIONS]', 'Run message-trap and message-pv and print their exits and times side by side.', COMPARE_OPTIONS).trimEnd()}

${linuxHelp()}
'box --trace vm run GUEST' also shows the ioctls that build the VM.
`;
}

function linuxHelp(): string {
  return helpText('box vm linux [OPTIONS]', `Boot a Linux kernel (a bzImage from /boot or /var/cache/isolab/guest-kernel, or a vmlinux) with a busybox initramfs box writes, the serial console in this terminal (Ctrl-] leaves). Exit status: the --cmd commands' status after power-off, 0 after a shell, 124 if it stalled or timed out, 1 if it crashed.`, LINUX_OPTIONS).trimEnd();
}

export const LINUX_OPTIONS: OptionSpec[] = [
  { name: 'kernel', value: true, help: 'the kernel: a bzImage (its payload is unpacked) or an ELF vmlinux with a PVH entry' },
  { name: 'initrd', value: true, help: 'your own initramfs (cpio) instead of box\'s busybox one' },
  { name: 'mem', value: true, help: 'guest RAM, e.g. 256m (default), 1g' },
  { name: 'cmd', value: true, help: 'run these shell commands in the guest, then power off' },
  { name: 'append', value: true, help: 'more kernel command-line arguments' },
  { name: 'cpu', value: true, help: 'CPU features: emulable (default: hide XSAVE, AVX, CMPXCHG16B, which an emulating KVM lacks) or host' },
  { name: 'stall', value: true, help: 'stop a boot that prints nothing for this many seconds of guest time (default 120)' },
  { name: 'timeout', value: true, help: 'stop after this many seconds in all (default: none)' },
  KVM_OPTION,
];

export async function vmCommand(argv: string[], trace: Trace): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'list':
      return list(rest);
    case 'run':
      return run(rest, trace);
    case 'compare':
      return compare(rest, trace);
    case 'asm':
      return listing(rest);
    case 'linux':
      return linux(rest, trace);
    case undefined:
      process.stdout.write(vmHelp());
      return 1;
    default:
      throw new UserError(`'${sub}' is not a box vm command; use list, run, compare, asm or linux`);
  }
}

function guestArg(positionals: string[], usage: string): Guest {
  const [name, extra] = positionals;
  if (!name) throw new UserError(`${usage} needs a guest; 'box vm list' shows them`);
  if (extra !== undefined) throw new UserError(`one guest at a time: '${extra}' is extra`);
  const guest = findGuest(name);
  if (!guest) throw new UserError(`no guest named '${name}'; the guests are: ${GUESTS.map((g) => g.name).join(', ')}`);
  return guest;
}

/** The guest with the reader's own message assembled into it (`--message`). */
function withMessage(guest: Guest, text: string | undefined): Guest {
  if (text === undefined) return guest;
  if (!guest.withMessage) {
    const able = GUESTS.filter((g) => g.withMessage).map((g) => g.name).join(', ');
    throw new UserError(`${guest.name} prints no message to replace; --message works with ${able}`);
  }
  try {
    return guest.withMessage(text);
  } catch (err) {
    if (err instanceof RangeError) throw new UserError(`--message: ${err.message}`);
    throw err;
  }
}

function timeoutMs(opts: Record<string, unknown>): number {
  if (opts.timeout === undefined) return DEFAULT_TIMEOUT_MS;
  const s = Number(opts.timeout);
  if (!Number.isFinite(s) || s <= 0 || s > 3600) throw new UserError(`--timeout '${opts.timeout}': give seconds above 0 (up to 3600), e.g. --timeout 2.5`);
  return s * 1000;
}

function list(argv: string[]): number {
  parseArgs(argv, [], 'vm list');
  const width = Math.max(...GUESTS.map((g) => g.name.length));
  for (const g of GUESTS) process.stdout.write(`${g.name.padEnd(width)}   ${g.summary}\n`);
  return 0;
}

function listing(argv: string[]): number {
  const { positionals } = parseArgs(argv, [], 'vm asm');
  const guest = guestArg(positionals, "'box vm asm'");
  process.stdout.write(formatListing(assemble(guest.source)) + '\n');
  return 0;
}

/**
 * Write all of `data` to a descriptor, synchronously: the monitor's loop holds the event loop
 * while the guest runs, so asynchronous writes would wait until the guest is done. A pipe
 * that is full (EAGAIN) is waited for; a reader that went away (EPIPE, `box vm run x | head`)
 * makes the console drop the rest, as a program killed by SIGPIPE would print nothing more.
 */
export function writeAll(fd: number, data: Uint8Array): boolean {
  let off = 0;
  while (off < data.length) {
    try {
      off += fs.writeSync(fd, data, off);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
        continue;
      }
      if (code === 'EPIPE') return false;
      throw err;
    }
  }
  return true;
}

/**
 * The guest's console on stdout, a line at a time: with --trace the exit lines go to stderr
 * between console bytes, and a trace line must never split a line of the guest's.
 */
export function consoleWriter(): { write(b: Uint8Array): void; flush(): void } {
  let pending: Buffer[] = [];
  let open = true;
  const flush = () => {
    if (pending.length && open) open = writeAll(1, Buffer.concat(pending));
    pending = [];
  };
  return {
    write(b) {
      if (!open) return;
      pending.push(Buffer.from(b));
      if (b.includes(10)) flush();
    },
    flush,
  };
}

/** How many exits of one run go into the trace: the lesson guests make up to a few hundred. */
const TRACE_EXITS = 500;

async function run(argv: string[], trace: Trace): Promise<number> {
  const { opts, positionals } = parseArgs(argv, RUN_OPTIONS, 'vm run');
  const guest = withMessage(guestArg(positionals, "'box vm run'"), opts.message as string | undefined);
  const tracing = opts.trace === true;
  const out = consoleWriter();
  const kept: ExitRecord[] = [];
  let outcome: GuestRun;
  try {
    outcome = runGuest(guest, {
      kvmPath: opts.kvm as string | undefined,
      trace,
      timeoutMs: timeoutMs(opts),
      console: (b) => out.write(b),
      onExit: (e) => {
        if (tracing) {
          writeAll(2, Buffer.from(`[exit] ${formatExit(e)}\n`));
        }
        if (e.n <= TRACE_EXITS) kept.push(e);
      },
    });
  } finally {
    out.flush();
  }
  // The trace (box --trace, and the lab's kernel panel) gets the exits too, after the run, so
  // that writing them is not counted as the monitor's time.
  for (const e of kept) trace.record({ kind: 'note', text: `VM exit ${formatExit(e)}` });
  if (outcome.result.exits > kept.length) trace.record({ kind: 'note', text: `and ${outcome.result.exits - kept.length} more VM exits` });
  trace.record({ kind: 'note', text: `KVM_RUN returned ${outcome.result.exits} times: ${formatCounts(outcome.result.byReason)}` });
  process.stderr.write(formatSummary(outcome) + '\n');
  if (isFailure(outcome.result.stop)) process.stderr.write(formatStopReport(outcome) + '\n');
  return exitStatus(outcome.result.stop);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

interface Measured {
  output: string;
  exits: number;
  messageExits: number;
  byReason: Map<string, number>;
  guestNs: number;
  monitorNs: number;
}

function measure(guest: Guest, runs: number, opts: { kvmPath?: string; timeoutMs: number; trace: Trace }): Measured {
  const samples: Measured[] = [];
  for (let i = -WARMUP_RUNS; i < runs; i++) {
    const chunks: Buffer[] = [];
    const r = runGuest(guest, { ...opts, console: (b) => chunks.push(Buffer.from(b)) });
    if (isFailure(r.result.stop)) {
      throw new UserError(`${guest.name} did not finish (${r.result.stop.kind}); run 'box vm run ${guest.name}' to see why`);
    }
    if (i < 0) continue;
    const by = r.result.byDevice;
    samples.push({
      output: Buffer.concat(chunks).toString(),
      exits: r.result.exits,
      messageExits: (by.get('COM1 (8250 UART)') ?? 0) + (by.get('hypercall') ?? 0),
      byReason: r.result.byReason,
      guestNs: r.result.guestNs,
      monitorNs: r.result.monitorNs,
    });
  }
  return {
    ...samples[0],
    guestNs: median(samples.map((s) => s.guestNs)),
    monitorNs: median(samples.map((s) => s.monitorNs)),
  };
}

async function compare(argv: string[], trace: Trace): Promise<number> {
  const { opts, positionals } = parseArgs(argv, COMPARE_OPTIONS, 'vm compare');
  if (positionals.length) throw new UserError(`'box vm compare' takes no guest: it runs message-trap and message-pv`);
  const runs = opts.runs === undefined ? 5 : Number(opts.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 1000) throw new UserError(`--runs '${opts.runs}': give a whole number from 1 to 1000`);
  const o = { kvmPath: opts.kvm as string | undefined, timeoutMs: timeoutMs(opts), trace };
  const trap = measure(findGuest('message-trap')!, runs, o);
  const pv = measure(findGuest('message-pv')!, runs, o);
  if (trap.output !== pv.output) throw new Error('the two guests printed different messages');

  process.stdout.write(`Both guests print the same ${Buffer.byteLength(pv.output)} bytes:\n\n${pv.output}\n`);
  const rows: [string, string, string][] = [
    ['', 'trap and emulate', 'paravirtual'],
    ['', '(8250 UART, OUT per byte)', '(one hypercall)'],
    ['VM exits for the message', String(trap.messageExits), String(pv.messageExits)],
    ['VM exits in all', `${trap.exits} (${formatCounts(trap.byReason)})`, `${pv.exits} (${formatCounts(pv.byReason)})`],
    ['time in the guest (KVM_RUN)', formatMs(trap.guestNs), formatMs(pv.guestNs)],
    ['time in the monitor', formatMs(trap.monitorNs), formatMs(pv.monitorNs)],
    ['total', formatMs(trap.guestNs + trap.monitorNs), formatMs(pv.guestNs + pv.monitorNs)],
  ];
  process.stdout.write(formatTable(rows[0], rows.slice(1)));
  const speedup = (trap.guestNs + trap.monitorNs) / (pv.guestNs + pv.monitorNs);
  process.stdout.write(`\n(medians of ${runs} run${runs === 1 ? '' : 's'} each, after ${WARMUP_RUNS} warm-up runs) The paravirtual guest made ${trap.messageExits} exits into ${pv.messageExits} and finished ${speedup.toFixed(1)}x sooner.\n`);
  return 0;
}

/** "256m", "1g", "512M", "300" (MiB) -> bytes. */
export function parseMem(text: string): number {
  const m = /^(\d+)([kmg]?)i?b?$/i.exec(text.trim());
  const unit = { '': 1024 * 1024, k: 1024, m: 1024 * 1024, g: 1024 * 1024 * 1024 }[(m?.[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g'];
  const bytes = m ? Number(m[1]) * unit : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 128 * 1024 * 1024 || bytes > 3 * 1024 * 1024 * 1024) {
    throw new UserError(`--mem '${text}': give the guest's RAM from 128m to 3g, e.g. --mem 256m`);
  }
  return Math.floor(bytes / 4096) * 4096;
}

function seconds(opts: Record<string, unknown>, name: string): number | undefined {
  if (opts[name] === undefined) return undefined;
  const s = Number(opts[name]);
  if (!Number.isFinite(s) || s <= 0 || s > 86400) throw new UserError(`--${name} '${opts[name]}': give seconds above 0, e.g. --${name} 60`);
  return s * 1000;
}

/** Ctrl-]: leave the guest, as telnet and virsh console do. */
const DETACH = 0x1d;

async function linux(argv: string[], trace: Trace): Promise<number> {
  const { opts, positionals } = parseArgs(argv, LINUX_OPTIONS, 'vm linux');
  if (positionals.length) throw new UserError(`'box vm linux' takes no arguments ('${positionals[0]}'); give commands with --cmd '...'`);
  const cpu = (opts.cpu as string | undefined) ?? 'emulable';
  if (cpu !== 'emulable' && cpu !== 'host') throw new UserError(`--cpu '${cpu}': give emulable or host`);
  const cmd = opts.cmd as string | undefined;
  const { bootLinux, formatLinuxReport, linuxExitStatus } = await import('../vmm/linux/index.ts');
  const out = consoleWriter();
  const abort = new AbortController();
  const stdin = process.stdin;
  const interactive = cmd === undefined;
  const raw = interactive && stdin.isTTY;
  let onData: ((b: Buffer) => void) | undefined;
  try {
    const r = await bootLinux({
      kernelPath: opts.kernel as string | undefined,
      initrdPath: opts.initrd as string | undefined,
      memBytes: opts.mem === undefined ? undefined : parseMem(opts.mem as string),
      cmd,
      append: opts.append as string | undefined,
      cpu,
      kvmPath: opts.kvm as string | undefined,
      stallMs: seconds(opts, 'stall'),
      timeoutMs: seconds(opts, 'timeout'),
      trace,
      signal: abort.signal,
      console: (b) => out.write(b),
      onSlice: () => out.flush(),
      onReady: (m, info) => {
        process.stderr.write([
          `box vm linux: ${info.kernel} (${info.format})`,
          `  initramfs ${(info.initrdBytes / 1024).toFixed(0)} KiB (busybox and /init, written by box); ${m.e820.at(-1)!.size / 1048576 + 1} MiB of RAM; set up in ${info.setupMs.toFixed(0)} ms`,
          `  CPU features hidden from the guest: ${m.hiddenCpu}`,
          `  kernel command line: ${m.cmdline}`,
          interactive ? '  Ctrl-] leaves the VM' : `  running: ${cmd}`,
          '',
        ].join('\n'));
        if (!interactive) return;
        // The keyboard goes to the guest's serial port; in raw mode every key, Ctrl-C included.
        if (raw) stdin.setRawMode(true);
        onData = (b) => {
          if (b.includes(DETACH)) abort.abort();
          else m.uart.receive(b);
        };
        stdin.on('data', onData);
        stdin.resume();
      },
    });
    out.flush();
    process.stderr.write(formatLinuxReport(r) + '\n');
    return linuxExitStatus(r);
  } finally {
    if (onData) stdin.off('data', onData);
    if (raw) stdin.setRawMode(false);
    if (interactive) stdin.pause();
  }
}
