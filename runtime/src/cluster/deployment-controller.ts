// The Deployment controller (in kube-controller-manager): a Deployment owns ReplicaSets, one
// per version of its pod template (named by the template's hash), and moves replicas from
// the old ones to the new one. RollingUpdate does it in steps bounded by maxSurge (how many
// pods above `replicas` may exist) and maxUnavailable (how many below `replicas` may be not
// ready); Recreate empties the old ones first. Each ReplicaSet keeps its revision number in
// the annotation deployment.kubernetes.io/revision: that is the rollout history, and
// `kubectl rollout undo` is writing an old template back, which makes its ReplicaSet the
// newest revision again.

import { createHash } from 'node:crypto';
import { isOwnedBy, ownerRef, scaledValue } from './objects.ts';
import type { Obj } from './store.ts';

export const REVISION = 'deployment.kubernetes.io/revision';
const HASH = 'pod-template-hash';

export interface DeploymentActions {
  create?: Obj; // a new ReplicaSet
  update: Obj[]; // ReplicaSets with a new spec.replicas or revision
  remove: string[]; // old, empty ReplicaSets past revisionHistoryLimit
  revision: string; // for the Deployment's own annotation
  status: Obj;
}

/** The template with sorted keys and without empty values: the same template, whoever wrote
 * it (kubectl's rollback sends it back through Go types, with `resources: {}` and
 * `creationTimestamp: null` added and the keys in another order). */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v !== 'object' || v === null) return v;
  const out: Obj = {};
  for (const k of Object.keys(v).sort()) {
    const c = canonical((v as Obj)[k]);
    if (c === null || c === undefined || (typeof c === 'object' && !Array.isArray(c) && Object.keys(c).length === 0)) continue;
    out[k] = c;
  }
  return out;
}

export function templateHash(template: Obj): string {
  const t = structuredClone(template);
  if (t.metadata?.labels) delete t.metadata.labels[HASH];
  return createHash('sha256').update(JSON.stringify(canonical(t))).digest('hex').slice(0, 10).replace(/[0-9]/g, (c) => 'bcdfghjklm'[Number(c)]);
}

const revisionOf = (rs: Obj) => Number(rs.metadata.annotations?.[REVISION] ?? 0);

/** What to do for one Deployment, given all the ReplicaSets of its namespace. A pure function. */
export function reconcileDeployment(d: Obj, replicaSets: Obj[]): DeploymentActions {
  const owned = replicaSets.filter((rs) => isOwnedBy(rs, d));
  const hash = templateHash(d.spec.template);
  const maxRevision = Math.max(0, ...owned.map(revisionOf));
  const update = new Map<string, Obj>();
  let create: Obj | undefined;
  let current = owned.find((rs) => rs.metadata.labels?.[HASH] === hash);
  if (!current) {
    const template = structuredClone(d.spec.template);
    template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, [HASH]: hash } };
    current = create = {
      apiVersion: 'apps/v1', kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata.name}-${hash}`, namespace: d.metadata.namespace, labels: template.metadata.labels,
        annotations: { [REVISION]: String(maxRevision + 1) }, ownerReferences: [ownerRef(d)],
      },
      spec: { replicas: 0, selector: { matchLabels: { ...d.spec.selector.matchLabels, [HASH]: hash } }, template },
    };
  } else if (revisionOf(current) < maxRevision) {
    // an old template came back (rollback): its ReplicaSet becomes the newest revision
    current = structuredClone(current);
    current.metadata.annotations = { ...current.metadata.annotations, [REVISION]: String(maxRevision + 1) };
    update.set(current.metadata.name, current);
  }
  const old = owned.filter((rs) => rs.metadata.name !== current!.metadata.name);
  const setReplicas = (rs: Obj, n: number) => {
    if (rs.spec.replicas === n) return;
    if (rs === create) return void (create.spec.replicas = n);
    const u = update.get(rs.metadata.name) ?? structuredClone(rs);
    u.spec.replicas = n;
    update.set(rs.metadata.name, u);
    rs.spec.replicas = n;
  };
  const replicas = d.spec.replicas ?? 1;
  // a ReplicaSet's status lags its spec: one just scaled down from 3 to 2 may still say 3
  // ready; never count more ready pods than it is meant to have
  const ready = (rs: Obj) => Math.min(rs.status?.readyReplicas ?? 0, rs.spec.replicas ?? 0);
  const oldPods = old.reduce((n, rs) => n + (rs.status?.replicas ?? rs.spec.replicas ?? 0), 0);

  if (d.spec.strategy?.type === 'Recreate') {
    for (const rs of old) setReplicas(rs, 0);
    if (oldPods === 0) setReplicas(current, replicas);
  } else {
    let surge = scaledValue(d.spec.strategy?.rollingUpdate?.maxSurge ?? '25%', replicas, true);
    const unavailable = scaledValue(d.spec.strategy?.rollingUpdate?.maxUnavailable ?? '25%', replicas, false);
    if (surge === 0 && unavailable === 0) surge = 1; // as Kubernetes: a rollout must be able to move
    // scale the new ReplicaSet up, as far as maxSurge lets the total go
    const total = owned.reduce((n, rs) => n + (rs.spec.replicas ?? 0), 0);
    const up = Math.min(replicas + surge - total, replicas - (current.spec.replicas ?? 0));
    if (old.length === 0) setReplicas(current, replicas);
    else if (up > 0) setReplicas(current, (current.spec.replicas ?? 0) + up);
    else if ((current.spec.replicas ?? 0) > replicas) setReplicas(current, replicas);
    // scale old ones down, as far as maxUnavailable lets the ready count go; pods of theirs
    // that are not ready can go at once (they serve nothing)
    const readyTotal = owned.reduce((n, rs) => n + ready(rs), 0);
    let canRemove = readyTotal - (replicas - unavailable);
    for (const rs of [...old].sort((a, b) => revisionOf(a) - revisionOf(b))) {
      const have = rs.spec.replicas ?? 0;
      if (have === 0) continue;
      const notReady = Math.max(0, have - ready(rs));
      const cut = Math.min(have, notReady + Math.max(0, canRemove));
      canRemove -= Math.max(0, cut - notReady);
      setReplicas(rs, have - cut);
    }
  }
  // history: keep revisionHistoryLimit old, empty ReplicaSets
  const empty = old.filter((rs) => (update.get(rs.metadata.name) ?? rs).spec.replicas === 0 && (rs.status?.replicas ?? 0) === 0)
    .sort((a, b) => revisionOf(b) - revisionOf(a));
  const remove = empty.slice(d.spec.revisionHistoryLimit ?? 10).map((rs) => rs.metadata.name);

  const all = owned.map((rs) => update.get(rs.metadata.name) ?? rs);
  const updated = create ? 0 : current.status?.replicas ?? 0;
  const updatedReady = create ? 0 : ready(current);
  const totalPods = all.reduce((n, rs) => n + (rs.status?.replicas ?? 0), 0);
  const readyPods = all.reduce((n, rs) => n + ready(rs), 0);
  const done = updated === replicas && totalPods === replicas && updatedReady === replicas;
  const minAvailable = replicas - scaledValue(d.spec.strategy?.rollingUpdate?.maxUnavailable ?? '25%', replicas, false);
  const status = {
    observedGeneration: d.metadata.generation, replicas: totalPods, updatedReplicas: updated, readyReplicas: readyPods,
    availableReplicas: readyPods, unavailableReplicas: Math.max(0, replicas - readyPods),
    conditions: [
      { type: 'Available', status: readyPods >= minAvailable ? 'True' : 'False', reason: readyPods >= minAvailable ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable' },
      { type: 'Progressing', status: 'True', reason: done ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated', message: `ReplicaSet "${current.metadata.name}" ${done ? 'has successfully progressed' : 'is progressing'}.` },
    ],
  };
  return { create, update: [...update.values()], remove, revision: create ? String(maxRevision + 1) : String(revisionOf(current)), status };
}
