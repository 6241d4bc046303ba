// A benchmark, not a test: the lab terminal's whole path, measured from a WebSocket client
// that speaks to a real lab server process the way the page does.
//   - keystroke echo latency: one key sent -> the shell's echo back (ws -> server -> pty ->
//     shell -> pty -> server -> ws);
//   - output throughput: `cat` of a big text file in the sandbox reaching the client, which
//     acks like the page's xterm (batched, after each frame is "written").
//
//   - with --browser also: the same `cat` reaching xterm.js in headless Chromium, through the
//     real server (`src/server/main.ts`) and a lesson page, measured until the end marker is
//     in xterm's buffer.
//
//   node test/bench/terminal.ts [--driver box|host-shell] [--keystrokes 200] [--mib 16] [--runs 8] [--browser]
//
// The lead's runner can call benchTerminal() / benchBrowserTerminal() and print format*().

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';
import { boxLabAvailable, freePort, spawnServer, TEST_TOKEN } from '../e2e/harness.ts';
import { LabClient } from '../e2e/lab-client.ts';
import { benchArgs } from './args.ts';

export interface TerminalBenchOptions {
  /** 'box' (the real sandbox; the default when it works here) or 'host-shell' (plumbing only). */
  driver?: 'box' | 'host-shell';
  keystrokes?: number;
  /** Size of the file `cat` prints, in MiB. */
  mib?: number;
  runs?: number;
  log?: (line: string) => void;
}

export interface Stat { median: number; p99: number; samples: number }

export interface TerminalBenchResult {
  driver: string;
  /** Milliseconds from a key sent to its echo received. p99 is the slow end. */
  echoLatencyMs: Stat;
  /** MB/s (10^6 bytes) of `cat` output received. p99 is the slow end (1st percentile). */
  throughputMBps: Stat & { bytesPerRun: number };
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

const median = (xs: number[]) => percentile(xs, 50);

/** Acks like the page's AckBatcher: every 32 KiB, or 20 ms after the first unacked byte. */
function xtermLikeAcks(c: LabClient): () => void {
  let pending = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => { clearTimeout(timer); timer = undefined; if (pending) { c.ack(pending); pending = 0; } };
  const onMessage = (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return;
    pending += data.length;
    if (pending >= 32 * 1024) flush();
    else timer ??= setTimeout(flush, 20);
  };
  c.ws.on('message', onMessage);
  return () => { c.ws.off('message', onMessage); flush(); };
}

/** Resolve when the bytes received after now contain `marker`. */
function nextOutputContaining(c: LabClient, marker: string, timeoutMs: number): Promise<{ at: bigint; bytes: number }> {
  return new Promise((resolve, reject) => {
    let tail = '';
    let bytes = 0;
    const timer = setTimeout(() => { c.ws.off('message', on); reject(new Error(`no "${marker}" within ${timeoutMs} ms`)); }, timeoutMs);
    const on = (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      bytes += data.length;
      tail = (tail + data.toString('latin1')).slice(-(marker.length + data.length));
      if (tail.includes(marker)) {
        clearTimeout(timer);
        c.ws.off('message', on);
        resolve({ at: process.hrtime.bigint(), bytes });
      }
      tail = tail.slice(-marker.length);
    };
    c.ws.on('message', on);
  });
}

export async function benchTerminal(opts: TerminalBenchOptions = {}): Promise<TerminalBenchResult> {
  const log = opts.log ?? ((line: string) => console.error(line));
  let driver = opts.driver;
  if (!driver) {
    const box = await boxLabAvailable();
    driver = box.ok ? 'box' : 'host-shell';
    if (!box.ok) log(`bench: using the host-shell driver (no isolation, plumbing only): ${box.reason}`);
  }
  const keystrokes = opts.keystrokes ?? 200;
  const mib = opts.mib ?? 16;
  const runs = opts.runs ?? 8;

  const server = await spawnServer('test/e2e/serve.ts', [JSON.stringify({ driver })]);
  const c = new LabClient(server.port, { token: TEST_TOKEN, ack: 'manual' });
  const stopAcks = xtermLikeAcks(c);
  try {
    await c.opened();
    await c.message('hello', 60_000);
    await c.run('stty -ixon; export PS1="$ "', 60_000);

    // ---- keystroke echo latency ----
    const latencies: number[] = [];
    const warmup = 20;
    for (let i = 0; i < warmup + keystrokes; i++) {
      const key = 'abcdefghijklmnopqrstuvwxyz'[i % 26];
      const echoed = nextOutputContaining(c, key, 10_000);
      const t0 = process.hrtime.bigint();
      c.type(key);
      const { at } = await echoed;
      if (i >= warmup) latencies.push(Number(at - t0) / 1e6);
      if (i % 50 === 49) { // keep the line short: erase what was typed
        const erased = nextOutputContaining(c, '$ ', 10_000);
        c.type('\x15\r'); // Ctrl-U, Enter: an empty command line, a new prompt
        await erased;
      }
    }
    c.type('\x15');

    // ---- throughput ----
    const file = `/tmp/isolab-bench-${randomBytes(3).toString('hex')}`;
    // Printable text (base64, 76-column lines) like a log: random bytes would be terminal noise.
    await c.run(`head -c ${Math.ceil(mib * 1024 * 1024 * 3 / 4)} /dev/urandom | base64 > ${file}; wc -c < ${file}`, 120_000);
    const rates: number[] = [];
    let bytesPerRun = 0;
    for (let r = 0; r < runs + 1; r++) {
      const id = randomBytes(3).toString('hex');
      const marker = `__DONE${id}__`;
      const done = nextOutputContaining(c, marker, 300_000);
      const t0 = process.hrtime.bigint();
      c.type(`cat ${file}; echo __DONE${id}""__\r`);
      const { at, bytes } = await done;
      const seconds = Number(at - t0) / 1e9;
      if (r > 0) { rates.push(bytes / seconds / 1e6); bytesPerRun = bytes; } // run 0 warms the page cache
    }
    await c.run(`rm -f ${file}`);

    return {
      driver,
      echoLatencyMs: { median: median(latencies), p99: percentile(latencies, 99), samples: latencies.length },
      // For a rate the slow end is the low one: the 1st percentile.
      throughputMBps: { median: median(rates), p99: percentile(rates, 1), samples: rates.length, bytesPerRun },
    };
  } finally {
    stopAcks();
    c.ws.terminate();
    await server.stop();
  }
}

export function formatTerminalBench(r: TerminalBenchResult): string {
  return [
    `terminal (${r.driver} sandbox, via a separate lab server process)`,
    `  keystroke echo latency   median ${r.echoLatencyMs.median.toFixed(2)} ms   p99 ${r.echoLatencyMs.p99.toFixed(2)} ms   (${r.echoLatencyMs.samples} keys)`,
    `  cat output throughput    median ${r.throughputMBps.median.toFixed(1)} MB/s   p99 (slowest) ${r.throughputMBps.p99.toFixed(1)} MB/s   (${r.throughputMBps.samples} runs of ${(r.throughputMBps.bytesPerRun / 1e6).toFixed(1)} MB)`,
  ].join('\n');
}

export interface BrowserBenchResult {
  /** MB/s of `cat` output until its end is in xterm's buffer. p99 is the slow end. */
  throughputMBps: Stat & { bytesPerRun: number };
}

/**
 * `cat` of a big file in a lesson page's terminal, in headless Chromium, through the real
 * server and a real box sandbox: the whole path to the reader's screen.
 */
export async function benchBrowserTerminal(opts: { mib?: number; runs?: number; lesson?: string } = {}): Promise<BrowserBenchResult> {
  const mib = opts.mib ?? 16;
  const runs = opts.runs ?? 5;
  const server = await spawnServer('src/server/main.ts', ['--port', String(await freePort()), '--token', TEST_TOKEN]);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-bench-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 900 },
  });
  type Lab = { isolab: { state: string; send(c: string): void; terminalText(): string } };
  try {
    const page = await ctx.newPage();
    await page.goto(server.url);
    await page.goto(`http://127.0.0.1:${server.port}${opts.lesson ?? '/lessons/en/pid-namespaces/'}`);
    await page.waitForFunction(() => (window as unknown as Lab).isolab?.state === 'connected', null, { timeout: 120_000 });
    const file = `/tmp/isolab-bench-${randomBytes(3).toString('hex')}`;
    const ready = `__READY${randomBytes(3).toString('hex')}__`;
    await page.evaluate(([cmd]) => (window as unknown as Lab).isolab.send(cmd),
      [`head -c ${Math.ceil(mib * 1024 * 1024 * 3 / 4)} /dev/urandom | base64 > ${file}; echo ${ready.slice(0, 6)}""${ready.slice(6)}`]);
    await page.waitForFunction((m) => (window as unknown as Lab).isolab.terminalText().includes(m), ready, { timeout: 120_000 });
    const bytes = Math.ceil(mib * 1024 * 1024 * 3 / 4 / 57) * 78; // base64: 76 columns + CR LF per 57 bytes
    const rates: number[] = [];
    for (let r = 0; r < runs + 1; r++) {
      const marker = `__DONE${randomBytes(3).toString('hex')}__`;
      const t0 = process.hrtime.bigint();
      await page.evaluate(([cmd]) => (window as unknown as Lab).isolab.send(cmd), [`cat ${file}; echo ${marker.slice(0, 6)}""${marker.slice(6)}`]);
      await page.waitForFunction((m) => (window as unknown as Lab).isolab.terminalText().includes(m), marker, { timeout: 300_000, polling: 100 });
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (r > 0) rates.push(bytes / seconds / 1e6);
      await page.evaluate(() => (window as unknown as Lab).isolab.send('clear'));
    }
    await page.evaluate(([cmd]) => (window as unknown as Lab).isolab.send(cmd), [`rm -f ${file}`]);
    return { throughputMBps: { median: median(rates), p99: percentile(rates, 1), samples: rates.length, bytesPerRun: bytes } };
  } finally {
    await ctx.close();
    await server.stop();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

export function formatBrowserBench(r: BrowserBenchResult): string {
  return `  cat to xterm in Chromium  median ${r.throughputMBps.median.toFixed(1)} MB/s   p99 (slowest) ${r.throughputMBps.p99.toFixed(1)} MB/s   (${r.throughputMBps.samples} runs of ${(r.throughputMBps.bytesPerRun / 1e6).toFixed(1)} MB)`;
}

if (import.meta.main) {
  const { driver, num } = benchArgs(process.argv.slice(2));
  const result = await benchTerminal({ driver, keystrokes: num('--keystrokes'), mib: num('--mib'), runs: num('--runs') });
  console.log(formatTerminalBench(result));
  if (process.argv.includes('--browser')) {
    console.log(formatBrowserBench(await benchBrowserTerminal({ mib: num('--mib'), runs: num('--runs') })));
  }
}
