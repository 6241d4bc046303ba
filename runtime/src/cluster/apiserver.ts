// The API server (kube-apiserver): the only door to the store. Every client, kubectl and the
// cluster's own parts alike, speaks the same REST shape to it:
//   /api/v1/namespaces/NS/pods/NAME            a core kind     /apis/apps/v1/...  a grouped kind
//   GET (list or get; ?watch=true streams events)  POST create  PUT update  PATCH  DELETE
// It checks the bearer token, validates and defaults what it stores, stamps resourceVersions
// (store.ts) and answers errors as Status objects (status.ts).

import http from 'node:http';
import https from 'node:https';
import { timingSafeEqual } from 'node:crypto';
import { coreVersions, groupList, openapiGroupVersion, openapiRoot, resourceList, version } from './discovery.ts';
import { jsonMergePatch, jsonPatch, strategicMergePatch } from './patch.ts';
import { apiVersionOf, byPlural, knownKinds, RESOURCES, type Resource } from './resources.ts';
import { fieldSelector, labelSelector } from './selectors.ts';
import { alreadyExists, ApiError, badRequest, conflict, invalid, notFound } from './status.ts';
import type { Obj, Store } from './store.ts';
import { toTable } from './table.ts';
import { allocate } from './service-alloc.ts';
import { defaults, validate } from './validate.ts';

export interface Target { res: Resource; ns: string; name?: string; sub?: string }

/** /api/v1/namespaces/default/pods/web/log -> pods, default, web, log. */
export function parsePath(p: string): Target | undefined {
  const parts = p.split('/').filter(Boolean);
  let group = '';
  if (parts[0] === 'api') parts.shift();
  else if (parts[0] === 'apis') { parts.shift(); group = parts.shift() ?? ''; } else return undefined;
  const ver = parts.shift() ?? '';
  let ns = '';
  if ((parts[0] as string) === 'namespaces' && parts.length >= 3) { ns = parts[1]; parts.splice(0, 2); }
  const res = byPlural(group, ver, parts[0] ?? '');
  if (!res || parts.length > 3) return undefined;
  return { res, ns: res.namespaced ? ns : '', name: parts[1], sub: parts[2] };
}

const kindOf = (plural: string) => RESOURCES.find((r) => r.plural === plural)!.kind;

export class ApiServer {
  readonly server: https.Server;
  /** Hooks the cluster's parts add: what happens on a pod's log request, on deletion. */
  logs?: (pod: Obj, query: URLSearchParams, res: http.ServerResponse) => void;

  readonly store: Store;
  private token: string;
  /** The range ClusterIPs are given from (service-alloc.ts); set by the control plane. */
  serviceRange = '10.96.0.0/24';

  constructor(store: Store, token: string, tls: { cert: string; key: string }) {
    this.store = store;
    this.token = token;
    this.server = https.createServer(tls, (req, res) => {
      this.handle(req, res).catch((err) => {
        const e = err instanceof ApiError ? err : new ApiError(500, 'InternalError', `an error on the server: ${(err as Error).message}`);
        if (!res.headersSent) send(res, e.code, e.toStatus());
        else res.end();
      });
    });
    for (const ns of ['default', 'kube-system']) if (!store.get('namespaces', '', ns)) this.create(RESOURCES[0], '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  }

  private authorized(req: http.IncomingMessage): boolean {
    const given = Buffer.from(req.headers.authorization ?? '');
    const want = Buffer.from(`Bearer ${this.token}`);
    return given.length === want.length && timingSafeEqual(given, want);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!this.authorized(req)) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname.replace(/\/$/, '');
    const q = url.searchParams;
    const fixed: Record<string, () => unknown> = {
      '/version': version, '/api': coreVersions, '/apis': groupList,
      '/api/v1': () => resourceList('', 'v1'), '/apis/apps/v1': () => resourceList('apps', 'v1'),
      '/apis/discovery.k8s.io/v1': () => resourceList('discovery.k8s.io', 'v1'),
      '/openapi/v3': openapiRoot,
    };
    const doc = p.startsWith('/openapi/v3/') ? openapiGroupVersion(p.slice('/openapi/v3/'.length)) : undefined;
    if (doc) return send(res, 200, doc);
    if (fixed[p] && req.method === 'GET') return send(res, 200, fixed[p]());
    const t = parsePath(p);
    if (!t) throw new ApiError(404, 'NotFound', `the server could not find the requested resource (box knows the kinds ${knownKinds()})`);
    const body = ['POST', 'PUT', 'PATCH'].includes(req.method ?? '') ? await readBody(req) : undefined;
    // kubectl sends built-in kinds as protobuf first; a 415 makes it send JSON from then on
    const type = req.headers['content-type'] ?? 'application/json';
    if (body !== undefined && !/json/.test(type)) throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format (${type}) - box accepts JSON only`);
    const dryRun = q.get('dryRun') === 'All';
    const table = (req.headers.accept ?? '').includes('as=Table');
    if (t.sub === 'log' && req.method === 'GET') {
      const pod = this.mustGet(t);
      if (!this.logs) throw badRequest(`pod "${pod.metadata.name}" has no logs yet: it has not been started on a node`);
      return this.logs(pod, q, res);
    }
    if (t.sub === 'scale') return this.scale(t, req.method!, body, req.headers['content-type'] ?? '', res);
    switch (req.method) {
      case 'GET':
        if (q.get('watch') === 'true' || q.get('watch') === '1') return this.watch(t, q, table, req, res);
        if (t.name) { const o = this.mustGet(t); return send(res, 200, table ? toTable(t.res.kind, [o], this.store.resourceVersion) : o); }
        return send(res, 200, this.listOf(t, q, table));
      case 'POST': return send(res, 201, this.create(t.res, t.ns, parse(body!), dryRun));
      case 'PUT': return send(res, 200, this.update(t, parse(body!), dryRun));
      case 'PATCH': return send(res, 200, this.patch(t, body!, req.headers['content-type'] ?? '', dryRun));
      case 'DELETE': {
        const policy = body ? undefined : q.get('propagationPolicy');
        return send(res, 200, this.remove(t, policy ?? 'Background', dryRun));
      }
      default: throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    }
  }

  private mustGet(t: Target): Obj {
    const o = t.name ? this.store.get(t.res.plural, t.ns, t.name) : undefined;
    if (!o) throw notFound(t.res.plural, t.name ?? '');
    return o;
  }

  private listOf(t: Target, q: URLSearchParams, table: boolean): Obj {
    const ls = labelSelector(q.get('labelSelector'));
    const fs = fieldSelector(q.get('fieldSelector'));
    const items = this.store.list(t.res.plural, t.ns).filter((o) => ls(o) && fs(o));
    const rv = this.store.resourceVersion;
    if (table) return toTable(t.res.kind, items, rv);
    return { kind: `${t.res.kind}List`, apiVersion: apiVersionOf(t.res), metadata: { resourceVersion: rv }, items };
  }

  create(res: Resource, ns: string, o: Obj, dryRun = false): Obj {
    if (o.kind && o.kind !== res.kind) throw badRequest(`the body is a ${o.kind}, but the path is for ${res.plural}`);
    o.apiVersion = apiVersionOf(res);
    o.kind = res.kind;
    o.metadata ??= {};
    if (!o.metadata.name && o.metadata.generateName) o.metadata.name = `${o.metadata.generateName}${Math.random().toString(36).slice(2, 7)}`;
    if (res.namespaced) {
      o.metadata.namespace = ns || o.metadata.namespace || 'default';
      if (!this.store.get('namespaces', '', o.metadata.namespace)) throw notFound('namespaces', o.metadata.namespace);
    } else delete o.metadata.namespace;
    const causes = validate(res.kind, o);
    if (causes.length) throw invalid(res.kind, o.metadata.name ?? '', causes);
    if (this.store.get(res.plural, o.metadata.namespace ?? '', o.metadata.name)) throw alreadyExists(res.plural, o.metadata.name);
    delete o.metadata.resourceVersion;
    defaults(res.kind, o);
    this.allocateService(res.kind, o);
    return dryRun ? o : this.store.put(res.plural, o);
  }

  update(t: Target, o: Obj, dryRun = false): Obj {
    const old = this.mustGet(t);
    if (o.metadata?.resourceVersion && o.metadata.resourceVersion !== old.metadata.resourceVersion) throw conflict(t.res.plural, old.metadata.name);
    o.apiVersion = apiVersionOf(t.res);
    o.kind = t.res.kind;
    o.metadata = { ...o.metadata, name: old.metadata.name, namespace: old.metadata.namespace, uid: old.metadata.uid, creationTimestamp: old.metadata.creationTimestamp };
    if (!t.res.namespaced) delete o.metadata.namespace;
    // status is written through /status by the cluster's parts; a spec change bumps generation
    if (t.sub !== 'status') o.status = old.status;
    o.metadata.generation = JSON.stringify(o.spec) === JSON.stringify(old.spec) ? old.metadata.generation : (old.metadata.generation ?? 1) + 1;
    const causes = validate(t.res.kind, o);
    if (causes.length) throw invalid(t.res.kind, o.metadata.name, causes);
    defaults(t.res.kind, o);
    this.allocateService(t.res.kind, o, old);
    return dryRun ? o : this.store.put(t.res.plural, o);
  }

  /** A Service's ClusterIP and NodePorts: given once, kept on updates (the field is immutable). */
  private allocateService(kind: string, o: Obj, old?: Obj): void {
    if (kind !== 'Service') return;
    if (old?.spec?.clusterIP) {
      if (o.spec.clusterIP && o.spec.clusterIP !== old.spec.clusterIP) throw invalid('Service', o.metadata.name, [{ field: 'spec.clusterIP', reason: 'FieldValueInvalid', message: `Invalid value: "${o.spec.clusterIP}": field is immutable` }]);
      o.spec.clusterIP = old.spec.clusterIP;
      for (const p of o.spec.ports) if (o.spec.type === 'NodePort' && p.nodePort === undefined) p.nodePort = old.spec.ports?.find((q: Obj) => q.port === p.port)?.nodePort;
    }
    const causes = allocate(o, this.store.list('services', ''), this.serviceRange, old);
    if (causes.length) throw invalid('Service', o.metadata.name, causes);
  }

  private patch(t: Target, body: string, contentType: string, dryRun: boolean): Obj {
    const old = this.mustGet(t);
    let merged: Obj;
    if (contentType.startsWith('application/strategic-merge-patch+json')) merged = strategicMergePatch(old, parse(body)) as Obj;
    else if (contentType.startsWith('application/merge-patch+json')) merged = jsonMergePatch(old, parse(body)) as Obj;
    else if (contentType.startsWith('application/json-patch+json')) merged = jsonPatch(old, parse(body, true) as any);
    else throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (box has no server-side apply)`);
    merged.metadata.resourceVersion = old.metadata.resourceVersion;
    return this.update(t, merged, dryRun);
  }

  private scale(t: Target, method: string, body: string | undefined, contentType: string, res: http.ServerResponse): void {
    const o = this.mustGet(t);
    const view = (x: Obj) => ({
      kind: 'Scale', apiVersion: 'autoscaling/v1',
      metadata: { name: x.metadata.name, namespace: x.metadata.namespace, uid: x.metadata.uid, resourceVersion: x.metadata.resourceVersion, creationTimestamp: x.metadata.creationTimestamp },
      spec: { replicas: x.spec.replicas }, status: { replicas: x.status?.replicas ?? 0, selector: Object.entries(x.spec.selector.matchLabels).map(([k, v]) => `${k}=${v}`).join(',') },
    });
    if (method === 'GET') return send(res, 200, view(o));
    const p = parse(body ?? '{}');
    const next = method === 'PUT' ? p : (contentType.includes('strategic') ? strategicMergePatch : jsonMergePatch)(view(o), p) as Obj;
    const replicas = next.spec?.replicas;
    if (!(Number.isInteger(replicas) && replicas >= 0)) throw invalid('Scale', o.metadata.name, [{ field: 'spec.replicas', reason: 'FieldValueInvalid', message: `Invalid value: ${replicas}: must be greater than or equal to 0` }]);
    o.spec.replicas = replicas;
    send(res, 200, view(this.update({ ...t, sub: undefined }, o)));
  }

  /** Delete, and with it what the object owns (ownerReferences), unless the policy is Orphan. */
  remove(t: Target, policy: string, dryRun = false): Obj {
    const o = this.mustGet(t);
    if (dryRun) return o;
    const gone = this.store.remove(t.res.plural, t.ns, o.metadata.name)!;
    if (policy !== 'Orphan') {
      for (const r of RESOURCES) {
        for (const child of this.store.list(r.plural, gone.metadata.namespace ?? '')) {
          if (child.metadata.ownerReferences?.some((ref: Obj) => ref.uid === gone.metadata.uid)) this.remove({ res: r, ns: child.metadata.namespace ?? '', name: child.metadata.name }, policy);
        }
      }
    }
    return gone;
  }

  /** A watch: one JSON event per line, {"type":"ADDED","object":{...}}, until the client goes. */
  private watch(t: Target, q: URLSearchParams, table: boolean, req: http.IncomingMessage, res: http.ServerResponse): void {
    const ls = labelSelector(q.get('labelSelector'));
    const fs = fieldSelector(q.get('fieldSelector'));
    const selected = (o: Obj) => ls(o) && fs(o) && (!t.name || o.metadata.name === t.name)
      && (!t.ns || o.metadata.namespace === t.ns);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    // the headers now, not with the first event: a client waits for them before it goes on,
    // and `kubectl rollout status` of a finished rollout would wait for a change that never comes
    res.flushHeaders();
    const write = (type: string, o: Obj) => res.write(`${JSON.stringify({ type, object: table ? toTable(t.res.kind, [o], o.metadata.resourceVersion) : o })}\n`);
    const rv = q.get('resourceVersion');
    // resourceVersion "0" or none: start with the objects there are now, as ADDED events;
    // a resourceVersion (a client that listed at it): first what changed since, so nothing
    // that happened between its list and its watch is lost
    if (!rv || rv === '0') {
      for (const o of this.store.list(t.res.plural, t.ns)) if (selected(o)) write('ADDED', o);
    } else {
      const missed = this.store.since(Number(rv));
      if (!missed) {
        res.end(`${JSON.stringify({ type: 'ERROR', object: new ApiError(410, 'Expired', `too old resource version: ${rv} (${this.store.resourceVersion})`).toStatus() })}\n`);
        return;
      }
      for (const e of missed) if (e.plural === t.res.plural && selected(e.object)) write(e.type, e.object);
    }
    const stop = this.store.watch((e) => { if (e.plural === t.res.plural && selected(e.object)) write(e.type, e.object); });
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    const done = () => { stop(); if (timer) clearTimeout(timer); };
    req.on('close', done);
    res.on('close', done);
  }
}

function send(res: http.ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function parse(body: string, list = false): Obj {
  try {
    const o = JSON.parse(body);
    if (typeof o !== 'object' || o === null || Array.isArray(o) !== list) throw new Error(list ? 'not a list of operations' : 'not an object');
    return o;
  } catch (err) {
    throw badRequest(`the body of the request is not a JSON object: ${(err as Error).message}`);
  }
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > 3 * 1024 * 1024) throw new ApiError(413, 'RequestEntityTooLarge', 'the request is larger than 3 MiB');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}
