// deploy/: the Kubernetes manifests of a class larger than one machine. Every file parses as
// YAML into objects of known kinds with what the README promises (privileged lab pods, the
// KVM preference, the Service's session affinity, the database and its Secret); and kubectl
// accepts them: `kubectl apply --dry-run=client --validate=false -f deploy/`.
//
// A client dry run sends nothing, but kubectl still maps each kind to its API path through the
// server's discovery documents first (without a server: "unable to recognize ... connection
// refused"). So this test answers discovery on 127.0.0.1 with the resource lists of Kubernetes
// v1 for the groups deploy/ uses, and 404 to apply's read of each object (not there yet); a
// request that would write fails the test.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { needs } from '../support/requires.ts';

const run = promisify(execFile);
const DEPLOY = path.resolve(import.meta.dirname, '../../deploy');
const hasKubectl = fs.existsSync('/usr/bin/kubectl') || fs.existsSync('/usr/local/bin/kubectl');

interface K8sObject { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; spec?: any; stringData?: Record<string, string> }

function manifests(): { file: string; obj: K8sObject }[] {
  return fs.readdirSync(DEPLOY).filter((f) => /\.ya?ml$/.test(f)).sort().flatMap((file) =>
    YAML.parseAllDocuments(fs.readFileSync(path.join(DEPLOY, file), 'utf8')).map((doc) => {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
      return { file, obj: doc.toJS() as K8sObject };
    }));
}

describe('deploy/ manifests', () => {
  it('parse, and hold the lab servers, the Service with session affinity and the database', () => {
    const all = manifests();
    const kinds = all.map(({ obj }) => `${obj.kind}/${obj.metadata.name}`).sort();
    expect(kinds).toEqual(['Ingress/isolab-lab', 'Namespace/isolab', 'Secret/isolab-db', 'Secret/isolab-lab',
      'Service/isolab-db', 'Service/isolab-lab', 'StatefulSet/isolab-db', 'StatefulSet/isolab-lab']);
    for (const { file, obj } of all) {
      if (obj.kind !== 'Namespace') expect(obj.metadata.namespace, `${file} ${obj.kind}`).toBe('isolab');
    }
    const find = (kind: string, name: string) => all.find(({ obj }) => obj.kind === kind && obj.metadata.name === name)!.obj;
    const lab = find('StatefulSet', 'isolab-lab').spec.template.spec;
    expect(lab.containers[0].securityContext.privileged).toBe(true);
    expect(lab.containers[0].args).toContain('--class-db=postgres://isolab@isolab-db.isolab.svc:5432/isolab');
    // The password comes from the Secret, not the command line.
    expect(lab.containers[0].env.find((e: any) => e.name === 'PGPASSWORD').valueFrom.secretKeyRef).toEqual({ name: 'isolab-db', key: 'password' });
    expect(lab.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].key).toBe('isolab.dev/kvm');
    expect(find('Service', 'isolab-lab').spec.sessionAffinity).toBe('ClientIP');
    expect(find('Ingress', 'isolab-lab').metadata.annotations!['nginx.ingress.kubernetes.io/affinity']).toBe('cookie');
    const db = find('StatefulSet', 'isolab-db').spec;
    expect(db.template.spec.containers[0].env.find((e: any) => e.name === 'POSTGRES_PASSWORD').valueFrom.secretKeyRef.name).toBe('isolab-db');
    expect(db.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('2Gi');
  });
});

/** Discovery documents of Kubernetes v1 for the kinds deploy/ uses. */
const DISCOVERY: Record<string, unknown> = {
  '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] },
  '/apis': {
    kind: 'APIGroupList', apiVersion: 'v1', groups: ['apps', 'networking.k8s.io'].map((name) => ({
      name, versions: [{ groupVersion: `${name}/v1`, version: 'v1' }], preferredVersion: { groupVersion: `${name}/v1`, version: 'v1' },
    })),
  },
  '/api/v1': resources('v1', [['namespaces', 'Namespace', false], ['secrets', 'Secret', true], ['services', 'Service', true]]),
  '/apis/apps/v1': resources('apps/v1', [['statefulsets', 'StatefulSet', true], ['deployments', 'Deployment', true]]),
  '/apis/networking.k8s.io/v1': resources('networking.k8s.io/v1', [['ingresses', 'Ingress', true]]),
  '/version': { major: '1', minor: '32', gitVersion: 'v1.32.0' },
};
function resources(groupVersion: string, list: [string, string, boolean][]) {
  return {
    kind: 'APIResourceList', apiVersion: 'v1', groupVersion,
    resources: list.map(([name, kind, namespaced]) => ({ name, singularName: kind.toLowerCase(), namespaced, kind, verbs: ['create', 'get', 'list', 'patch'] })),
  };
}

needs(hasKubectl ? '' : 'kubectl is not installed (apt-get install kubectl)').describe('kubectl and deploy/', () => {
  let server: http.Server;
  let port = 0;
  const unexpected: string[] = [];
  let kubeconfig = '';
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const url = (req.url ?? '').split('?')[0];
      const body = req.method === 'GET' ? DISCOVERY[url] : undefined;
      if (!body) { unexpected.push(`${req.method} ${req.url}`); res.writeHead(404).end(); return; }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
    // A kubeconfig of its own: nothing of the user's (~/.kube) is read, its cache neither.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-kubectl-'));
    kubeconfig = path.join(dir, 'config');
    fs.writeFileSync(kubeconfig, YAML.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
      clusters: [{ name: 'test', cluster: { server: `http://127.0.0.1:${port}` } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
      users: [{ name: 'test', user: {} }],
    }));
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    if (kubeconfig) fs.rmSync(path.dirname(kubeconfig), { recursive: true, force: true });
  });

  it('kubectl apply --dry-run=client --validate=false -f deploy/ accepts every object', async () => {
    const { stdout } = await run('kubectl', ['apply', '--dry-run=client', '--validate=false', '-f', DEPLOY, '-o', 'name'], {
      env: { ...process.env, KUBECONFIG: kubeconfig, HOME: path.dirname(kubeconfig) },
    });
    expect(stdout.trim().split('\n').sort()).toEqual([
      'ingress.networking.k8s.io/isolab-lab', 'namespace/isolab', 'secret/isolab-db', 'secret/isolab-lab',
      'service/isolab-db', 'service/isolab-lab', 'statefulset.apps/isolab-db', 'statefulset.apps/isolab-lab',
    ]);
    // apply reads each object first (404 here: to be created); a dry run writes nothing.
    expect(unexpected.filter((u) => !u.startsWith('GET '))).toEqual([]);
    expect(unexpected).toContain('GET /apis/apps/v1/namespaces/isolab/statefulsets/isolab-lab');
  }, 120_000);
});
