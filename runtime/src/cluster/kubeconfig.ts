// The kubeconfig `box cluster up` writes so that kubectl finds the cluster: a cluster (the API
// server's address), a user (the bearer token) and a context `box` joining them, merged into
// an existing file as kind does (other clusters' entries stay), and taken out again on down.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';

export const CONTEXT = 'box';

export function kubeconfigPath(): string {
  return (process.env.KUBECONFIG ?? '').split(':').find(Boolean) ?? path.join(os.homedir(), '.kube', 'config');
}

type Named = { name: string; [k: string]: unknown };
const without = (list: Named[] | undefined) => (list ?? []).filter((x) => x.name !== CONTEXT);

function read(file: string): Record<string, any> {
  if (!fs.existsSync(file)) return { apiVersion: 'v1', kind: 'Config', preferences: {} };
  return (YAML.parse(fs.readFileSync(file, 'utf8')) as Record<string, any>) ?? {};
}

function write(file: string, config: Record<string, any>): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.box-tmp`;
  fs.writeFileSync(tmp, YAML.stringify(config), { mode: 0o600 }); // it holds a token
  fs.renameSync(tmp, file);
}

export function addContext(file: string, server: string, token: string, caPem: string): void {
  const c = read(file);
  c.clusters = [...without(c.clusters), { name: CONTEXT, cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }];
  c.users = [...without(c.users), { name: CONTEXT, user: { token } }];
  c.contexts = [...without(c.contexts), { name: CONTEXT, context: { cluster: CONTEXT, user: CONTEXT, namespace: 'default' } }];
  c['current-context'] = CONTEXT;
  write(file, c);
}

/** Take the context out; with `server`, only if it is still that cluster's (not a newer one's). */
export function removeContext(file: string, server?: string): void {
  if (!fs.existsSync(file)) return;
  const c = read(file);
  if (server && !(c.clusters ?? []).some((x: Named) => x.name === CONTEXT && (x.cluster as { server?: string })?.server === server)) return;
  c.clusters = without(c.clusters);
  c.users = without(c.users);
  c.contexts = without(c.contexts);
  if (c['current-context'] === CONTEXT) c['current-context'] = c.contexts[0]?.name ?? '';
  write(file, c);
}
