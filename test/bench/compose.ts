// A benchmark, not a test: `box compose up -d` then `down` of a three-service project, beside
// starting and removing the same three containers by hand (`box run -d` on a network of
// their own, `box rm -f`, `box network rm`), turn about in the same run. The difference is
// what Compose's work costs: reading and checking the file, the plan, the labels, the waits.
//
//   BENCH_ONLY=compose npm run bench     (BENCH_RUNS, default 10 of each)

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median, percentile } from './stats.ts';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const box = path.join(repo, 'runtime/bin/box');
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const WARMUP = 2;
const SERVICES = ['web', 'api', 'db'];

const FILE = `services:
${SERVICES.map((s, i) => `  ${s}:
    image: busybox
    command: ["sleep", "1d"]
    stop_signal: SIGKILL${i > 0 ? `\n    depends_on: [${SERVICES[i - 1]}]` : ''}`).join('\n')}
`;

function run(argv: string[], env: NodeJS.ProcessEnv, cwd?: string): void {
  const r = spawnSync(box, argv, { env, cwd, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`box ${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
}

function timed(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export async function benchCompose(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'box-bench-compose-'));
  fs.chmodSync(root, 0o711);
  const dir = path.join(root, 'trio');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'compose.yaml'), FILE);
  const env = { ...process.env, BOX_ROOT: path.join(root, 'box') };
  const composeUp = () => run(['compose', 'up', '-d'], env, dir);
  const composeDown = () => run(['compose', 'down'], env, dir);
  const byHandUp = () => {
    run(['network', 'create', 'byhand'], env);
    for (const s of [...SERVICES].reverse()) run(['run', '-d', '--name', `byhand-${s}-1`, '--network', 'byhand', '--network-alias', s, 'busybox', 'sleep', '1d'], env);
  };
  const byHandDown = () => {
    run(['rm', '-f', ...SERVICES.map((s) => `byhand-${s}-1`)], env);
    run(['network', 'rm', 'byhand'], env);
  };
  const rows = { 'compose up -d': [] as number[], 'compose down': [] as number[], '3x box run -d (+ network create)': [] as number[], 'box rm -f 3 (+ network rm)': [] as number[] };
  try {
    run(['run', '--rm', '--network', 'none', 'busybox', 'true'], env); // the image, once
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const cu = timed(composeUp);
      const cd = timed(composeDown);
      const hu = timed(byHandUp);
      const hd = timed(byHandDown);
      if (i < WARMUP) continue;
      rows['compose up -d'].push(cu);
      rows['compose down'].push(cd);
      rows['3x box run -d (+ network create)'].push(hu);
      rows['box rm -f 3 (+ network rm)'].push(hd);
    }
  } finally {
    spawnSync(box, ['compose', 'down', '-v'], { env, cwd: dir, stdio: 'ignore' });
    spawnSync(box, ['rm', '-f', ...SERVICES.map((s) => `byhand-${s}-1`)], { env, stdio: 'ignore' });
    spawnSync(box, ['network', 'rm', 'byhand'], { env, stdio: 'ignore' });
    fs.rmSync(root, { recursive: true, force: true });
  }
  console.log(`\nbox compose, a three-service project (${RUNS} runs each, turn about):`);
  console.log('| measured | median | p90 |\n|---|---|---|');
  for (const [name, ms] of Object.entries(rows)) console.log(`| ${name} | ${median(ms).toFixed(1)} ms | ${percentile(ms, 90).toFixed(1)} ms |`);
}
