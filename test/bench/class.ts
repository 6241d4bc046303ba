// A benchmark, not a test: a class on one lab server. A real `npm start -- --class` server
// (src/server/main.ts) on 127.0.0.1, students who join with the code and a name over HTTP, and
// each a real WebSocket terminal into a real `box run --lab` sandbox:
//   - M idle students: joined, a prompt, then nothing (a student reading);
//   - N active students: at a student's pace (a key every ~180 ms, a pause to think between
//     commands) they type commands from the lessons, `box run --rm busybox ...` among them.
// Reported: p50/p99 keystroke echo of the active students (a key sent -> its echo received, only
// keys typed at a prompt), time from a new student's socket to a prompt, memory per idle and
// per active sandbox, and the lab server process's CPU. Everything stays on loopback and is
// bounded: at most 60 active, 200 idle, 600 s of typing.
//
//   CLASS_ACTIVE=3 CLASS_IDLE=5 CLASS_SECONDS=60 BENCH_ONLY=class npm run bench
//   CLASS_ACTIVE=2,4,8 ...   several class sizes, one fresh server each, and the largest N whose
//                            p99 echo stayed <= 20 ms
//   CLASS_START_CONCURRENCY=4   students connecting at once (a class arriving)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort, spawnServer, sleep } from '../e2e/harness.ts';
import type { ServerProcess } from '../e2e/harness.ts';
import { LabClient } from '../e2e/lab-client.ts';
import { median, percentile } from './stats.ts';

const LIMITS = { active: 60, idle: 200, seconds: 600 } as const;
/** The p99 echo a student should not notice (the issue's bar). */
export const ECHO_BAR_MS = 20;
/** A student types a key every KEY_MS ± KEY_JITTER_MS and thinks THINK_MS between commands. */
const KEY_MS = 180;
const KEY_JITTER_MS = 80;
const THINK_MS = 3000;

/** What active students type, in turn: short commands of the lessons, containers among them. */
const COMMANDS = [
  'ls /',
  'echo $$',
  'box run --rm busybox echo hi',
  'cat /proc/self/cgroup | head -3',
  'ps',
  'box run --rm busybox hostname',
  'id',
];

export interface ClassBenchOptions {
  active: number;
  idle: number;
  seconds: number;
  startConcurrency: number;
  log?: (line: string) => void;
}

export interface ClassBenchResult {
  active: number;
  idle: number;
  seconds: number;
  echo: { p50: number; p99: number; max: number; keys: number };
  prompt: { p50: number; p99: number; max: number; students: number; concurrency: number };
  /** Bytes per sandbox: its cgroup (everything inside, page cache and kernel memory too) plus the host-side processes that serve it. */
  memoryIdle: SandboxMemory & { sandboxes: number };
  memoryActive: SandboxMemory & { sandboxes: number };
  /** The server process (Node: WebSockets, ptys' I/O, the class store): % of one core while the active students typed. */
  serverCpuPct: number;
  serverRss: number;
  commands: number;
  commandFailures: number;
  /** The machine's CPU use by everything (other work on it included) during the typing, % of all cores. */
  machineCpuPct: number;
}

function clamp(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0) throw new Error(`${name} must be a whole number >= 0`);
  if (v > max) throw new Error(`${name} ${v} is over this benchmark's bound (${max})`);
  return v;
}

// ---- the process tree and its memory ----

function children(pid: number): number[] {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).flatMap((t) => {
      try { return fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { return []; }
    });
  } catch { return []; }
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop()!;
    for (const c of children(p)) { out.push(c); todo.push(c); }
  }
  return out;
}

function read(file: string): string {
  try { return fs.readFileSync(file, 'utf8'); } catch { return ''; }
}

function pss(pid: number): number {
  const m = /^Pss:\s+(\d+) kB/m.exec(read(`/proc/${pid}/smaps_rollup`));
  return m ? Number(m[1]) * 1024 : 0;
}

/** The outermost box cgroup (memory hierarchy) a process is in, e.g. "/box/box-5d58dc480169", or ''. */
function boxMemoryCgroup(pid: number): string {
  for (const line of read(`/proc/${pid}/cgroup`).split('\n')) {
    const [, controllers, p] = line.split(':');
    if (p === undefined) continue;
    if (controllers === 'memory' || (controllers === '' && line.startsWith('0::'))) {
      // box puts a container's cgroup in <the cgroup box runs in>/box/<container>.
      const m = /^(.*?\/box\/[^/]+)/.exec(p);
      return m ? m[1] : '';
    }
  }
  return '';
}

function cgroupUsage(cg: string): number {
  const v1 = read(`/sys/fs/cgroup/memory${cg}/memory.usage_in_bytes`);
  if (v1) return Number(v1);
  return Number(read(`/sys/fs/cgroup${cg}/memory.current`) || 0);
}

/**
 * Memory of each sandbox, by name: the cgroup of its processes (what runs in it, its tmpfs and
 * page cache) plus the PSS of its host-side processes outside that cgroup (the `box run` that
 * serves its terminal).
 */
interface SandboxMemory { cgroup: number; host: number; hostProcesses?: string[] }

function sandboxMemory(serverPid: number, names: string[]): Map<string, SandboxMemory> {
  const out = new Map<string, SandboxMemory>();
  const tree = descendants(serverPid);
  for (const name of names) {
    const root = tree.find((p) => read(`/proc/${p}/cmdline`).split('\0').includes(name));
    if (root === undefined) continue;
    const mine = [root, ...descendants(root)];
    const cgroups = new Set<string>();
    let host = 0;
    const hostProcesses: string[] = [];
    for (const p of mine) {
      const cg = boxMemoryCgroup(p);
      if (cg) { cgroups.add(cg); continue; }
      const bytes = pss(p);
      host += bytes;
      hostProcesses.push(`${read(`/proc/${p}/comm`).trim()} ${(bytes / 1024 / 1024).toFixed(1)} MiB`);
    }
    out.set(name, { host, hostProcesses, cgroup: [...cgroups].reduce((n, cg) => n + cgroupUsage(cg), 0) });
  }
  return out;
}

/** /proc's clock ticks per second (USER_HZ), 100 on Linux. */
const USER_HZ = 100;

function cpuTicks(pid: number): number {
  const f = read(`/proc/${pid}/stat`);
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]); // utime, stime
}

function machineTicks(): { busy: number; total: number } {
  const v = read('/proc/stat').split('\n')[0].split(/\s+/).slice(1).map(Number);
  const idle = v[3] + v[4];
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

// ---- students ----

interface Student { name: string; cookie: string; client?: LabClient; sandbox: string; promptMs: number }

async function joinAll(base: string, code: string, count: number, prefix: string): Promise<Student[]> {
  const out: Student[] = [];
  for (let i = 0; i < count; i++) {
    const name = `${prefix} ${i + 1}`;
    const res = await fetch(`${base}/api/class/join`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', Origin: base },
      body: JSON.stringify({ code, name }),
    });
    if (res.status !== 200) throw new Error(`joining as ${name}: HTTP ${res.status} ${await res.text()}`);
    out.push({ name, cookie: (res.headers.get('set-cookie') ?? '').split(';')[0], sandbox: '', promptMs: 0 });
  }
  return out;
}

const PROMPT = /[#$] $/;

/** Connect a student's terminal and wait for the shell's prompt: the time a new student waits. */
async function connect(port: number, s: Student): Promise<void> {
  const t0 = performance.now();
  const c = new LabClient(port, { token: null, cookie: s.cookie, cols: 100, rows: 30 });
  s.client = c;
  const hello = await c.message('hello', 180_000);
  s.sandbox = String(hello.sandbox);
  await c.until(() => PROMPT.test(c.text().replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').trimStart().slice(-4)) || undefined, 180_000, 'a prompt');
  s.promptMs = performance.now() - t0;
}

/** Resolve with the time (ms) when bytes received after now contain `text`. */
function echoOf(c: LabClient, text: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let tail = '';
    const timer = setTimeout(() => { c.ws.off('message', on); reject(new Error(`no echo of ${JSON.stringify(text)} within ${timeoutMs} ms`)); }, timeoutMs);
    const on = (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      tail = (tail + data.toString('latin1')).slice(-64);
      if (tail.includes(text)) { clearTimeout(timer); c.ws.off('message', on); resolve(performance.now()); }
    };
    c.ws.on('message', on);
  });
}

/** One active student typing until `until`: every key's echo time, and how many commands ran and failed. */
async function typeLikeAStudent(s: Student, until: number, echoes: number[], counts: { commands: number; failures: number }, offset: number): Promise<void> {
  const c = s.client!;
  let i = offset;
  await sleep(Math.random() * THINK_MS);
  while (performance.now() < until) {
    const id = randomBytes(3).toString('hex');
    const line = `${COMMANDS[i++ % COMMANDS.length]}; echo "__D${id}""__$?"`;
    for (const ch of line) {
      const echoed = echoOf(c, ch, 30_000);
      const t0 = performance.now();
      c.type(ch);
      echoes.push((await echoed) - t0);
      await sleep(KEY_MS - KEY_JITTER_MS + Math.random() * 2 * KEY_JITTER_MS);
    }
    const from = c.text().length;
    c.type('\r');
    const out = await c.waitFor(new RegExp(`__D${id}__\\d+`), 120_000, from);
    counts.commands++;
    if (!new RegExp(`__D${id}__0`).test(out)) counts.failures++;
    await sleep(THINK_MS * (0.5 + Math.random()));
  }
}

async function inBatches<T>(items: T[], size: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.max(1, size) }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

export async function benchClass(o: ClassBenchOptions): Promise<ClassBenchResult> {
  const log = o.log ?? ((line: string) => console.error(line));
  const active = clamp('CLASS_ACTIVE', o.active, LIMITS.active);
  const idle = clamp('CLASS_IDLE', o.idle, LIMITS.idle);
  const seconds = clamp('CLASS_SECONDS', o.seconds, LIMITS.seconds);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-bench-class-'));
  const all = active + idle;
  let server: ServerProcess | undefined;
  const students: Student[] = [];
  try {
    server = await spawnServer('src/server/main.ts', ['--port', String(await freePort()), '--class', 'Bench class', '--data-dir', dataDir,
      '--max-sandboxes', String(all + 2), '--max-students', String(all + 2), '--max-per-address', String(all + 2), '--grace-seconds', '5']);
    const base = `http://127.0.0.1:${server.port}`;
    // The code is printed right after the lab's address.
    for (let i = 0; i < 100 && !/type the code/.test(server.output()); i++) await sleep(50);
    const code = /type the code ([A-Z0-9]{10})/.exec(server.output())?.[1];
    if (!code) throw new Error(`the server printed no join code:\n${server.output()}`);
    const pid = server.proc.pid!;

    const idlers = await joinAll(base, code, idle, 'Idle');
    const typists = await joinAll(base, code, active, 'Active');
    students.push(...idlers, ...typists);
    log(`bench class: ${idle} idle and ${active} active students joined; connecting ${o.startConcurrency} at a time`);
    await inBatches(students, o.startConcurrency, (s) => connect(server!.port, s));
    await sleep(3000); // the sandboxes' first moments (shell start-up) settle
    const idleMem = sandboxMemory(pid, idlers.map((s) => s.sandbox));

    log(`bench class: ${active} students type for ${seconds} s`);
    const echoes: number[] = [];
    const counts = { commands: 0, failures: 0 };
    const cpu0 = cpuTicks(pid);
    const m0 = machineTicks();
    const t0 = performance.now();
    const until = t0 + seconds * 1000;
    // Memory of the active sandboxes is taken near the end, while they work.
    let activeMem = new Map<string, SandboxMemory>();
    const sampler = setTimeout(() => { activeMem = sandboxMemory(pid, typists.map((s) => s.sandbox)); }, Math.max(0, seconds * 1000 - 5000));
    await Promise.all(typists.map((s, i) => typeLikeAStudent(s, until, echoes, counts, i)));
    clearTimeout(sampler);
    if (activeMem.size === 0 && active > 0) activeMem = sandboxMemory(pid, typists.map((s) => s.sandbox));
    const wall = (performance.now() - t0) / 1000;
    const serverCpuPct = ((cpuTicks(pid) - cpu0) / USER_HZ / wall) * 100;
    const m1 = machineTicks();
    const machineCpuPct = ((m1.busy - m0.busy) / Math.max(1, m1.total - m0.total)) * 100;
    const serverRss = Number(/VmRSS:\s+(\d+) kB/.exec(read(`/proc/${pid}/status`))?.[1] ?? 0) * 1024;

    const avg = (m: Map<string, SandboxMemory>) => {
      const n = Math.max(1, m.size);
      const v = [...m.values()];
      return { sandboxes: m.size, cgroup: v.reduce((a, b) => a + b.cgroup, 0) / n, host: v.reduce((a, b) => a + b.host, 0) / n, hostProcesses: v[0]?.hostProcesses };
    };
    const prompts = students.map((s) => s.promptMs);
    return {
      active, idle, seconds,
      echo: { p50: echoes.length ? median(echoes) : 0, p99: echoes.length ? percentile(echoes, 99) : 0, max: echoes.length ? Math.max(...echoes) : 0, keys: echoes.length },
      prompt: { p50: median(prompts), p99: percentile(prompts, 99), max: Math.max(...prompts), students: prompts.length, concurrency: o.startConcurrency },
      memoryIdle: avg(idleMem),
      memoryActive: avg(activeMem),
      serverCpuPct, serverRss, machineCpuPct,
      commands: counts.commands, commandFailures: counts.failures,
    };
  } finally {
    for (const s of students) s.client?.ws.terminate();
    if (server) await server.stop(); // removes every sandbox
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

function memoryLine(m: SandboxMemory & { sandboxes: number }): string {
  if (m.sandboxes === 0) return '- (none measured)';
  return `${mib(m.cgroup + m.host)} (its cgroup ${mib(m.cgroup)} + host-side processes' PSS ${mib(m.host)}; ${m.sandboxes} measured)`;
}

export function formatClassBench(r: ClassBenchResult): string {
  return [
    `class: ${r.active} active + ${r.idle} idle students, ${r.seconds} s of typing (real box --lab sandboxes, one lab server on loopback)`,
    `  keystroke echo            p50 ${r.echo.p50.toFixed(1)} ms   p99 ${r.echo.p99.toFixed(1)} ms   max ${r.echo.max.toFixed(1)} ms   (${r.echo.keys} keys; bar p99 <= ${ECHO_BAR_MS} ms: ${r.echo.p99 <= ECHO_BAR_MS ? 'met' : 'NOT met'})`,
    `  commands                  ${r.commands} run, ${r.commandFailures} failed`,
    `  time to a prompt          p50 ${(r.prompt.p50 / 1000).toFixed(2)} s   p99 ${(r.prompt.p99 / 1000).toFixed(2)} s   max ${(r.prompt.max / 1000).toFixed(2)} s   (${r.prompt.students} students, ${r.prompt.concurrency} at a time)`,
    `  memory per idle sandbox   ${memoryLine(r.memoryIdle)}`,
    `  memory per active sandbox ${memoryLine(r.memoryActive)}`,
    `  a sandbox's host side     ${(r.memoryIdle.hostProcesses ?? r.memoryActive.hostProcesses ?? []).join(', ') || '-'}`,
    `  lab server process        ${r.serverCpuPct.toFixed(1)}% of one core while typing, RSS ${mib(r.serverRss)}`,
    `  the whole machine         ${r.machineCpuPct.toFixed(0)}% of all ${os.cpus().length} cores busy while typing (other work on it included)`,
  ].join('\n');
}

/** CLASS_ACTIVE may be a list (2,4,8): one run per size; then the largest that met the bar. */
export async function benchClassFromEnv(env = process.env): Promise<void> {
  const sizes = (env.CLASS_ACTIVE ?? '3').split(',').map((x) => Number(x.trim()));
  const idle = Number(env.CLASS_IDLE ?? 5);
  const seconds = Number(env.CLASS_SECONDS ?? 60);
  const startConcurrency = Number(env.CLASS_START_CONCURRENCY ?? 4);
  let best: number | undefined;
  for (const active of sizes) {
    const r = await benchClass({ active, idle, seconds, startConcurrency });
    console.log(`\n${formatClassBench(r)}`);
    if (r.echo.p99 <= ECHO_BAR_MS && r.commandFailures === 0) best = Math.max(best ?? 0, active);
  }
  if (sizes.length > 1) {
    console.log(best === undefined
      ? `\nclass: no size tried (${sizes.join(', ')}) kept p99 echo <= ${ECHO_BAR_MS} ms`
      : `\nclass: the largest size tried with p99 echo <= ${ECHO_BAR_MS} ms: ${best} active students (+ ${idle} idle)`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.getuid?.() !== 0) {
    console.log('bench class: box run --lab needs root; run it as root');
    process.exit(0);
  }
  await benchClassFromEnv();
}
