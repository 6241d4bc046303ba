// Small facts about objects that several parts need: who owns a pod, is it ready, what a
// quantity like "250m" or "64Mi" is in numbers.

import type { Obj } from './store.ts';

export const isOwnedBy = (o: Obj, owner: Obj) => (o.metadata.ownerReferences ?? []).some((r: Obj) => r.uid === owner.metadata.uid);

export const ownerRef = (owner: Obj) => ({
  apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true,
});

export const condition = (o: Obj, type: string) => o.status?.conditions?.find((c: Obj) => c.type === type);

export const isPodReady = (pod: Obj) => !pod.metadata.deletionTimestamp && condition(pod, 'Ready')?.status === 'True';

export const isNodeReady = (node: Obj) => condition(node, 'Ready')?.status === 'True';

const SUFFIX: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };

/** "250m" -> 0.25, "64Mi" -> 67108864, 2 -> 2; NaN if it is not a quantity. */
export function quantity(q: unknown): number {
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+)(m|k|M|G|Ki|Mi|Gi)?$/.exec(String(q ?? ''));
  return m ? Number(m[1]) * (m[2] ? SUFFIX[m[2]] : 1) : Number.NaN;
}

/** maxSurge/maxUnavailable: a number, or a percent of replicas (surge rounds up, unavailable down). */
export function scaledValue(v: unknown, replicas: number, roundUp: boolean): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(String(v ?? ''));
  if (!m) return Number(v) || 0;
  const x = (Number(m[1]) * replicas) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

export const randomSuffix = () => Array.from({ length: 5 }, () => 'bcdfghjklmnpqrstvwxz2456789'[Math.floor(Math.random() * 27)]).join('');
