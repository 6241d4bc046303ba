// The node lifecycle controller (in kube-controller-manager): a node whose agent has not
// reported for GRACE_MS is marked NotReady (status Unknown), and its pods are evicted:
// deleted, so that their ReplicaSets make new ones, which the scheduler puts on the nodes
// that are still Ready. Kubernetes waits 40 s and then 5 min by default; box, 10 s and then
// at once, so that a reader sees it happen.

import { condition } from './objects.ts';
import type { Obj } from './store.ts';

export const GRACE_MS = 10_000;

export interface NodeActions { notReady: Obj[]; evict: Obj[] }

/** A pure function: which nodes went silent, and which pods to evict from them. */
export function reconcileNodes(nodes: Obj[], pods: Obj[], now = Date.now()): NodeActions {
  const notReady: Obj[] = [];
  const silent = new Set<string>();
  for (const node of nodes) {
    const ready = condition(node, 'Ready');
    const last = Date.parse(ready?.lastHeartbeatTime ?? node.metadata.creationTimestamp);
    if (now - last < GRACE_MS) continue;
    silent.add(node.metadata.name);
    if (ready?.status !== 'Unknown') {
      const n = structuredClone(node);
      n.status.conditions = [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastHeartbeatTime: ready?.lastHeartbeatTime, lastTransitionTime: new Date(now).toISOString() }];
      notReady.push(n);
    }
  }
  return { notReady, evict: pods.filter((p) => silent.has(p.spec.nodeName)) };
}
