// The reconcile functions and the scheduler without root or a server: given what is, do they
// decide what Kubernetes' controllers would?

import { describe, expect, it } from 'vitest';
import { reconcileDeployment, REVISION, templateHash } from '../../runtime/src/cluster/deployment-controller.ts';
import { reconcileReplicaSet } from '../../runtime/src/cluster/replicaset-controller.ts';
import { schedule } from '../../runtime/src/cluster/scheduler.ts';
import type { Obj } from '../../runtime/src/cluster/store.ts';

const template = (image: string) => ({ metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image }] } });
const deployment = (replicas: number, image: string, rollingUpdate = { maxSurge: 1, maxUnavailable: 1 }): Obj => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default', uid: 'd1', generation: 1 },
  spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: template(image), strategy: { type: 'RollingUpdate', rollingUpdate } },
});
const rsOf = (d: Obj, image: string, replicas: number, ready: number, revision: number): Obj => ({
  apiVersion: 'apps/v1', kind: 'ReplicaSet',
  metadata: { name: `web-${image}`, namespace: 'default', uid: `rs-${image}`, labels: { app: 'web', 'pod-template-hash': templateHash(template(image)) }, annotations: { [REVISION]: String(revision) }, ownerReferences: [{ uid: d.metadata.uid }] },
  spec: { replicas, template: template(image) }, status: { replicas, readyReplicas: ready },
});
const pod = (name: string, owner: string, ready: boolean, nodeName?: string, cpu?: string): Obj => ({
  metadata: { name, uid: name, creationTimestamp: `2026-01-01T00:00:0${name.length % 10}Z`, ownerReferences: [{ uid: owner }] },
  spec: { nodeName, containers: [{ name: 'c', resources: cpu ? { requests: { cpu } } : undefined }] },
  status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

describe('ReplicaSet controller', () => {
  const rs = { metadata: { name: 'web-1', namespace: 'default', uid: 'rs1', generation: 1 }, spec: { replicas: 3, template: template('a') } };
  it('makes the missing pods from the template, owned by the ReplicaSet (a killed pod is replaced)', () => {
    const a = reconcileReplicaSet(rs, [pod('p1', 'rs1', true), pod('other', 'x', true)]);
    expect(a.create).toHaveLength(2);
    expect(a.create[0].metadata.ownerReferences[0]).toMatchObject({ uid: 'rs1', controller: true });
    expect(a.create[0].metadata.labels).toEqual({ app: 'web' });
    expect(a.status).toMatchObject({ replicas: 1, readyReplicas: 1 });
  });
  it('removes the extra pods, the not-ready and unscheduled ones first', () => {
    const a = reconcileReplicaSet({ ...rs, spec: { ...rs.spec, replicas: 1 } }, [pod('ready1', 'rs1', true, 'n1'), pod('pending', 'rs1', false), pod('ready2', 'rs1', true, 'n2')]);
    expect(a.create).toEqual([]);
    expect(a.remove[0]).toBe('pending');
    expect(a.remove).toHaveLength(2);
  });
});

describe('Deployment controller', () => {
  it('makes revision 1 for a new Deployment and gives it all replicas', () => {
    const a = reconcileDeployment(deployment(3, 'a'), []);
    expect(a.create?.metadata.annotations[REVISION]).toBe('1');
    expect(a.create?.spec.replicas).toBe(3);
    expect(a.create?.spec.selector.matchLabels['pod-template-hash']).toBe(templateHash(template('a')));
  });
  it('rolls a new template within maxSurge and maxUnavailable', () => {
    const d = deployment(4, 'b');
    const old = rsOf(d, 'a', 4, 4, 1);
    const first = reconcileDeployment(d, [old]);
    expect(first.create?.metadata.annotations[REVISION]).toBe('2');
    expect(first.create?.spec.replicas).toBe(1); // 4 + surge 1 - 4 existing
    expect(first.update.find((r) => r.metadata.name === 'web-a')?.spec.replicas).toBe(3); // ready 4 - (4 - 1)
    // the new pod is not ready yet: old may not drop further (3 ready = replicas - maxUnavailable)
    const next = reconcileDeployment(d, [rsOf(d, 'a', 3, 3, 1), rsOf(d, 'b', 1, 0, 2)]);
    expect(next.update.find((r) => r.metadata.name === 'web-a')).toBeUndefined();
    expect(next.update.find((r) => r.metadata.name === 'web-b')?.spec.replicas).toBe(2);
    expect(next.status.conditions[1].reason).toBe('ReplicaSetUpdated');
  });
  it('on rollback, makes the old template\'s ReplicaSet the newest revision again', () => {
    const d = deployment(2, 'a');
    const a = reconcileDeployment(d, [rsOf(d, 'a', 0, 0, 1), rsOf(d, 'b', 2, 2, 2)]);
    expect(a.create).toBeUndefined();
    expect(a.revision).toBe('3');
    expect(a.update.find((r) => r.metadata.name === 'web-a')?.metadata.annotations[REVISION]).toBe('3');
  });
  it('reports a finished rollout the way `kubectl rollout status` reads it', () => {
    const d = deployment(2, 'a');
    const a = reconcileDeployment(d, [rsOf(d, 'a', 2, 2, 1)]);
    expect(a.status).toMatchObject({ replicas: 2, updatedReplicas: 2, availableReplicas: 2, observedGeneration: 1 });
    expect(a.status.conditions[1].reason).toBe('NewReplicaSetAvailable');
  });
});

describe('scheduler', () => {
  const node = (name: string, ready: boolean, cpu = '2') => ({ metadata: { name }, status: { allocatable: { cpu, memory: '1Gi' }, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] } });
  it('skips nodes that are not ready and spreads pods to the emptiest node', () => {
    const pods = [pod('a', 'x', true, 'n1'), pod('b', 'x', true, 'n1'), pod('c', 'x', true, 'n2')];
    expect(schedule(pod('new', 'x', false), [node('n1', true), node('n2', true), node('n3', false)], pods)).toEqual({ node: 'n2' });
  });
  it('keeps a pod whose CPU request fits nowhere Pending, with the reason', () => {
    const r = schedule(pod('big', 'x', false, undefined, '1500m'), [node('n1', true, '1'), node('n2', true, '2')], [pod('a', 'x', true, 'n2', '1')]);
    expect(r).toEqual({ reason: expect.stringContaining('insufficient cpu') });
    expect(schedule(pod('p', 'x', false), [node('n1', false)], [])).toEqual({ reason: '0/1 nodes are available: 1 node(s) not ready.' });
  });
});

describe('node lifecycle', () => {
  it('marks a node whose heartbeat is older than the grace NotReady, and evicts only its pods', async () => {
    const { reconcileNodes, GRACE_MS } = await import('../../runtime/src/cluster/node-lifecycle.ts');
    const now = Date.parse('2026-01-01T00:01:00Z');
    const node = (name: string, beat: number) => ({ metadata: { name, creationTimestamp: '2026-01-01T00:00:00Z' }, status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: new Date(beat).toISOString() }] } });
    const a = reconcileNodes([node('alive', now - 1000), node('silent', now - GRACE_MS - 1)], [pod('p1', 'x', true, 'alive'), pod('p2', 'x', true, 'silent')], now);
    expect(a.notReady.map((n) => [n.metadata.name, n.status.conditions[0].status])).toEqual([['silent', 'Unknown']]);
    expect(a.evict.map((p) => p.metadata.name)).toEqual(['p2']);
  });
});
