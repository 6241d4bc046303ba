// The two patch formats `kubectl apply`, `scale` and `rollout undo` send. JSON merge patch
// (RFC 7386): objects merge key by key, null deletes a key, anything else (lists too)
// replaces. Strategic merge patch, Kubernetes' own: the same, except that a list of objects
// with a merge key (containers by name, ports by containerPort...) merges item by item, and
// `$`-directives say what plain JSON cannot ($patch: delete an item, $setElementOrder the
// order, $deleteFromPrimitiveList). Kubernetes reads the merge keys from the Go types'
// `patchMergeKey` tags; this table is the part of them box's kinds use.

import type { Obj } from './store.ts';

export const MERGE_KEYS: Record<string, string> = {
  containers: 'name', initContainers: 'name', env: 'name', volumes: 'name',
  volumeMounts: 'mountPath', ports: 'containerPort', conditions: 'type', imagePullSecrets: 'name',
  tolerations: 'key', hostAliases: 'ip',
};

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function jsonMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Obj = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = jsonMergePatch(out[k], v);
  }
  return out;
}

export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  if (patch.$patch === 'replace') { const { $patch: _, ...rest } = patch; return rest; }
  const out: Obj = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$retainKeys' || k === '$patch' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[field])) out[field] = out[field].filter((x: unknown) => !(v as unknown[]).includes(x));
      continue;
    }
    if (v === null) delete out[k];
    else if (Array.isArray(v) && MERGE_KEYS[k] && Array.isArray(out[k])) out[k] = mergeList(out[k], v, MERGE_KEYS[k], patch[`$setElementOrder/${k}`]);
    else if (Array.isArray(v)) out[k] = v.filter((x) => !(isObject(x) && x.$patch === 'delete'));
    else out[k] = strategicMergePatch(out[k], v);
  }
  return out;
}

function mergeList(current: Obj[], patch: Obj[], key: string, order?: Obj[]): Obj[] {
  let out = [...current];
  for (const item of patch) {
    const i = out.findIndex((c) => isObject(c) && c[key] === item[key]);
    if (item.$patch === 'delete') { if (i >= 0) out.splice(i, 1); continue; }
    if (i >= 0) out[i] = strategicMergePatch(out[i], item) as Obj;
    else out.push(strategicMergePatch({}, item) as Obj);
  }
  if (order) {
    const rank = (o: Obj) => { const r = order.findIndex((x) => x[key] === o[key]); return r < 0 ? order.length : r; };
    out = out.sort((a, b) => rank(a) - rank(b));
  }
  return out;
}

/**
 * JSON patch (RFC 6902), the third format: a list of operations on paths. `kubectl rollout
 * undo` sends one: replace /spec/template with the old revision's. add, replace and remove.
 */
export function jsonPatch(target: Obj, ops: { op: string; path: string; value?: unknown }[]): Obj {
  const out = structuredClone(target);
  for (const { op, path, value } of ops) {
    const keys = path.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop()!;
    const parent = keys.reduce((o: any, k) => (o[k] ??= {}), out);
    if (op === 'remove') { if (Array.isArray(parent)) parent.splice(Number(last), 1); else delete parent[last]; } else if (op === 'add' || op === 'replace') {
      if (Array.isArray(parent) && op === 'add') parent.splice(last === '-' ? parent.length : Number(last), 0, value);
      else parent[last] = value;
    } else throw new Error(`JSON patch operation ${op} is not supported (add, replace, remove are)`);
  }
  return out;
}
