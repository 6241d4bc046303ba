// `kubectl get` asks the server for a Table (Accept: ...;as=Table;g=meta.k8s.io) and prints
// its columns as they come: the columns of each kind are the server's to choose. These are
// the ones Kubernetes prints (priority 1 columns show with -o wide).

import type { Obj } from './store.ts';

interface Column { name: string; priority?: number; cell(o: Obj): string | number }

export function age(o: Obj, now = Date.now()): string {
  const s = Math.max(0, Math.floor((now - Date.parse(o.metadata.creationTimestamp)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h`;
}

const podStatus = (o: Obj) => (o.metadata.deletionTimestamp ? 'Terminating'
  : o.status?.containerStatuses?.find((c: Obj) => c.state?.waiting)?.state.waiting.reason ?? o.status?.phase ?? 'Pending');
const ready = (o: Obj) => `${(o.status?.containerStatuses ?? []).filter((c: Obj) => c.ready).length}/${o.spec.containers.length}`;
const ports = (o: Obj) => (o.spec.ports ?? []).map((p: Obj) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',');
/** "172.18.0.3:80,172.18.0.4:80 + 1 more...": the ready addresses, as kubectl shows three. */
function endpoints(o: Obj): string {
  const all = (o.subsets ?? []).flatMap((s: Obj) => (s.addresses ?? []).flatMap((a: Obj) => (s.ports ?? []).map((p: Obj) => `${a.ip}:${p.port}`)));
  if (all.length === 0) return '<none>';
  return all.length > 3 ? `${all.slice(0, 3).join(',')} + ${all.length - 3} more...` : all.join(',');
}
const AGE: Column = { name: 'Age', cell: (o) => age(o) };

const COLUMNS: Record<string, Column[]> = {
  Pod: [
    { name: 'Ready', cell: ready }, { name: 'Status', cell: podStatus },
    { name: 'Restarts', cell: (o) => (o.status?.containerStatuses ?? []).reduce((n: number, c: Obj) => n + (c.restartCount ?? 0), 0) },
    AGE, { name: 'IP', priority: 1, cell: (o) => o.status?.podIP ?? '<none>' }, { name: 'Node', priority: 1, cell: (o) => o.spec.nodeName ?? '<none>' },
  ],
  Deployment: [
    { name: 'Ready', cell: (o) => `${o.status?.readyReplicas ?? 0}/${o.spec.replicas}` },
    { name: 'Up-to-date', cell: (o) => o.status?.updatedReplicas ?? 0 }, { name: 'Available', cell: (o) => o.status?.availableReplicas ?? 0 }, AGE,
    { name: 'Containers', priority: 1, cell: (o) => o.spec.template.spec.containers.map((c: Obj) => c.name).join(',') },
    { name: 'Images', priority: 1, cell: (o) => o.spec.template.spec.containers.map((c: Obj) => c.image).join(',') },
  ],
  ReplicaSet: [
    { name: 'Desired', cell: (o) => o.spec.replicas }, { name: 'Current', cell: (o) => o.status?.replicas ?? 0 },
    { name: 'Ready', cell: (o) => o.status?.readyReplicas ?? 0 }, AGE,
  ],
  Service: [
    { name: 'Type', cell: (o) => o.spec.type }, { name: 'Cluster-IP', cell: (o) => o.spec.clusterIP ?? '<pending>' },
    { name: 'External-IP', cell: () => '<none>' }, { name: 'Port(s)', cell: ports }, AGE,
    { name: 'Selector', priority: 1, cell: (o) => Object.entries(o.spec.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '<none>' },
  ],
  Endpoints: [{ name: 'Endpoints', cell: endpoints }, AGE],
  EndpointSlice: [
    { name: 'AddressType', cell: (o) => o.addressType }, { name: 'Ports', cell: (o) => (o.ports ?? []).map((p: Obj) => p.port).join(',') || '<unset>' },
    { name: 'Endpoints', cell: (o) => { const ips = (o.endpoints ?? []).filter((x: Obj) => x.conditions?.ready).map((x: Obj) => x.addresses[0]); return ips.length > 3 ? `${ips.slice(0, 3).join(',')} + ${ips.length - 3} more...` : ips.join(',') || '<unset>'; } }, AGE,
  ],
  ConfigMap: [{ name: 'Data', cell: (o) => Object.keys(o.data ?? {}).length }, AGE],
  Namespace: [{ name: 'Status', cell: (o) => o.status?.phase ?? 'Active' }, AGE],
  Node: [
    { name: 'Status', cell: (o) => (o.status?.conditions?.find((c: Obj) => c.type === 'Ready')?.status === 'True' ? 'Ready' : 'NotReady') },
    { name: 'Roles', cell: () => '<none>' }, AGE, { name: 'Version', cell: () => 'box' },
    { name: 'Internal-IP', priority: 1, cell: (o) => o.status?.addresses?.[0]?.address ?? '<none>' },
  ],
};

export function toTable(kind: string, objects: Obj[], resourceVersion: string): Obj {
  const columns = COLUMNS[kind] ?? [AGE];
  return {
    kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion },
    columnDefinitions: [{ name: 'Name', type: 'string', format: 'name', description: 'Name', priority: 0 },
      ...columns.map((c) => ({ name: c.name, type: 'string', format: '', description: c.name, priority: c.priority ?? 0 }))],
    rows: objects.map((o) => ({ cells: [o.metadata.name, ...columns.map((c) => c.cell(o))], object: o })),
  };
}
