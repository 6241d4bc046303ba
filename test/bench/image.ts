// A benchmark, not a test: how long box takes to find an image that is already unpacked
// (resolveImage: the tag, the manifest, the layer directories; no blob read again), and a
// second ensureBaseImages that has nothing to do. Every `box run` pays the first.
// (These were thresholds in test/unit/image-store.test.ts and test/integration/image.test.ts;
// a test says what happens, a benchmark how fast.)
//
//   node test/bench/image.ts          (as root; BENCH_RUNS=N, default 25, after 3 warm-up runs)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureBaseImages, resolveImage } from '../../runtime/src/image/index.ts';
import { median, percentile } from './stats.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 25);
const WARMUP = 3;

function times(f: () => void): number[] {
  const out: number[] = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const t0 = process.hrtime.bigint();
    f();
    if (i >= WARMUP) out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

export function benchImage(): { name: string; ms: number[] }[] {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'box-bench-image-'));
  try {
    ensureBaseImages({ root });
    return [
      { name: 'resolveImage busybox (unpacked)', ms: times(() => resolveImage('busybox', { root })) },
      { name: 'ensureBaseImages, nothing to do', ms: times(() => ensureBaseImages({ root })) },
    ];
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

export function formatImageBench(rows: { name: string; ms: number[] }[]): string {
  const lines = [`image store, in-process (${RUNS} runs each)`, '| what | median | p90 |', '|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.name} | ${median(r.ms).toFixed(2)} ms | ${percentile(r.ms, 90).toFixed(2)} ms |`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(formatImageBench(benchImage()));
