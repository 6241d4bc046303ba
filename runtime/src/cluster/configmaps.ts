// ConfigMaps in a pod, as the kubelet puts them there: configuration kept apart from the
// image, read when the container starts.
//   env[].valueFrom.configMapKeyRef  one variable from one key
//   envFrom[].configMapRef           every key as a variable (with an optional prefix)
//   volumes[].configMap + volumeMounts  every key (or the listed items) as a file, read-only
// A ConfigMap that is missing (and not optional) keeps the container from starting:
// CreateContainerConfigError with `configmap "NAME" not found`, as kubectl shows it; the
// agent tries again on its next pass, so creating the ConfigMap later starts the pod.
// The files are written on the node (here: $BOX_ROOT/cluster/volumes/NODE/UID/VOLUME) and bound into
// the container with `box run -v DIR:PATH:ro`.

import fs from 'node:fs';
import path from 'node:path';
import type { ApiClient } from './client.ts';
import { clusterFile } from './paths.ts';
import type { Obj } from './store.ts';

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export class ConfigError extends Error {}

/** The pod's volumes' directory on its node. */
export const podDir = (node: string, uid: string) => clusterFile(path.join('volumes', node, uid));

/** Every ConfigMap a container refers to, fetched once: name -> object, or null when missing. */
async function fetchAll(api: ApiClient, pod: Obj, c: Obj): Promise<Map<string, Obj | null>> {
  const names = new Set<string>();
  for (const e of c.env ?? []) if (e.valueFrom?.configMapKeyRef?.name) names.add(e.valueFrom.configMapKeyRef.name);
  for (const e of c.envFrom ?? []) if (e.configMapRef?.name) names.add(e.configMapRef.name);
  const mounted = new Set((c.volumeMounts ?? []).map((m: Obj) => m.name));
  for (const v of pod.spec.volumes ?? []) if (v.configMap?.name && mounted.has(v.name)) names.add(v.configMap.name);
  const out = new Map<string, Obj | null>();
  for (const name of names) {
    const r = await api.request('GET', `/api/v1/namespaces/${pod.metadata.namespace}/configmaps/${name}`);
    if (r.code === 404) out.set(name, null);
    else if (r.code >= 300) throw new Error(`configmap "${name}": ${r.body.message ?? r.code}`);
    else out.set(name, r.body);
  }
  return out;
}

/** `-e K=V` for envFrom then env's configMapKeyRef (a later one wins, as env wins over envFrom). */
export function envArgs(c: Obj, maps: Map<string, Obj | null>): string[] {
  const args: string[] = [];
  for (const from of c.envFrom ?? []) {
    if (!from.configMapRef) continue;
    const cm = maps.get(from.configMapRef.name);
    if (!cm) { if (from.configMapRef.optional) continue; throw new ConfigError(`configmap "${from.configMapRef.name}" not found`); }
    for (const [k, v] of Object.entries(cm.data ?? {})) {
      const name = `${from.prefix ?? ''}${k}`;
      if (ENV_NAME.test(name)) args.push('-e', `${name}=${v}`); // a key that is no variable name is skipped, as the kubelet does
    }
  }
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.configMapKeyRef;
    if (!ref) continue;
    const cm = maps.get(ref.name);
    if (!cm) { if (ref.optional) continue; throw new ConfigError(`configmap "${ref.name}" not found`); }
    const v = cm.data?.[ref.key];
    if (v === undefined) { if (ref.optional) continue; throw new ConfigError(`couldn't find key ${ref.key} in ConfigMap ${cm.metadata.namespace}/${ref.name}`); }
    args.push('-e', `${e.name}=${v}`);
  }
  return args;
}

/** Write each mounted configMap volume's files; `-v DIR:PATH:ro` for each mount. */
export function volumeArgs(pod: Obj, c: Obj, maps: Map<string, Obj | null>, dir: string): string[] {
  const args: string[] = [];
  for (const m of c.volumeMounts ?? []) {
    const v = (pod.spec.volumes ?? []).find((x: Obj) => x.name === m.name);
    if (!v) throw new ConfigError(`volumeMounts "${m.name}": the pod has no volume of that name`);
    if (!v.configMap) throw new ConfigError(`volume "${m.name}": box's pods know configMap volumes only`);
    const cm = maps.get(v.configMap.name);
    if (!cm && !v.configMap.optional) throw new ConfigError(`configmap "${v.configMap.name}" not found`);
    const files: [string, string][] = v.configMap.items
      ? v.configMap.items.map((it: Obj) => {
        if (cm?.data?.[it.key] === undefined) throw new ConfigError(`configmap "${v.configMap.name}": no key ${it.key}`);
        return [it.path, cm.data[it.key]];
      })
      : Object.entries(cm?.data ?? {}) as [string, string][];
    // written in place, never replaced: another container of the pod may have it bound already
    const where = path.join(dir, m.name);
    fs.mkdirSync(where, { recursive: true, mode: 0o755 });
    const names = new Set(files.map(([f]) => f.split('/')[0]));
    for (const old of fs.readdirSync(where)) if (!names.has(old)) fs.rmSync(path.join(where, old), { recursive: true, force: true });
    for (const [file, text] of files) {
      const target = path.join(where, file);
      // a key is a file name; an item's path may have directories, never `..`
      if (!target.startsWith(`${where}/`) || file.split('/').includes('..')) throw new ConfigError(`configmap "${v.configMap.name}": path ${file} leaves the volume`);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, text, { mode: v.configMap.defaultMode ?? 0o644 });
    }
    args.push('-v', `${where}:${m.mountPath}:ro`);
  }
  return args;
}

/** Both, for one container: the extra `box run` arguments, or a ConfigError. */
export async function configArgs(api: ApiClient, pod: Obj, c: Obj, node: string): Promise<string[]> {
  const maps = await fetchAll(api, pod, c);
  return [...envArgs(c, maps), ...volumeArgs(pod, c, maps, podDir(node, pod.metadata.uid))];
}

/** The volumes of pods this node no longer runs. */
export function removePodDirs(node: string, keep: Set<string>): void {
  let uids: string[] = [];
  try { uids = fs.readdirSync(clusterFile(path.join('volumes', node))); } catch { return; }
  for (const uid of uids) if (!keep.has(uid)) fs.rmSync(podDir(node, uid), { recursive: true, force: true });
}
