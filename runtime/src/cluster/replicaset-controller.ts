// The ReplicaSet controller (in kube-controller-manager): keep `spec.replicas` pods that match
// the template alive. It compares what is (the pods it owns) with what should be, and closes
// the gap: a pod killed or evicted is simply one fewer, so a new one is made. That is all
// "self-healing" is.

import { isOwnedBy, isPodReady, ownerRef, randomSuffix } from './objects.ts';
import type { Obj } from './store.ts';

export interface ReplicaSetActions { create: Obj[]; remove: string[]; status: Obj }

/** What to do for one ReplicaSet, given all the pods of its namespace. A pure function. */
export function reconcileReplicaSet(rs: Obj, pods: Obj[]): ReplicaSetActions {
  const mine = pods.filter((p) => isOwnedBy(p, rs) && !p.metadata.deletionTimestamp);
  const want = rs.spec.replicas ?? 1;
  const create: Obj[] = [];
  for (let i = mine.length; i < want; i++) {
    const tpl = structuredClone(rs.spec.template);
    create.push({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { ...tpl.metadata, name: `${rs.metadata.name}-${randomSuffix()}`, namespace: rs.metadata.namespace, ownerReferences: [ownerRef(rs)] },
      spec: tpl.spec,
    });
  }
  // too many: remove the ones that matter least first (not yet on a node, not ready, newest)
  const rank = (p: Obj) => (p.spec.nodeName ? 2 : 0) + (isPodReady(p) ? 1 : 0);
  const remove = [...mine]
    .sort((a, b) => rank(a) - rank(b) || b.metadata.creationTimestamp.localeCompare(a.metadata.creationTimestamp))
    .slice(0, Math.max(0, mine.length - want)).map((p) => p.metadata.name);
  const ready = mine.filter(isPodReady).length;
  const status = {
    replicas: mine.length, fullyLabeledReplicas: mine.length, readyReplicas: ready, availableReplicas: ready,
    observedGeneration: rs.metadata.generation,
  };
  return { create, remove, status };
}
