// `box cluster` driven by the real kubectl: the API server's REST shape, discovery, apply
// (create, then strategic merge patch), validation errors with field paths, scale, watch,
// delete, and `cluster down` leaving nothing. KUBECONFIG and BOX_ROOT are temporary.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { needs } from '../support/requires.ts';
import { box, has, repo, tempBoxRoot } from './helpers.ts';

const suite = needs(!has('kubectl') && 'kubectl is not installed (apt-get install kubectl)', !has('openssl') && 'openssl is not installed (apt-get install openssl)');
const FIX = path.join(repo, 'test/fixtures/cluster');
let root = '';
let kubeconfig = '';

function kubectl(args: string[]) {
  const r = spawnSync('kubectl', args, { env: { ...process.env, KUBECONFIG: kubeconfig }, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
function ok(args: string[]): string {
  const r = kubectl(args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}
/** Alive and not a zombie (a zombie waits for a reaper that may be this test's runner). */
const running = (pid: number) => { try { return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; } };
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) { if (check()) return; await new Promise((r) => setTimeout(r, 50)); }
  throw new Error(`waited 10 s for ${what}`);
}
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
    expect(ok(['get', 'pod', 'web', '-o', 'yaml'])).toMatch(/phase: Pending/);
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
