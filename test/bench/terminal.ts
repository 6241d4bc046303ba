// A benchmark, not a test: the lab terminal's whole path, measured from a WebSocket client
// that speaks to a real lab server process the way the page does.
//   - keystroke echo latency: one key sent -> the shell's echo back (ws -> server -> pty ->
//     shell -> pty -> server -> ws);
//   - output throughput: `cat` of a big text file in the sandbox reaching the client, which
//     acks like the page's xterm (batched, after each frame is "written").
//
//   node test/bench/terminal.ts [--driver box|host-shell] [--keystrokes 200] [--mib 16] [--runs 8]
//
// The lead's runner can call benchTerminal() and print formatTerminalBench().

import { randomBytes } from 'node:crypto';
import { boxLabAvailable, spawnServer, TEST_TOKEN } from '../e2e/harness.ts';
import { LabClient } from '../e2e/lab-client.ts';

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

if (import.meta.main) {
  const args = process.argv.slice(2);
  const flag = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
  const driver = flag('--driver');
  if (driver !== undefined && driver !== 'box' && driver !== 'host-shell') {
    console.error('bench: --driver must be box or host-shell');
    process.exit(2);
  }
  const num = (name: string) => { const v = flag(name); return v === undefined ? undefined : Number(v); };
  const result = await benchTerminal({ driver, keystrokes: num('--keystrokes'), mib: num('--mib'), runs: num('--runs') });
  console.log(formatTerminalBench(result));
}
