// A benchmark, not a test: `box build` of an unchanged 3-step Boxfile (FROM, then COPY, RUN,
// ENV: every step a cache hit), start to exit, as a user waits for it. Beside it, the same
// Boxfile's first build (every step run: a RUN container included) and `box images` (a
// command that reads the store and does nothing else), so the numbers have a scale.
//
//   node test/bench/build.ts          (as root; BENCH_RUNS=N, default 25, after 3 warm-up runs)

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median, percentile } from './stats.ts';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const box = path.join(repo, 'runtime/bin/box');
const RUNS = Number(process.env.BENCH_RUNS ?? 25);
const WARMUP = 3;

/** Milliseconds of one run of box with these arguments; throws if it fails. */
function once(args: string[], env: NodeJS.ProcessEnv): { ms: number; stdout: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(box, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`box ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

function times(args: string[], env: NodeJS.ProcessEnv, check?: (stdout: string) => void): number[] {
  const out: number[] = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const r = once(args, env);
    check?.(r.stdout);
    if (i >= WARMUP) out.push(r.ms);
  }
  return out;
}

export async function benchBuild(): Promise<{ name: string; ms: number[] }[]> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'box-bench-build-'));
  const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'box-bench-build-ctx-'));
  const env = { ...process.env, BOX_ROOT: root };
  try {
    fs.writeFileSync(path.join(ctx, 'Boxfile'), 'FROM busybox\nCOPY app.txt /app/\nRUN wc -c /app/app.txt > /app/size\nENV APP=/app\n');
    fs.writeFileSync(path.join(ctx, 'app.txt'), 'x'.repeat(64 * 1024));
    const args = ['build', '-t', 'bench:latest', ctx];
    const rows: { name: string; ms: number[] }[] = [];
    const first: number[] = [];
    for (let i = 0; i < Math.min(RUNS, 5); i++) first.push(once([...args.slice(0, 1), '--no-cache', ...args.slice(1)], env).ms);
    rows.push({ name: 'box build --no-cache (3 steps run)', ms: first });
    rows.push({
      name: 'box build, unchanged (3 steps CACHED)',
      ms: times(args, env, (stdout) => {
        const cached = stdout.split('\n').filter((l) => l.startsWith(' ---> CACHED')).length;
        if (cached !== 3) throw new Error(`expected 3 cache hits, got ${cached}:\n${stdout}`);
      }),
    });
    rows.push({ name: 'box images (reading the store only)', ms: times(['images'], env) });
    return rows;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(ctx, { recursive: true, force: true });
  }
}

export function formatBuildBench(rows: { name: string; ms: number[] }[]): string {
  const lines = [`box build, ${RUNS} runs (after ${WARMUP} warm-up; --no-cache: ${rows[0].ms.length} runs), ${os.cpus().length} CPUs, kernel ${os.release()}`];
  lines.push(`${'what'.padEnd(42)} ${'median'.padStart(9)} ${'p90'.padStart(9)}`);
  for (const r of rows) lines.push(`${r.name.padEnd(42)} ${median(r.ms).toFixed(1).padStart(7)}ms ${percentile(r.ms, 90).toFixed(1).padStart(7)}ms`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.getuid?.() !== 0) {
    console.log('bench: box build runs containers and needs root; run it as root');
    process.exit(0);
  }
  console.log(formatBuildBench(await benchBuild()));
}
