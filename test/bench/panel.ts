// A benchmark, not a test: what the kernel panel costs the lab server. A real lab server
// process with N terminals (real `box --lab` sandboxes, each with one detached container, so
// each panel has two cgroups to plot and a few processes to look at), measured twice for the
// same time: with every panel hidden (nothing sampled; only the terminals), then with every
// panel shown ({"type":"panel","on":true}: cgroup counters 4 times a second, namespaces twice
// a second, the trace as it comes). CPU is the server process's own utime + stime.
//
//   node test/bench/panel.ts [--terminals 20] [--seconds 30] [--driver box|host-shell]
//
// The bench runner (test/bench/run.ts) calls benchPanel() and prints formatPanelBench().

import fs from 'node:fs';
import os from 'node:os';
import { boxLabAvailable, spawnServer, TEST_TOKEN } from '../e2e/harness.ts';
import { LabClient } from '../e2e/lab-client.ts';
import { benchArgs } from './args.ts';

export interface PanelBenchOptions {
  terminals?: number;
  seconds?: number;
  driver?: 'box' | 'host-shell';
  log?: (line: string) => void;
}

export interface PanelPhase {
  /** CPU seconds the server used per second of wall time (1 = one core busy). */
  cpuPerSecond: number;
  /** Frames and bytes of panel traffic the clients received per second, all terminals together. */
  framesPerSecond: number;
  bytesPerSecond: number;
  /** What the panels were showing: cgroups per stats frame, processes per namespaces frame. */
  cgroupsPerPanel: number;
  processesPerPanel: number;
}

export interface PanelBenchResult {
  driver: string;
  terminals: number;
  seconds: number;
  /** Every panel hidden. */
  off: PanelPhase;
  /** Every panel shown on its Resources view: the plots (cgroup counters, 4 times a second). */
  on: PanelPhase;
  /** Every panel shown on its Namespaces view: the counters, and /proc/PID/ns twice a second. */
  onNamespaces: PanelPhase;
}

/** utime + stime of a process, in seconds (/proc/PID/stat fields 14 and 15, in clock ticks). */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the command name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
/** sysconf(_SC_CLK_TCK): 100 on every Linux architecture that Node runs on. */
const CLOCK_TICKS = 100;

const PANEL_TYPES = new Set(['trace', 'stats', 'namespaces']);

async function measure(pid: number, clients: LabClient[], seconds: number): Promise<PanelPhase> {
  let frames = 0;
  let bytes = 0;
  const groups: number[] = [];
  const processes = new Map<LabClient, number>();
  const counter = (c: LabClient) => (data: Buffer, isBinary: boolean) => {
    if (isBinary) return;
    const type = /^\{"type":"([a-z]+)"/.exec(data.toString('latin1', 0, 30))?.[1];
    if (!type || !PANEL_TYPES.has(type)) return;
    frames++;
    bytes += data.length;
    const m = JSON.parse(data.toString()) as { groups?: unknown[]; processes?: unknown[] };
    if (type === 'stats' && Array.isArray(m.groups)) groups.push(m.groups.length);
    if (type === 'namespaces' && Array.isArray(m.processes)) processes.set(c, m.processes.length);
  };
  const listeners = clients.map((c) => [c, counter(c)] as const);
  for (const [c, l] of listeners) c.ws.on('message', l);
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(pid) - cpu0;
  for (const [c, l] of listeners) c.ws.off('message', l);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  return {
    cpuPerSecond: cpu / wall, framesPerSecond: frames / wall, bytesPerSecond: bytes / wall,
    cgroupsPerPanel: mean(groups), processesPerPanel: mean([...processes.values()]),
  };
}

export async function benchPanel(opts: PanelBenchOptions = {}): Promise<PanelBenchResult> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const n = opts.terminals ?? 20;
  const seconds = opts.seconds ?? 30;
  let driver = opts.driver;
  if (!driver) {
    const box = await boxLabAvailable();
    driver = box.ok ? 'box' : 'host-shell';
    if (!box.ok) log(`bench panel: using the host-shell driver (no cgroups to plot): ${box.reason}`);
  }
  const server = await spawnServer('test/e2e/serve.ts', [JSON.stringify({ driver, maxSandboxes: n })]);
  const pid = server.proc.pid!;
  const clients: LabClient[] = [];
  try {
    log(`bench panel: opening ${n} terminals (${driver})…`);
    for (let i = 0; i < n; i++) clients.push(new LabClient(server.port, { token: TEST_TOKEN, cols: 100, rows: 30 }));
    await Promise.all(clients.map((c) => c.message('hello', 180_000)));
    // One detached container in each: a second cgroup and more processes per panel.
    const container = driver === 'box' ? 'box run -d busybox sleep 100000 >/dev/null' : 'sleep 100000 &';
    await Promise.all(clients.map((c) => c.run(`stty -echo; ${container}`, 180_000)));
    await new Promise((r) => setTimeout(r, 3000)); // let the starts settle

    log(`bench panel: ${seconds} s with every panel hidden…`);
    const off = await measure(pid, clients, seconds);
    for (const c of clients) c.send({ type: 'panel', on: true, tab: 'resources' });
    await new Promise((r) => setTimeout(r, 2000)); // the first look at each sandbox (box inspect) is a one-off
    log(`bench panel: ${seconds} s with every panel shown, on its plots…`);
    const on = await measure(pid, clients, seconds);

    // The first namespaces frame of each panel comes at once; later ones only on a change.
    const firstNs = Promise.all(clients.map((c) => c.message('namespaces', 60_000, c.messages.length)));
    for (const c of clients) c.send({ type: 'panel', on: true, tab: 'namespaces' });
    const procs = (await firstNs).map((m) => (m.processes as unknown[] | undefined)?.length ?? 0);
    await new Promise((r) => setTimeout(r, 1000));
    log(`bench panel: ${seconds} s with every panel shown, on its namespaces…`);
    const onNamespaces = await measure(pid, clients, seconds);
    onNamespaces.processesPerPanel ||= procs.reduce((a, b) => a + b, 0) / procs.length;
    return { driver, terminals: n, seconds, off, on, onNamespaces };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await server.stop();
  }
}

export function formatPanelBench(r: PanelBenchResult): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const row = (name: string, p: PanelPhase) => `  ${name.padEnd(22)} ${pct(p.cpuPerSecond).padStart(6)} of a core  `
    + `${p.framesPerSecond.toFixed(0).padStart(4)} panel frames/s  ${(p.bytesPerSecond / 1024).toFixed(1).padStart(5)} KiB/s`;
  // With idle terminals the hidden case is close to nothing at all (a few 10 ms clock ticks
  // in the whole run): the ratio is then large and says little; the added share says more.
  const ratio = (p: PanelPhase) => (r.off.cpuPerSecond > 0
    ? `${(p.cpuPerSecond / r.off.cpuPerSecond).toFixed(1)}x${r.off.cpuPerSecond < 0.002 ? ' (of an idle server)' : ''}`
    : '∞ (the server used no CPU at all with the panels hidden)');
  const extra = (p: PanelPhase) => p.cpuPerSecond - r.off.cpuPerSecond;
  return [
    `kernel panel: lab server CPU with ${r.terminals} terminals (${r.driver}), ${r.seconds} s each, ${os.cpus().length} CPUs`
      + ` (each sandbox: ${r.on.cgroupsPerPanel.toFixed(1)} cgroups, ${r.onNamespaces.processesPerPanel.toFixed(1)} processes)`,
    row('panels hidden', r.off),
    row('plots shown', r.on),
    row('namespaces shown', r.onNamespaces),
    `  plots / hidden         ${ratio(r.on)}: the plots add ${pct(extra(r.on))} of a core, ${pct(extra(r.on) / r.terminals)} per terminal`,
    `  namespaces / hidden    ${ratio(r.onNamespaces)}: ${pct(extra(r.onNamespaces))} of a core, ${pct(extra(r.onNamespaces) / r.terminals)} per terminal`,
  ].join('\n');
}

if (import.meta.main) {
  const { driver, num } = benchArgs(process.argv.slice(2));
  console.log(formatPanelBench(await benchPanel({ driver, terminals: num('--terminals'), seconds: num('--seconds') })));
}
