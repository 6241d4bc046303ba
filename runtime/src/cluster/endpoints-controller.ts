// The endpoints controller: for each Service with a selector, an Endpoints object of the same
// name listing the pods the selector matches, each at its address and the Service's target
// port. A Ready pod goes in `addresses`, one not Ready (its readiness probe failing, starting)
// in `notReadyAddresses`: the service proxy sends traffic to the first list only, which is how
// readiness gates traffic. `kubectl get endpoints` shows it.

import { isPodReady } from './objects.ts';
import type { Obj } from './store.ts';

const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** A targetPort by name ("http") is looked up in the pod's containers' ports; a number is itself. */
export function targetPortOf(port: Obj, pod: Obj): number | undefined {
  const t = port.targetPort ?? port.port;
  if (typeof t === 'number') return t;
  if (/^\d+$/.test(String(t))) return Number(t);
  for (const c of pod.spec.containers ?? []) {
    const p = (c.ports ?? []).find((x: Obj) => x.name === t && (x.protocol ?? 'TCP') === (port.protocol ?? 'TCP'));
    if (p) return p.containerPort;
  }
  return undefined;
}

/** The Endpoints a Service should have now; undefined for a Service without a selector (its Endpoints are the user's). */
export function desiredEndpoints(svc: Obj, pods: Obj[]): Obj | undefined {
  const selector = svc.spec?.selector;
  if (!selector || Object.keys(selector).length === 0) return undefined;
  // pods grouped by the ports they resolve to (named target ports may differ per pod), as subsets
  const subsets = new Map<string, Obj>();
  const chosen = pods.filter((p) => matches(selector, p.metadata.labels) && p.status?.podIP && !p.metadata.deletionTimestamp)
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  for (const pod of chosen) {
    const ports = (svc.spec.ports ?? []).map((p: Obj) => ({ ...(p.name ? { name: p.name } : {}), port: targetPortOf(p, pod), protocol: p.protocol ?? 'TCP' }))
      .filter((p: Obj) => p.port !== undefined);
    if (ports.length === 0) continue;
    const key = JSON.stringify(ports);
    const subset = subsets.get(key) ?? { addresses: [], notReadyAddresses: [], ports };
    subsets.set(key, subset);
    const address = { ip: pod.status.podIP, nodeName: pod.spec.nodeName, targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid } };
    (isPodReady(pod) ? subset.addresses : subset.notReadyAddresses).push(address);
  }
  const list = [...subsets.values()].map((s) => ({
    ...(s.addresses.length ? { addresses: s.addresses } : {}),
    ...(s.notReadyAddresses.length ? { notReadyAddresses: s.notReadyAddresses } : {}),
    ports: s.ports,
  }));
  return {
    apiVersion: 'v1', kind: 'Endpoints',
    metadata: { name: svc.metadata.name, namespace: svc.metadata.namespace, labels: { ...svc.metadata.labels } },
    subsets: list,
  };
}

export interface EndpointsActions { create: Obj[]; update: Obj[]; remove: string[] }

/** What to write in one namespace: Endpoints to make, to change, and those whose Service is gone. */
export function reconcileEndpoints(services: Obj[], pods: Obj[], existing: Obj[]): EndpointsActions {
  const out: EndpointsActions = { create: [], update: [], remove: [] };
  const byName = new Map(existing.map((e) => [e.metadata.name, e]));
  const wanted = new Set<string>();
  for (const svc of services) {
    const want = desiredEndpoints(svc, pods);
    if (!want) continue;
    wanted.add(svc.metadata.name);
    const have = byName.get(svc.metadata.name);
    if (!have) out.create.push(want);
    else if (JSON.stringify(have.subsets ?? []) !== JSON.stringify(want.subsets)) out.update.push({ ...have, subsets: want.subsets });
  }
  // an Endpoints made for a Service (it has the Service's name) outlives it by nothing
  const selectorless = new Set(services.filter((s) => !s.spec?.selector).map((s) => s.metadata.name));
  for (const e of existing) if (!wanted.has(e.metadata.name) && !selectorless.has(e.metadata.name) && e.metadata.annotations?.[MANAGED] === 'true') out.remove.push(e.metadata.name);
  for (const e of out.create) e.metadata.annotations = { [MANAGED]: 'true' };
  return out;
}

/**
 * The same addresses as an EndpointSlice (discovery.k8s.io/v1), the newer form that kube-proxy
 * and `kubectl describe service` read: one endpoint per pod with its ready condition. Named as
 * its Endpoints (a real cluster names them SERVICE-RANDOM and may split one Service's over several).
 */
export function endpointSliceOf(e: Obj): Obj {
  const subsets: Obj[] = e.subsets ?? [];
  const endpoints = subsets.flatMap((s) => [
    ...(s.addresses ?? []).map((a: Obj) => ({ a, ready: true })), ...(s.notReadyAddresses ?? []).map((a: Obj) => ({ a, ready: false })),
  ]).map(({ a, ready }) => ({ addresses: [a.ip], conditions: { ready, serving: ready, terminating: false }, nodeName: a.nodeName, targetRef: a.targetRef }));
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { name: e.metadata.name, namespace: e.metadata.namespace, labels: { 'kubernetes.io/service-name': e.metadata.name, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    // every port with a name, "" when it has none, as the real controller writes them (kubectl
    // describe reads the name through a pointer and would crash on a missing one)
    endpoints, ports: (subsets[0]?.ports ?? []).map((p: Obj) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
  };
}

/** Marks the Endpoints this controller made (a user's own, for a Service without selector, stay). */
export const MANAGED = 'box.cluster/endpoints-controller';
