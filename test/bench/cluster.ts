// A benchmark, not a test: on a 3-node `box cluster`, the time from `kubectl apply` of a
// 3-replica Deployment to all its pods Ready, and from a pod's container killed to the pod
// Ready again (the agent's restart), median of several runs; then the resident memory of the
// control plane and of each node agent.
//
//   BENCH_ONLY=cluster npm run bench     (BENCH_RUNS, default 5)

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median } from './stats.ts';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const box = path.join(repo, 'runtime/bin/box');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const DEPLOY = `apiVersion: apps/v1
kind: Deployment
metadata: {name: bench}
spec:
  replicas: 3
  selector: {matchLabels: {app: bench}}
  template:
    metadata: {labels: {app: bench}}
    spec:
      containers: [{name: web, image: busybox, command: [httpd, -f, -p, "80"]}]
`;

export async function benchCluster(): Promise<void> {
  if (spawnSync('sh', ['-c', 'command -v kubectl'], { stdio: 'ignore' }).status !== 0) {
    console.log('\ncluster: skipped, kubectl is not installed (apt-get install kubectl)');
    return;
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'box-bench-cluster-'));
  const env = { ...process.env, BOX_ROOT: root, KUBECONFIG: path.join(root, 'kubeconfig') };
  const file = path.join(root, 'deploy.yaml');
  fs.writeFileSync(file, DEPLOY);
  const sh = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const readyCount = () => (JSON.parse(sh('kubectl', ['get', 'pods', '-l', 'app=bench', '-o', 'json'])).items as any[])
    .filter((p) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True')).length;
  const restarts = (pod: string) => JSON.parse(sh('kubectl', ['get', 'pod', pod, '-o', 'json'])).status?.containerStatuses?.[0]?.restartCount ?? 0;
  const waitFor = async (test: () => boolean) => { while (!test()) await new Promise((r) => setTimeout(r, 50)); };
  const apply: number[] = [];
  const heal: number[] = [];
  let memory = '';
  try {
    sh(box, ['cluster', 'up', '--nodes', '3']);
    await waitFor(() => sh('kubectl', ['get', 'nodes', '--no-headers']).split('\n').filter((l) => /\sReady\s/.test(l)).length === 3);
    for (let i = 0; i < RUNS; i++) {
      let t0 = performance.now();
      sh('kubectl', ['apply', '-f', file]);
      await waitFor(() => readyCount() === 3);
      apply.push(performance.now() - t0);
      const container = sh(box, ['ps']).split('\n').map((l) => l.trim().split(/\s+/).pop()!).find((n) => n.startsWith('bench-'))!;
      const pod = container.split('.')[0];
      t0 = performance.now();
      sh(box, ['kill', container]);
      // the restart, seen by its count (the agent may restart it before it ever reports it not
      // Ready: waiting for the Ready count to dip could wait forever), then Ready
      await waitFor(() => restarts(pod) >= 1);
      await waitFor(() => readyCount() === 3);
      heal.push(performance.now() - t0);
      if (i === 0) {
        const rss = (pid: number) => `${Math.round(Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024)} MiB`;
        const state = JSON.parse(fs.readFileSync(path.join(root, 'cluster/state.json'), 'utf8'));
        const agents = fs.readdirSync(path.join(root, 'cluster/nodes')).filter((f) => f.endsWith('.pid'))
          .map((f) => `${f.slice(0, -4)} ${rss(Number(fs.readFileSync(path.join(root, 'cluster/nodes', f), 'utf8')))}`);
        memory = `control plane ${rss(state.pid)}; agents: ${agents.join(', ')}`;
      }
      sh('kubectl', ['delete', '-f', file]);
      await waitFor(() => sh(box, ['ps']).split('\n').filter((l) => l.includes('bench-')).length === 0);
    }
  } finally {
    spawnSync(box, ['cluster', 'down'], { env });
    fs.rmSync(root, { recursive: true, force: true });
  }
  console.log(`\ncluster (3 nodes, ${RUNS} runs): apply of 3 replicas to all Ready ${Math.round(median(apply))} ms median; killed container to its pod Ready again ${Math.round(median(heal))} ms median`);
  console.log(`cluster memory (RSS): ${memory}`);
}
