// The controller manager (kube-controller-manager) and the scheduler's loop: after any change
// in the store, run every reconcile function once more and write what they decided through
// the API server, as the real ones do through its REST API. A reconcile that finds nothing to
// do writes nothing, so the loop settles.

import type { ApiServer } from './apiserver.ts';
import { reconcileDeployment, REVISION } from './deployment-controller.ts';
import { endpointSliceOf, MANAGED, reconcileEndpoints } from './endpoints-controller.ts';
import { reconcileReplicaSet } from './replicaset-controller.ts';
import { RESOURCES, type Resource } from './resources.ts';
import { reconcileNodes } from './node-lifecycle.ts';
import { schedule } from './scheduler.ts';
import type { Obj } from './store.ts';

const res = (plural: string): Resource => RESOURCES.find((r) => r.plural === plural)!;
const names = (list: Obj[]) => list.map((o) => o.metadata.name).join(', ');
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

const readyIps = (e: Obj) => (e.subsets ?? []).flatMap((s: Obj) => (s.addresses ?? []).map((a: Obj) => a.ip)).join(' ');

export class ControllerManager {
  private pending = false;
  private api: ApiServer;
  /** One line per decision, as `kubectl get events` and the control plane's log show them. */
  log: (line: string) => void = () => {};

  constructor(api: ApiServer) {
    this.api = api;
    api.store.watch(() => this.soon());
    this.soon();
    setInterval(() => this.soon(), 1000).unref(); // heartbeats that stop change nothing: look anyway
  }

  private soon(): void {
    if (this.pending) return;
    this.pending = true;
    setTimeout(() => { this.pending = false; this.reconcileAll(); }, 10);
  }

  private write(plural: string, o: Obj, sub?: string): void {
    try {
      this.api.update({ res: res(plural), ns: o.metadata.namespace ?? '', name: o.metadata.name, sub }, o);
    } catch (err) { this.log(`write ${plural}/${o.metadata.name}: ${(err as Error).message}`); } // changed meanwhile: the next pass sees it
  }

  reconcileAll(): void {
    const store = this.api.store;
    const lifecycle = reconcileNodes(store.list('nodes', ''), store.list('pods', ''));
    for (const n of lifecycle.notReady) { this.write('nodes', n, 'status'); this.log(`node-lifecycle: node ${n.metadata.name} stopped reporting: NotReady`); }
    for (const p of lifecycle.evict) { this.api.remove({ res: res('pods'), ns: p.metadata.namespace, name: p.metadata.name }, 'Background'); this.log(`node-lifecycle: evicted pod ${p.metadata.name} from ${p.spec.nodeName}`); }
    for (const d of store.list('deployments', '')) {
      const a = reconcileDeployment(d, store.list('replicasets', d.metadata.namespace));
      if (a.create) { this.api.create(res('replicasets'), d.metadata.namespace, a.create); this.log(`deployment ${d.metadata.name}: created replicaset ${a.create.metadata.name} (revision ${a.revision})`); }
      for (const rs of a.update) { this.write('replicasets', rs); this.log(`deployment ${d.metadata.name}: scaled replicaset ${rs.metadata.name} to ${rs.spec.replicas}`); }
      for (const name of a.remove) this.api.remove({ res: res('replicasets'), ns: d.metadata.namespace, name }, 'Background');
      if (d.metadata.annotations?.[REVISION] !== a.revision) {
        d.metadata.annotations = { ...d.metadata.annotations, [REVISION]: a.revision };
        this.write('deployments', d);
      } else if (!same(d.status, a.status)) this.write('deployments', { ...d, status: a.status }, 'status');
    }
    for (const rs of store.list('replicasets', '')) {
      const a = reconcileReplicaSet(rs, store.list('pods', rs.metadata.namespace));
      for (const pod of a.create) { this.api.create(res('pods'), rs.metadata.namespace, pod); this.log(`replicaset ${rs.metadata.name}: created pod ${pod.metadata.name}`); }
      for (const name of a.remove) { this.api.remove({ res: res('pods'), ns: rs.metadata.namespace, name }, 'Background'); this.log(`replicaset ${rs.metadata.name}: deleted pod ${name}`); }
      if (!same(rs.status, a.status)) this.write('replicasets', { ...rs, status: a.status }, 'status');
    }
    for (const ns of store.list('namespaces', '').map((n) => n.metadata.name)) {
      const a = reconcileEndpoints(store.list('services', ns), store.list('pods', ns), store.list('endpoints', ns));
      for (const e of a.create) this.api.create(res('endpoints'), ns, e);
      for (const e of a.update) { this.write('endpoints', e); this.log(`endpoints ${ns}/${e.metadata.name}: ready ${readyIps(e) || '<none>'}`); }
      for (const name of a.remove) this.api.remove({ res: res('endpoints'), ns, name }, 'Background');
      if (a.create.length) this.log(`endpoints: made ${names(a.create)} in ${ns}`);
      // the same addresses as an EndpointSlice (discovery.k8s.io/v1), which kubectl describe reads
      const slices = store.list('endpointslices', ns);
      for (const e of store.list('endpoints', ns)) {
        if (e.metadata.annotations?.[MANAGED] !== 'true') continue;
        const want = endpointSliceOf(e);
        const have = slices.find((s) => s.metadata.name === want.metadata.name);
        if (!have) this.api.create(res('endpointslices'), ns, want);
        else if (!same(have.endpoints, want.endpoints) || !same(have.ports, want.ports)) this.write('endpointslices', { ...have, endpoints: want.endpoints, ports: want.ports });
      }
      for (const s of slices) if (!store.get('endpoints', ns, s.metadata.name)) this.api.remove({ res: res('endpointslices'), ns, name: s.metadata.name }, 'Background');
    }
    const nodes = store.list('nodes', '');
    const pods = store.list('pods', '');
    for (const pod of pods.filter((p) => !p.spec.nodeName && !p.metadata.deletionTimestamp)) {
      const placed = schedule(pod, nodes, pods);
      if ('node' in placed) {
        pod.spec.nodeName = placed.node;
        this.write('pods', pod);
        this.log(`scheduler: pod ${pod.metadata.name} -> ${placed.node}`);
      } else {
        const cond = { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: placed.reason };
        if (!same(pod.status?.conditions, [cond])) this.write('pods', { ...pod, status: { ...pod.status, conditions: [cond] } }, 'status');
      }
    }
  }
}
