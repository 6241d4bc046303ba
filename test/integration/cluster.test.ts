// `box cluster` driven by the real kubectl: the API server's REST shape, discovery, apply
// (create, then strategic merge patch), validation errors with field paths, scale, watch,
// delete, and `cluster down` leaving nothing. KUBECONFIG and BOX_ROOT are temporary.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, vi } from 'vitest';
import { needs } from '../support/requires.ts';
import { box, has, repo, rootReason, tempBoxRoot } from './helpers.ts';
import { kubectlWith, untilCluster as until } from './kubectl.ts';

const suite = needs(!has('kubectl') && 'kubectl is not installed (apt-get install kubectl)', !has('openssl') && 'openssl is not installed (apt-get install openssl)');
const FIX = path.join(repo, 'test/fixtures/cluster');
let root = '';
let kubeconfig = '';

const { kubectl, ok } = kubectlWith(() => kubeconfig);
/** Alive and not a zombie (a zombie waits for a reaper that may be this test's runner). */
const running = (pid: number) => { try { return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; } };
const controlPlanePid = () => JSON.parse(fs.readFileSync(path.join(root, 'cluster/state.json'), 'utf8')).pid as number;

suite.describe('box cluster with kubectl', () => {
  beforeAll(() => {
    root = tempBoxRoot('cluster');
    kubeconfig = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-kube-')), 'config');
    // another cluster's entry in the same kubeconfig stays, as kind leaves others' alone
    fs.writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster:\n    server: https://192.0.2.1\ncontexts: []\nusers: []\n');
    const r = box(root, ['cluster', 'up'], { env: { KUBECONFIG: kubeconfig } });
    if (r.code !== 0) throw new Error(`cluster up: ${r.stderr}`);
  });
  afterAll(() => {
    if (root) box(root, ['cluster', 'down'], { env: { KUBECONFIG: kubeconfig } });
    fs.rmSync(root, { recursive: true, force: true });
  });

  suite.it('kubectl finds the kinds through discovery, and the namespaces box made', () => {
    const kinds = ok(['api-resources', '--no-headers']).split('\n').map((l) => l.trim().split(/\s+/).pop());
    expect(kinds).toEqual(expect.arrayContaining(['Pod', 'Deployment', 'ReplicaSet', 'Service', 'ConfigMap', 'Namespace', 'Node']));
    expect(ok(['get', 'ns', '-o', 'name']).split('\n').filter(Boolean)).toEqual(['namespace/default', 'namespace/kube-system']);
  });

  suite.it('applies the nginx-deployment example unchanged, then applies a change as a patch', () => {
    expect(ok(['apply', '-f', path.join(FIX, 'nginx-deployment.yaml')])).toContain('deployment.apps/nginx-deployment created');
    expect(ok(['apply', '-f', path.join(FIX, 'nginx-deployment.yaml')])).toContain('unchanged');
    const changed = fs.readFileSync(path.join(FIX, 'nginx-deployment.yaml'), 'utf8').replace('replicas: 3', 'replicas: 4');
    const file = path.join(path.dirname(kubeconfig), 'changed.yaml');
    fs.writeFileSync(file, changed);
    expect(ok(['apply', '-f', file])).toContain('configured');
    const d = JSON.parse(ok(['get', 'deployment', 'nginx-deployment', '-o', 'json']));
    expect(d.spec.replicas).toBe(4);
    expect(d.metadata.generation).toBe(2);
    expect(d.spec.template.spec.containers[0].command).toEqual(['httpd', '-f', '-p', '80']);
    expect(ok(['scale', 'deployment/nginx-deployment', '--replicas=2'])).toContain('scaled');
    expect(ok(['get', 'deploy', 'nginx-deployment', '-o', 'jsonpath={.spec.replicas}'])).toBe('2');
  });

  suite.it('refuses an invalid manifest with the field paths, and a duplicate with AlreadyExists', () => {
    const bad = kubectl(['apply', '-f', path.join(FIX, 'invalid-pod.yaml')]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('The Pod "bad" is invalid');
    expect(bad.stderr).toContain('spec.containers[0].name: Invalid value: "Web"');
    expect(bad.stderr).toContain('spec.containers[0].image: Required value');
    ok(['create', '-f', path.join(FIX, 'pod.yaml')]);
    const dup = kubectl(['create', '-f', path.join(FIX, 'pod.yaml')]);
    expect(dup.stderr).toContain('Error from server (AlreadyExists)');
    expect(kubectl(['get', 'pod', 'nope']).stderr).toContain('Error from server (NotFound): pods "nope" not found');
  });

  suite.it('get -o wide prints the server\'s columns; get -w streams a deletion', async () => {
    const wide = ok(['get', 'pods', '-o', 'wide']);
    expect(wide.split('\n')[0].split(/\s+/)).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE']);
    // Pending until node-1's agent has started it, Running after: which one depends on the machine's load
    expect(ok(['get', 'pod', 'web', '-o', 'yaml'])).toMatch(/phase: (Pending|Running)/);
    const watch = spawn('kubectl', ['get', 'pods', '-w', '--output-watch-events'], { env: { ...process.env, KUBECONFIG: kubeconfig } });
    let out = '';
    watch.stdout.on('data', (d) => { out += d; });
    while (!out.includes('ADDED')) await new Promise((r) => setTimeout(r, 50));
    ok(['delete', 'pod', 'web']);
    while (!out.includes('DELETED')) await new Promise((r) => setTimeout(r, 50));
    watch.kill();
    expect(out).toMatch(/DELETED\s+web/);
  });

  suite.it('controllers: a Deployment makes a ReplicaSet and its pods; a deleted pod is replaced; history and undo', async () => {
    const podsOf = () => ok(['get', 'pods', '-l', 'app=nginx', '-o', 'name']).split('\n').filter(Boolean);
    await until(() => podsOf().length === 2, 'the 2 pods of the scaled deployment');
    const [victim] = podsOf();
    ok(['delete', victim]);
    await until(() => { const p = podsOf(); return p.length === 2 && !p.includes(victim); }, 'a replacement pod');
    ok(['set', 'image', 'deployment/nginx-deployment', 'nginx=busybox:musl']);
    await until(() => ok(['get', 'rs', '-l', 'app=nginx', '-o', 'name']).split('\n').filter(Boolean).length === 2, 'a second ReplicaSet');
    expect(ok(['rollout', 'history', 'deployment/nginx-deployment'])).toMatch(/REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
    expect(ok(['rollout', 'undo', 'deployment/nginx-deployment'])).toContain('rolled back');
    await until(() => ok(['get', 'deploy', 'nginx-deployment', '-o', 'jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}']) === '3', 'revision 3');
    // the undo brought revision 1's ReplicaSet back as revision 3: still two ReplicaSets
    expect(ok(['get', 'rs', '-l', 'app=nginx', '-o', 'name']).split('\n').filter(Boolean)).toHaveLength(2);
    expect(ok(['get', 'deploy', 'nginx-deployment', '-o', 'jsonpath={.spec.template.spec.containers[0].image}'])).toBe('busybox');
  });

  suite.it('cluster down stops the control plane and takes only its own context out of the kubeconfig', () => {
    const pid = controlPlanePid();
    expect(box(root, ['cluster', 'down'], { env: { KUBECONFIG: kubeconfig } }).code).toBe(0);
    expect(running(pid)).toBe(false);
    expect(fs.existsSync(path.join(root, 'cluster'))).toBe(false);
    const config = fs.readFileSync(kubeconfig, 'utf8');
    expect(config).not.toContain('name: box');
    expect(config).toContain('name: other');
    expect(execFileSync('kubectl', ['config', 'get-contexts', '-o', 'name'], { env: { ...process.env, KUBECONFIG: kubeconfig }, encoding: 'utf8' }).trim()).toBe('');
  });
});

const nodeSuite = needs(
  !has('kubectl') && 'kubectl is not installed (apt-get install kubectl)', !has('openssl') && 'openssl is not installed (apt-get install openssl)',
  rootReason, !has('nft') && 'nft is not installed (apt-get install nftables)',
);

nodeSuite.describe('box cluster with 3 nodes: pods as box containers', () => {
  vi.setConfig({ testTimeout: 180_000, hookTimeout: 120_000 }); // pods start in seconds each on a shared CPU
  const WEB = path.join(FIX, 'web.yaml');
  const pods = (): any[] => JSON.parse(ok(['get', 'pods', '-l', 'app=web', '-o', 'json'])).items;
  const readyPods = () => pods().filter((p) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
  const allReady = (n: number) => () => { const p = pods(); return p.length === n && readyPods().length === n; };
  const get = (ip: string) => new Promise<string>((resolve) => {
    http.get({ host: ip, port: 80, path: '/', timeout: 2000 }, (res) => { let b = ''; res.on('data', (c) => { b += c; }); res.on('end', () => resolve(b.trim())); })
      .on('error', () => resolve('')).on('timeout', function (this: http.ClientRequest) { this.destroy(); });
  });

  beforeAll(() => {
    root = tempBoxRoot('cluster-nodes');
    kubeconfig = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-kube-')), 'config');
    const r = box(root, ['cluster', 'up', '--nodes', '3'], { env: { KUBECONFIG: kubeconfig }, timeout: 60_000 });
    if (r.code !== 0) throw new Error(`cluster up: ${r.stderr}`);
  });
  afterAll(() => {
    if (root) box(root, ['cluster', 'down'], { env: { KUBECONFIG: kubeconfig }, timeout: 60_000 });
    fs.rmSync(root, { recursive: true, force: true });
  });

  nodeSuite.it('runs the Deployment\'s pods on the nodes, Ready once their httpd answers; logs come from the container', async () => {
    await until(() => ok(['get', 'nodes', '--no-headers']).split('\n').filter((l) => /\sReady\s/.test(l)).length === 3, '3 Ready nodes', 20);
    ok(['apply', '-f', WEB]);
    await until(allReady(3), '3 Ready pods', 60);
    // a finished rollout: kubectl lists, watches from that resourceVersion, and ends at once
    expect(ok(['rollout', 'status', 'deployment/web', '--timeout=60s'])).toContain('deployment "web" successfully rolled out');
    const ps = pods();
    expect(new Set(ps.map((p) => p.spec.nodeName)).size).toBe(3); // spread, one per node
    for (const p of ps) expect(await get(p.status.podIP)).toBe(p.metadata.name); // the pod's own hostname
    expect(ok(['logs', ps[0].metadata.name])).toContain('serving 1');
    const boxPs = box(root, ['ps']).stdout;
    for (const p of ps) expect(boxPs).toContain(p.metadata.name);
  });

  nodeSuite.it('self-heals: a killed container is restarted, a deleted pod replaced', async () => {
    const [first, second] = pods();
    const container = box(root, ['ps']).stdout.split('\n').map((l) => l.trim().split(/\s+/).pop()!).find((n) => n.startsWith(`${first.metadata.name}.`))!;
    expect(box(root, ['kill', container]).code).toBe(0);
    await until(() => pods().find((p) => p.metadata.name === first.metadata.name)?.status.containerStatuses?.[0].restartCount === 1, 'a restart', 60);
    await until(allReady(3), '3 Ready pods again', 90);
    ok(['delete', 'pod', second.metadata.name]);
    await until(() => allReady(3)() && !pods().some((p) => p.metadata.name === second.metadata.name), 'a replacement pod Ready', 90);
  });

  nodeSuite.it('scales up to 5 and down to 2', async () => {
    ok(['scale', 'deployment/web', '--replicas=5']);
    await until(allReady(5), '5 Ready pods', 60);
    ok(['scale', 'deployment/web', '--replicas=2']);
    await until(allReady(2), '2 Ready pods', 30);
    ok(['scale', 'deployment/web', '--replicas=3']);
    await until(allReady(3), '3 Ready pods', 60);
  });

  nodeSuite.it('rolls an update without going below replicas - maxUnavailable Ready pods, and rolls it back', async () => {
    const text = fs.readFileSync(WEB, 'utf8').replace('value: "1"', 'value: "2"');
    const file = path.join(path.dirname(kubeconfig), 'web-2.yaml');
    fs.writeFileSync(file, text);
    ok(['apply', '-f', file]);
    let least = 3;
    const newImage = () => pods().filter((p) => p.spec.containers[0].env[0].value === '2');
    for (let i = 0; i < 600 && !(allReady(3)() && newImage().length === 3); i++) {
      least = Math.min(least, readyPods().length);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(newImage().length).toBe(3);
    expect(least).toBeGreaterThanOrEqual(2); // replicas 3 - maxUnavailable 1
    await until(() => { const st = JSON.parse(ok(['get', 'deploy', 'web', '-o', 'json'])).status; return st.updatedReplicas === 3 && st.availableReplicas === 3 && st.replicas === 3; }, 'the Deployment\'s status to show the rollout done', 60);
    expect(ok(['rollout', 'status', 'deployment/web', '--timeout=60s'])).toContain('deployment "web" successfully rolled out');
    expect(ok(['logs', pods()[0].metadata.name])).toContain('serving 2');
    ok(['rollout', 'undo', 'deployment/web']);
    // during a rollout: kubectl follows it event by event until it is done
    const during = ok(['rollout', 'status', 'deployment/web', '--timeout=120s']);
    expect(during).toContain('deployment "web" successfully rolled out');
    await until(() => allReady(3)() && pods().every((p) => p.spec.containers[0].env[0].value === '1'), 'the pods of revision 1 back', 90);
    expect(ok(['rollout', 'history', 'deployment/web'])).toMatch(/2\s+<none>\n3\s+<none>/);
    // rollout status of a rollout already done: kubectl's first list says so, and it stops the
    // watch it had just begun, before any event: it exits only if the watch's headers came
    const done = kubectl(['rollout', 'status', 'deployment/web']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain('deployment "web" successfully rolled out');
  });

  nodeSuite.it('a stopped node is marked NotReady and its pods are made again on the other nodes', async () => {
    const victim = pods()[0].spec.nodeName as string;
    expect(box(root, ['cluster', 'node', 'stop', victim]).code).toBe(0);
    await until(() => new RegExp(`${victim}\\s+NotReady`).test(ok(['get', 'nodes'])), `${victim} NotReady`, 30);
    await until(() => allReady(3)() && pods().every((p) => p.spec.nodeName !== victim), 'the pods rescheduled', 60);
    expect(box(root, ['cluster', 'node', 'start', victim]).code).toBe(0);
    await until(() => new RegExp(`${victim}\\s+Ready`).test(ok(['get', 'nodes'])), `${victim} Ready again`, 30);
  });

  nodeSuite.it('cluster down leaves no process, container, network or file behind', () => {
    const agents = fs.readdirSync(path.join(root, 'cluster/nodes')).filter((f) => f.endsWith('.pid')).map((f) => Number(fs.readFileSync(path.join(root, 'cluster/nodes', f), 'utf8')));
    const cp = controlPlanePid();
    const net = fs.readdirSync(path.join(root, 'networks')).map((id) => path.join(root, 'networks', id, 'network.json'))
      .filter((f) => fs.existsSync(f)).map((f) => JSON.parse(fs.readFileSync(f, 'utf8'))).find((n) => n.name === 'box-cluster');
    expect(net?.bridge).toBeTruthy();
    expect(box(root, ['cluster', 'down'], { env: { KUBECONFIG: kubeconfig }, timeout: 60_000 }).code).toBe(0);
    for (const pid of [cp, ...agents]) expect(running(pid)).toBe(false);
    expect(box(root, ['ps', '-a']).stdout.trim().split('\n')).toHaveLength(1); // the header only
    expect(box(root, ['network', 'ls']).stdout).not.toContain('box-cluster');
    expect(execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })).not.toContain(`${net.bridge}:`);
    if (net.table) expect(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })).not.toContain(net.table);
    expect(fs.existsSync(path.join(root, 'cluster'))).toBe(false);
  });
});
