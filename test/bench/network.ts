// A benchmark, not a test: what networking costs.
//   1. start-to-exit of `box run --rm busybox true` on the default bridge beside
//      `--network none`, interleaved in the same run, with the engine and without it (the
//      bar: networking adds at most 1x the un-networked median);
//   2. requests per second to busybox httpd (a small file) through a published port on
//      127.0.0.1 (nftables DNAT) beside the same server reached at its container address.
//
//   BENCH_ONLY=network npm run bench     (BENCH_RUNS, default 25 runs each; BENCH_REQUESTS, default 2000)

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { median, percentile } from './stats.ts';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const box = path.join(repo, 'runtime/bin/box');
const RUNS = Number(process.env.BENCH_RUNS ?? 25);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000);
const WARMUP = 3;

function once(argv: string[], env: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Both commands, turn about, so that a busy moment of the machine falls on both alike. */
function interleaved(a: string[], b: string[], env: NodeJS.ProcessEnv): [number[], number[]] {
  const [xs, ys]: [number[], number[]] = [[], []];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const x = once(a, env);
    const y = once(b, env);
    if (i >= WARMUP) {
      xs.push(x);
      ys.push(y);
    }
  }
  return [xs, ys];
}

/** `requests` GETs of `url`, 8 at a time, each on a new connection (busybox httpd closes it). */
async function requestsPerSecond(url: string, requests: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: false, maxSockets: 8 });
  let next = 0;
  const worker = async () => {
    while (next++ < requests) {
      await new Promise<void>((resolve, reject) => {
        http.get(url, { agent }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
        }).on('error', reject);
      });
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all([...Array(8)].map(worker));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  agent.destroy();
  return requests / s;
}

export async function benchNetwork(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'box-bench-net-'));
  fs.chmodSync(root, 0o711);
  const env = { ...process.env, BOX_ROOT: root };
  const run = (...args: string[]) => execFileSync(box, args, { env, encoding: 'utf8' }).trim();
  const bridge = [box, 'run', '--rm', 'busybox', 'true'];
  const none = [box, 'run', '--rm', '--network', 'none', 'busybox', 'true'];
  const rows: { name: string; ms: number[] }[] = [];
  try {
    run('run', '--rm', 'busybox', 'true'); // the image, and the default network, made once
    run('engine', 'start');
    try {
      const [b, n] = interleaved(bridge, none, env);
      rows.push({ name: 'box run --rm busybox true, default bridge (engine)', ms: b }, { name: '  the same, --network none (engine)', ms: n });
    } finally {
      run('engine', 'stop');
    }
    const [b, n] = interleaved(bridge, none, env);
    rows.push({ name: 'box run --rm busybox true, default bridge (no engine)', ms: b }, { name: '  the same, --network none (no engine)', ms: n });

    console.log(`\nnetwork: start-to-exit, ${RUNS} runs each, interleaved\n`);
    console.log(`${'what'.padEnd(56)} ${'median'.padStart(9)} ${'p90'.padStart(9)}`);
    for (const r of rows) console.log(`${r.name.padEnd(56)} ${median(r.ms).toFixed(1).padStart(6)} ms ${percentile(r.ms, 90).toFixed(1).padStart(6)} ms`);
    for (const i of [0, 2]) {
      const added = median(rows[i].ms) - median(rows[i + 1].ms);
      const x = added / median(rows[i + 1].ms);
      console.log(`networking adds ${added.toFixed(1)} ms = ${x.toFixed(2)}x the un-networked median ${i ? '(no engine)' : '(engine)'}; the bar: at most 1.00x ${x <= 1 ? 'OK' : 'OVER THE BAR'}`);
    }

    const port = Number(/:(\d+)$/.exec((run('run', '-d', '--name', 'bench-web', '-p', '127.0.0.1::80', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc'), run('port', 'bench-web')))![1]);
    const ip = JSON.parse(run('inspect', 'bench-web'))[0].NetworkSettings.Networks.bridge.IPAddress;
    await requestsPerSecond(`http://${ip}/hostname`, 200); // warm
    // Four rounds each, turn about; the median round of each.
    const [d, p]: [number[], number[]] = [[], []];
    for (let i = 0; i < 4; i++) {
      d.push(await requestsPerSecond(`http://${ip}/hostname`, REQUESTS / 4));
      p.push(await requestsPerSecond(`http://127.0.0.1:${port}/hostname`, REQUESTS / 4));
    }
    const [direct, published] = [median(d), median(p)];
    console.log(`\nbusybox httpd, GET /hostname, ${REQUESTS} requests, 8 at a time, a new connection each`);
    console.log(`  through the published port 127.0.0.1:${port} (DNAT):  ${published.toFixed(0)} requests/s`);
    console.log(`  at the container's address ${ip}:80:     ${direct.toFixed(0)} requests/s`);
    console.log(`  published / direct = ${(published / direct).toFixed(2)}`);
  } finally {
    spawnSync(box, ['rm', '-f', 'bench-web'], { env, stdio: 'ignore' });
    spawnSync(box, ['network', 'rm', 'bridge'], { env, stdio: 'ignore' });
    fs.rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchNetwork();
