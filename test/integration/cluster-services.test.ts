// Services on a 3-node `box cluster`, with the real kubectl and the real kernel: a ClusterIP
// load-balanced by nftables across every Ready pod (the answering pod's hostname, counted),
// an unready pod skipped, a NodePort on 127.0.0.1, names through the cluster's DNS, and
// ConfigMaps as env and files, and `cluster down` leaving no rule or route. KUBECONFIG and
// BOX_ROOT are temporary.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, vi } from 'vitest';
import { needs } from '../support/requires.ts';
import { box, has, repo, rootReason, tempBoxRoot } from './helpers.ts';
import { kubectlWith, untilCluster as until } from './kubectl.ts';

const suite = needs(
  !has('kubectl') && 'kubectl is not installed (apt-get install kubectl)', !has('openssl') && 'openssl is not installed (apt-get install openssl)',
  rootReason, !has('nft') && 'nft is not installed (apt-get install nftables)',
);
const FIX = path.join(repo, 'test/fixtures/cluster');
let root = '';
let kubeconfig = '';

const { kubectl, ok } = kubectlWith(() => kubeconfig);
/** GET http://host:port/ from this machine: the body (a pod's hostname), '' if it failed. */
const get = (host: string, port: number) => new Promise<string>((resolve) => {
  http.get({ host, port, path: '/', timeout: 3000, agent: false }, (res) => { let b = ''; res.on('data', (c) => { b += c; }); res.on('end', () => resolve(b.trim())); })
    .on('error', () => resolve('')).on('timeout', function (this: http.ClientRequest) { this.destroy(); });
});
async function count(host: string, port: number, n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) { const who = await get(host, port); seen.set(who, (seen.get(who) ?? 0) + 1); }
  return seen;
}
/** A command in a pod's container (`box exec`), its stdout. (This busybox's wget crashes with -q or -T: -O- 2>/dev/null instead.) */
const inPod = (pod: string, script: string) => {
  const name = box(root, ['ps']).stdout.split('\n').map((l) => l.trim().split(/\s+/).pop()!).find((n) => n.startsWith(`${pod}.`));
  if (!name) throw new Error(`no container of pod ${pod}`);
  return box(root, ['exec', name, 'sh', '-c', script]).stdout;
};

suite.describe('box cluster Services (ClusterIP, NodePort, endpoints, DNS) and ConfigMaps', () => {
  vi.setConfig({ testTimeout: 180_000, hookTimeout: 120_000 });
  const pods = (): any[] => JSON.parse(ok(['get', 'pods', '-l', 'app=web', '-o', 'json'])).items;
  const ready = (p: any) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
  const allReady = (n: number) => () => { const p = pods(); return p.length === n && p.filter(ready).length === n; };
  let svc: any;

  beforeAll(() => {
    root = tempBoxRoot('cluster-svc');
    kubeconfig = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-kube-')), 'config');
    const r = box(root, ['cluster', 'up', '--nodes', '3'], { env: { KUBECONFIG: kubeconfig }, timeout: 60_000 });
    if (r.code !== 0) throw new Error(`cluster up: ${r.stderr}`);
  });
  afterAll(() => {
    if (root) box(root, ['cluster', 'down'], { env: { KUBECONFIG: kubeconfig }, timeout: 60_000 });
    fs.rmSync(root, { recursive: true, force: true });
  });

  suite.it('kubectl expose makes a Service with a ClusterIP and a NodePort; its Endpoints list the Ready pods', async () => {
    ok(['apply', '-f', path.join(FIX, 'web.yaml')]);
    expect(ok(['expose', 'deployment', 'web', '--port', '80', '--type', 'NodePort'])).toContain('service/web exposed');
    svc = JSON.parse(ok(['get', 'svc', 'web', '-o', 'json']));
    expect(svc.spec.clusterIP).toMatch(/^10\.(9[6-9]|10\d|11[01])\.\d+\.\d+$/); // in 10.96.0.0/12
    expect(svc.spec.ports[0].nodePort).toBeGreaterThanOrEqual(30000);
    expect(svc.spec.ports[0].nodePort).toBeLessThanOrEqual(32767);
    expect(ok(['get', 'svc', 'web'])).toMatch(new RegExp(`web\\s+NodePort\\s+${svc.spec.clusterIP.replace(/\./g, '\\.')}\\s+<none>\\s+80:${svc.spec.ports[0].nodePort}/TCP`));
    await until(allReady(3), '3 Ready pods', 90);
    const ips = pods().map((p) => `${p.status.podIP}:80`).sort();
    await until(() => (JSON.parse(ok(['get', 'endpoints', 'web', '-o', 'json'])).subsets?.[0]?.addresses ?? []).length === 3, 'the Endpoints to list 3 pods', 20);
    const listed = ok(['get', 'endpoints', 'web', '--no-headers']).trim().split(/\s+/)[1].split(',').sort();
    expect(listed).toEqual(ips);
    // the same as an EndpointSlice, which kubectl describe reads
    await until(() => (JSON.parse(ok(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=web', '-o', 'json'])).items[0]?.endpoints ?? []).length === 3, 'the EndpointSlice', 20);
    const described = ok(['describe', 'svc', 'web']);
    const line = described.split('\n').find((l) => l.startsWith('Endpoints:'))!;
    expect(line.replace('Endpoints:', '').trim().split(',').sort()).toEqual(ips);
    expect(described).toMatch(new RegExp(`NodePort:\\s+<unset>\\s+${svc.spec.ports[0].nodePort}/TCP`));
    // a port already given to this Service is refused to another, as the allocator does
    const file = path.join(path.dirname(kubeconfig), 'other.yaml');
    fs.writeFileSync(file, `apiVersion: v1\nkind: Service\nmetadata: {name: other}\nspec:\n  type: NodePort\n  selector: {app: web}\n  ports:\n  - {port: 80, nodePort: ${svc.spec.ports[0].nodePort}}\n`);
    const dup = kubectl(['create', '-f', file]);
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toContain(`spec.ports[0].nodePort: Invalid value: ${svc.spec.ports[0].nodePort}: provided port is already allocated`);
  });

  suite.it('the ClusterIP spreads requests over all 3 Ready pods, from the host and from a pod', async () => {
    const seen = await count(svc.spec.clusterIP, 80, 60);
    const names = pods().map((p) => p.metadata.name).sort();
    expect([...seen.keys()].sort()).toEqual(names); // every pod answered, nothing failed ('' would show)
    // from a pod: through its default route, DNATed on the host, hairpin-masqueraded back
    const out = inPod(names[0], `for i in $(seq 30); do wget -O- http://${svc.spec.clusterIP}/ 2>/dev/null; echo; done`);
    const fromPod = new Set(out.split('\n').map((l) => l.trim()).filter(Boolean));
    expect([...fromPod].sort()).toEqual(names); // itself included
  });

  suite.it('the NodePort answers on 127.0.0.1 and on every node\'s address, spread the same way', async () => {
    const names = pods().map((p) => p.metadata.name).sort();
    const seen = await count('127.0.0.1', svc.spec.ports[0].nodePort, 60);
    expect([...seen.keys()].sort()).toEqual(names);
    const nodeIps: string[] = JSON.parse(ok(['get', 'nodes', '-o', 'json'])).items.map((n: any) => n.status.addresses?.find((a: any) => a.type === 'InternalIP')?.address);
    expect(nodeIps).toHaveLength(3);
    for (const ip of nodeIps) {
      // the node's own namespace answers: its copy of the proxy's table DNATs and masquerades
      const atNode = await count(ip, svc.spec.ports[0].nodePort, 45);
      expect([...atNode.keys()].sort()).toEqual(names);
    }
  });

  suite.it('a pod that is not Ready gets no traffic, and gets it again once Ready', async () => {
    const [sick] = pods().map((p) => p.metadata.name).sort();
    inPod(sick, 'mv /www/index.html /www/away.html'); // the readiness probe (GET /) now gets 404
    await until(() => !ready(pods().find((p) => p.metadata.name === sick)), `${sick} not Ready`, 30);
    await until(() => (JSON.parse(ok(['get', 'endpoints', 'web', '-o', 'json'])).subsets?.[0]?.notReadyAddresses ?? []).length === 1, 'the pod in notReadyAddresses', 20);
    const seen = await count(svc.spec.clusterIP, 80, 40);
    expect(seen.has(sick)).toBe(false);
    expect(seen.has('')).toBe(false); // and no request failed
    expect(seen.size).toBe(2);
    inPod(sick, 'mv /www/away.html /www/index.html');
    await until(allReady(3), 'the pod Ready again', 30);
    await until(() => (JSON.parse(ok(['get', 'endpoints', 'web', '-o', 'json'])).subsets?.[0]?.addresses ?? []).length === 3, 'the Endpoints to list 3 pods again', 20);
    const again = await count(svc.spec.clusterIP, 80, 60);
    expect(again.has(sick)).toBe(true);
  });

  suite.it('a Service with no Ready pod refuses at once', async () => {
    ok(['create', '-f', path.join(FIX, 'empty-service.yaml')]);
    const ip = JSON.parse(ok(['get', 'svc', 'nobody', '-o', 'json'])).spec.clusterIP;
    await until(() => execFileSync('nft', ['list', 'ruleset'], { encoding: 'utf8' }).includes(`ip daddr ${ip} tcp dport 80 reject`), 'the reject rule', 10);
    const err = await new Promise<string>((resolve) => {
      http.get({ host: ip, port: 80, timeout: 5000, agent: false }).on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')).on('timeout', () => resolve('timeout'));
    });
    expect(err).toBe('ECONNREFUSED');
  });

  suite.it('pods find the Service by name: web, web.default.svc, web.default.svc.cluster.local', () => {
    const [first] = pods().map((p) => p.metadata.name).sort();
    for (const name of ['web', 'web.default.svc', 'web.default.svc.cluster.local']) {
      expect(inPod(first, `nslookup ${name} 2>&1`)).toContain(`Address: ${svc.spec.clusterIP}`);
      expect(pods().map((p) => p.metadata.name)).toContain(inPod(first, `wget -O- http://${name}/ 2>/dev/null`).trim());
    }
    expect(inPod(first, 'cat /etc/resolv.conf')).toContain('search default.svc.cluster.local svc.cluster.local cluster.local');
  });

  suite.it('a ConfigMap reaches a pod as env (configMapKeyRef, envFrom) and as files; a missing one holds the pod back', async () => {
    expect(ok(['apply', '-f', path.join(FIX, 'configmap.yaml')])).toContain('configmap/web-config created');
    expect(ok(['get', 'configmap', 'web-config'])).toMatch(/web-config\s+3\s+/);
    await until(() => ok(['logs', 'configured']).includes('app.conf'), 'the configured pod\'s output', 60);
    const out = ok(['logs', 'configured']);
    expect(out).toContain('GREETING=hello from a ConfigMap');
    expect(out).toContain('CFG_color=blue');
    expect(out).toContain('listen 80\nroot /www\n');
    expect(out.trim().split('\n').slice(-3)).toEqual(['GREETING', 'app.conf', 'color']); // one file per key
    expect(inPod('configured', 'echo x > /etc/app/new 2>&1; echo $?').trim()).not.toBe('0'); // read-only

    ok(['apply', '-f', path.join(FIX, 'configmap-late.yaml')]);
    const waiting = () => JSON.parse(ok(['get', 'pod', 'waits-for-config', '-o', 'json'])).status?.containerStatuses?.[0]?.state?.waiting;
    await until(() => waiting()?.reason === 'CreateContainerConfigError', 'CreateContainerConfigError', 30);
    expect(waiting().message).toBe('configmap "late-config" not found');
    expect(ok(['get', 'pod', 'waits-for-config'])).toContain('CreateContainerConfigError');
    const file = path.join(path.dirname(kubeconfig), 'late.yaml');
    fs.writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late-config}\ndata: {mode: fast}\n');
    ok(['create', '-f', file]);
    await until(() => kubectl(['logs', 'waits-for-config']).stdout.includes('MODE=fast'), 'the pod started with its ConfigMap', 30);
    fs.writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad-config}\ndata: {replicas: 3}\n');
    const bad = kubectl(['create', '-f', file]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('data[replicas]');
  });

  suite.it('cluster down removes the service proxy\'s table and route', () => {
    const tables = () => execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
    const table = tables().split('\n').map((l) => l.trim().split(' ').pop()!).find((t) => t.startsWith('box_svc_') && execFileSync('nft', ['list', 'table', 'ip', t], { encoding: 'utf8' }).includes(svc.spec.clusterIP));
    expect(table).toBeTruthy();
    const range = svc.spec.clusterIP.replace(/\.\d+$/, '.0/24');
    expect(execFileSync('ip', ['route'], { encoding: 'utf8' })).toContain(range);
    expect(box(root, ['cluster', 'down'], { env: { KUBECONFIG: kubeconfig }, timeout: 60_000 }).code).toBe(0);
    expect(tables()).not.toContain(table);
    expect(execFileSync('ip', ['route'], { encoding: 'utf8' })).not.toContain(range);
  });
});

suite.describe('box cluster: the service proxy\'s rules do not outlive a SIGKILLed control plane', () => {
  vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });
  const tables = () => execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
  beforeAll(() => {
    root = tempBoxRoot('cluster-svc-kill');
    kubeconfig = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-kube-')), 'config');
    const r = box(root, ['cluster', 'up', '--nodes', '1'], { env: { KUBECONFIG: kubeconfig }, timeout: 60_000 });
    if (r.code !== 0) throw new Error(`cluster up: ${r.stderr}`);
  });
  afterAll(() => {
    if (root) box(root, ['cluster', 'down'], { env: { KUBECONFIG: kubeconfig }, timeout: 60_000 });
    fs.rmSync(root, { recursive: true, force: true });
  });

  suite.it('kill -9 of the control plane: the next box removes its table', async () => {
    ok(['create', '-f', path.join(FIX, 'empty-service.yaml')]);
    const ip = JSON.parse(ok(['get', 'svc', 'nobody', '-o', 'json'])).spec.clusterIP;
    const mine = () => tables().split('\n').map((l) => l.trim().split(' ').pop()!).filter((t) => t.startsWith('box_svc_'))
      .find((t) => { try { return execFileSync('nft', ['list', 'table', 'ip', t], { encoding: 'utf8' }).includes(ip); } catch { return false; } });
    await until(() => mine() !== undefined, 'the proxy\'s table', 20);
    const table = mine()!;
    const pid = JSON.parse(fs.readFileSync(path.join(root, 'cluster/state.json'), 'utf8')).pid as number;
    process.kill(pid, 'SIGKILL');
    expect(tables()).toContain(table); // a killed process removes nothing itself
    box(root, ['cluster', 'status'], { timeout: 60_000 });
    expect(tables()).not.toContain(table);
  });
});
