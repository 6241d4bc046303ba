// `npm run bench`: a benchmark, not a test. Start-to-exit time of `box run --rm busybox
// true`, side by side in the same run with runc on an equivalent bundle and with util-linux
// unshare, where those are installed. Medians, and ratios against the anchors measured here.
//
//   BENCH_RUNS=30 npm run bench      (default 25 runs each, after 3 warm-up runs)

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median, percentile } from './stats.ts';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const RUNS = Number(process.env.BENCH_RUNS ?? 25);
const WARMUP = 3;

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Wall-clock milliseconds of each run of argv. */
function time(argv: string[], env: NodeJS.ProcessEnv = process.env): number[] {
  const out: number[] = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(argv[0], argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
    if (i >= WARMUP) out.push(ms);
  }
  return out;
}

/** An OCI bundle for runc with the same busybox and `true`, no terminal, default namespaces. */
function runcBundle(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'box-bench-runc-'));
  const rootfs = path.join(dir, 'rootfs');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  for (const d of ['proc', 'sys', 'dev', 'tmp']) fs.mkdirSync(path.join(rootfs, d));
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  fs.symlinkSync('busybox', path.join(rootfs, 'bin/true'));
  execFileSync('runc', ['spec'], { cwd: dir });
  const spec = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  spec.process.terminal = false;
  spec.process.args = ['true'];
  // This machine's open-files hard limit is 20000; runc's default spec asks for more.
  spec.process.rlimits = (spec.process.rlimits ?? []).map((r: any) => r.type === 'RLIMIT_NOFILE' ? { ...r, hard: 20000, soft: 20000 } : r);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec));
  return dir;
}

export async function benchStart(): Promise<void> {
  const boxRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'box-bench-'));
  fs.chmodSync(boxRoot, 0o711);
  const env = { ...process.env, BOX_ROOT: boxRoot };
  const box = path.join(repo, 'runtime/bin/box');
  const rows: { name: string; ms: number[] }[] = [];

  // Through the engine (`box engine start`: a small C client hands the command to a warm box,
  // as docker does to dockerd), and without it (a whole Node process per run).
  execFileSync(box, ['engine', 'start'], { env, stdio: 'ignore' });
  try {
    rows.push({ name: 'box run --rm busybox true (engine)', ms: time([box, 'run', '--rm', 'busybox', 'true'], env) });
  } finally {
    execFileSync(box, ['engine', 'stop'], { env, stdio: 'ignore' });
  }
  rows.push({ name: 'box run --rm busybox true (no engine)', ms: time([box, 'run', '--rm', 'busybox', 'true'], env) });
  if (has('runc')) {
    const bundle = runcBundle();
    let n = 0;
    const ms: number[] = [];
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const t0 = process.hrtime.bigint();
      const r = spawnSync('runc', ['run', '--bundle', bundle, `box-bench-${process.pid}-${n++}`], { stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) throw new Error(`runc failed: ${r.stderr}`);
      if (i >= WARMUP) ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    rows.push({ name: 'runc run (same busybox, true)', ms });
    fs.rmSync(bundle, { recursive: true, force: true });
  } else {
    console.log('runc: not installed (apt-get install runc) - no runc anchor');
  }
  if (has('unshare')) {
    rows.push({ name: 'unshare --fork --pid --mount-proc true', ms: time(['unshare', '--fork', '--pid', '--mount-proc', 'true']) });
  }
  rows.push({ name: 'node -e 0 (Node 24 start-up alone)', ms: time([process.execPath, '-e', '0']) });
  fs.rmSync(boxRoot, { recursive: true, force: true });

  const boxMedian = median(rows[0].ms);
  console.log(`\ncontainer start to exit, ${RUNS} runs each (after ${WARMUP} warm-up), ${os.cpus().length} CPUs, kernel ${os.release()}`);
  console.log(`${'what'.padEnd(42)} ${'median'.padStart(9)} ${'p90'.padStart(9)}   box / this`);
  for (const r of rows) {
    const m = median(r.ms);
    console.log(`${r.name.padEnd(42)} ${m.toFixed(1).padStart(7)}ms ${percentile(r.ms, 90).toFixed(1).padStart(7)}ms   ${(boxMedian / m).toFixed(2)}x`);
  }
  const runc = rows.find((r) => r.name.startsWith('runc'));
  if (runc) {
    const ratio = boxMedian / median(runc.ms);
    const cli = median(rows[1].ms) / median(runc.ms);
    console.log(`\nbox / runc = ${ratio.toFixed(2)} with the engine (the bar: at most 2.00) ${ratio <= 2 ? 'OK' : 'OVER THE BAR'}; ${cli.toFixed(2)} without it`);
  }
}

// `npm run bench` runs every section; BENCH_ONLY=start,build (a comma list) runs some of them.
const SECTIONS: [string, () => Promise<void>][] = [
  ['start', benchStart],
  ['terminal', async () => {
    const m = await import('./terminal.ts');
    console.log(`\n${m.formatTerminalBench(await m.benchTerminal())}`);
  }],
  // The kernel panel: the lab server's CPU with 20 terminals, panels hidden and shown.
  ['panel', async () => {
    const m = await import('./panel.ts');
    console.log(`\n${m.formatPanelBench(await m.benchPanel())}`);
  }],
  ['build', async () => {
    const m = await import('./build.ts');
    console.log(`\n${m.formatBuildBench(await m.benchBuild())}`);
  }],
  ['pull', async () => (await import('./pull.ts')).benchPull()],
  // Networks: a container start on the default bridge beside --network none; a published port's requests/s.
  ['network', async () => (await import('./network.ts')).benchNetwork()],
  // What a reader feels on a lesson page: key press to glyph, lesson opened to a prompt.
  ['page', async () => {
    const m = await import('./page.ts');
    console.log(`\n${m.formatPageBench(await m.benchPage())}`);
  }],
  // Keystroke echo on the lesson page beside wetty 3.2, same method, same run (WETTY, or node_modules/wetty).
  ['echo', async () => {
    const m = await import('./echo.ts');
    console.log(`\n${m.formatEchoBench(await m.benchEcho())}`);
  }],
  // box compose up -d / down of three services beside the same three by hand.
  ['compose', async () => (await import('./compose.ts')).benchCompose()],
  // box cluster: kubectl apply to 3 Ready pods, a killed pod to Ready again; control plane and agent memory.
  ['cluster', async () => (await import('./cluster.ts')).benchCluster()],
  ['image', async () => {
    const m = await import('./image.ts');
    console.log(`\n${m.formatImageBench(m.benchImage())}`);
  }],
  // A class on one lab server: N students typing and running box run, M idle (CLASS_ACTIVE, CLASS_IDLE, CLASS_SECONDS).
  ['class', async () => (await import('./class.ts')).benchClassFromEnv()],
  ['vm', async () => {
    const m = await import('./vm.ts');
    console.log(`\n${m.formatVmBench(m.benchVmBoot())}`);
    // Linux against a container start, as far as this host's KVM lets the kernel boot.
    console.log(`\n${m.formatRace(m.benchLinuxVsContainer())}`);
  }],
];

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.getuid?.() !== 0) {
    console.log('bench: box run needs root; run npm run bench as root');
    process.exit(0);
  }
  const only = process.env.BENCH_ONLY_START ? ['start'] : process.env.BENCH_ONLY?.split(',');
  for (const [name, run] of SECTIONS) {
    if (!only || only.includes(name)) await run();
  }
}
