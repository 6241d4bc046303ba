// A benchmark, not a test: `box pull` of a three-layer image from the real registry on
// loopback into an empty store, and `box push` of it to a repository that has none of its
// layers (and again, when it has them all). Medians and p90 of the whole command, as a user
// waits for it: Node's start, the HTTP exchanges, digest checks, decompression, unpacking.
//
//   node test/bench/pull.ts                    (BENCH_RUNS=N, default 15, after 2 warm-ups)
//   BENCH_LAYER_MB=16 node test/bench/pull.ts  (the size of the big layer; default 4 MiB)

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeThreeLayerImage, registryReason, startRegistry } from '../integration/registry-server.ts';
import { median, percentile } from './stats.ts';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const box = path.join(repo, 'runtime/bin/box');
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const WARMUP = 2;
const LAYER_BYTES = Number(process.env.BENCH_LAYER_MB ?? 4) * 1024 * 1024;

/** Milliseconds of `box ARGS` with BOX_ROOT set by `rootFor(i)`, run WARMUP + RUNS times. */
function time(args: (i: number) => string[], rootFor: (i: number) => string): number[] {
  const ms: number[] = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const root = rootFor(i);
    const t0 = process.hrtime.bigint();
    const r = spawnSync(box, args(i), { env: { ...process.env, BOX_ROOT: root }, stdio: ['ignore', 'ignore', 'pipe'] });
    const took = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`box ${args(i).join(' ')} failed (${r.status}): ${r.stderr}`);
    if (i >= WARMUP) ms.push(took);
  }
  return ms;
}

export async function benchPull(): Promise<void> {
  if (registryReason) {
    console.log(`pull bench: skipped, ${registryReason}`);
    return;
  }
  const registry = await startRegistry();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'box-bench-pull-'));
  try {
    const source = path.join(scratch, 'source');
    fs.mkdirSync(source, { mode: 0o711 });
    const ref = `${registry.host}/bench/three:v1`;
    await makeThreeLayerImage(source, ref, LAYER_BYTES);
    const first = spawnSync(box, ['push', '-q', ref], { env: { ...process.env, BOX_ROOT: source }, encoding: 'utf8' });
    if (first.status !== 0) throw new Error(`box push failed: ${first.stderr}`);

    const fresh = (i: number) => {
      const root = path.join(scratch, `pull-${i}`);
      fs.mkdirSync(root, { mode: 0o711 });
      return root;
    };
    const rows = [
      { name: 'box pull, 3 layers, into an empty store', ms: time(() => ['pull', '-q', ref], fresh) },
      { name: 'box pull, up to date (nothing to fetch)', ms: time(() => ['pull', '-q', ref], () => source) },
      { name: 'box push, 3 layers, to a new repository', ms: time((i) => ['push', '-q', ref, `${registry.host}/bench/new${i}:v1`], () => source) },
      { name: 'box push, every layer already there', ms: time(() => ['push', '-q', ref], () => source) },
    ];
    // The same pull inside this process: the registry exchange, checks and unpacking without box's start-up.
    const { pullImage } = await import('../../runtime/src/image/registry/pull.ts');
    const silent = { layer: () => {}, line: () => {} };
    const inProcess: number[] = [];
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const root = fresh(1000 + i);
      const t0 = process.hrtime.bigint();
      await pullImage(root, ref, { progress: silent });
      if (i >= WARMUP) inProcess.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    rows.push({ name: 'pullImage() in-process, into an empty store', ms: inProcess });
    const node: number[] = [];
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const t0 = process.hrtime.bigint();
      spawnSync(process.execPath, ['-e', '0']);
      if (i >= WARMUP) node.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    rows.push({ name: 'node -e 0 (Node 24 start-up alone)', ms: node });

    const blobs = fs.readdirSync(path.join(source, 'oci/blobs/sha256')).map((f) => fs.statSync(path.join(source, 'oci/blobs/sha256', f)).size);
    const total = blobs.reduce((a, b) => a + b, 0);
    console.log(`\nregistry on loopback (docker-registry), image of 3 layers, ${(total / 1e6).toFixed(1)} MB of blobs in the source store;`);
    console.log(`${RUNS} runs each (after ${WARMUP} warm-up), ${os.cpus().length} CPUs, kernel ${os.release()}`);
    console.log(`${'what'.padEnd(42)} ${'median'.padStart(9)} ${'p90'.padStart(9)}`);
    for (const r of rows) {
      console.log(`${r.name.padEnd(42)} ${median(r.ms).toFixed(1).padStart(7)}ms ${percentile(r.ms, 90).toFixed(1).padStart(7)}ms`);
    }
  } finally {
    await registry.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchPull();
