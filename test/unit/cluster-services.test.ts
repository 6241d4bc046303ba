// Services, Endpoints, the service proxy's rules, Service names and ConfigMaps without root or
// a cluster: what each pure part decides. The same behaviour runs for real, with kubectl and
// the kernel, in test/integration/cluster-services.test.ts.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, envArgs, volumeArgs } from '../../runtime/src/cluster/configmaps.ts';
import { desiredEndpoints, endpointSliceOf, MANAGED, reconcileEndpoints } from '../../runtime/src/cluster/endpoints-controller.ts';
import { allocate, pickServiceRange } from '../../runtime/src/cluster/service-alloc.ts';
import { podSearch, serviceNames } from '../../runtime/src/cluster/service-dns.ts';
import { proxyRules } from '../../runtime/src/cluster/service-proxy.ts';
import { Store, type Obj } from '../../runtime/src/cluster/store.ts';
import { validate } from '../../runtime/src/cluster/validate.ts';
import { resolvConf } from '../../runtime/src/net/names.ts';

const svc = (name: string, spec: Obj): Obj => ({ metadata: { name, namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }], ...spec } });
const pod = (name: string, ip: string | undefined, ready: boolean, labels = { app: 'web' }): Obj => ({
  metadata: { name, namespace: 'default', uid: `u-${name}`, labels },
  spec: { nodeName: 'node-1', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }] },
  status: { podIP: ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

describe('Service allocation', () => {
  it('gives the lowest free ClusterIP after .1 of the range, and a NodePort only to type NodePort', () => {
    const a = svc('a', {});
    expect(allocate(a, [], '10.96.5.0/24', undefined, () => false)).toEqual([]);
    expect(a.spec.clusterIP).toBe('10.96.5.2');
    const b = svc('b', { type: 'NodePort' });
    expect(allocate(b, [a], '10.96.5.0/24', undefined, () => false)).toEqual([]);
    expect(b.spec.clusterIP).toBe('10.96.5.3');
    expect(b.spec.ports[0].nodePort).toBeGreaterThanOrEqual(30000);
    expect(b.spec.ports[0].nodePort).toBeLessThanOrEqual(32767);
    expect(a.spec.ports[0].nodePort).toBeUndefined();
  });
  it('refuses a taken or out-of-range ClusterIP and NodePort with the field path', () => {
    const a = svc('a', { clusterIP: '10.96.5.2', type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] });
    const b = svc('b', { clusterIP: '10.96.5.2', type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] });
    const causes = allocate(b, [a], '10.96.5.0/24', undefined, () => false);
    expect(causes.map((c) => `${c.field}: ${c.message}`)).toEqual([
      'spec.clusterIP: Invalid value: "10.96.5.2": provided IP is already allocated',
      'spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated',
    ]);
    const c = svc('c', { clusterIP: '10.1.1.1', type: 'NodePort', ports: [{ port: 80, nodePort: 80 }] });
    expect(allocate(c, [], '10.96.5.0/24', undefined, () => false).map((x) => x.field)).toEqual(['spec.clusterIP', 'spec.ports[0].nodePort']);
  });
  it('skips a node port some program listens on, unless this Service held it before (an update)', () => {
    const s = svc('a', { type: 'NodePort', ports: [{ port: 80, nodePort: 31000 }] });
    expect(allocate(structuredClone(s), [], '10.96.5.0/24', undefined, (p) => p === 31000)[0].message).toContain('already allocated');
    expect(allocate(structuredClone(s), [], '10.96.5.0/24', s, (p) => p === 31000)).toEqual([]);
  });
  it('picks a /24 of 10.96.0.0/12 that no route covers', () => {
    // 10.96.0.0/12 routed whole but for nothing: a route for 10.96.0.0/16 moves it out of that /16
    const routes = 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nbr0\t0000600A\t00000000\t0001\t0\t0\t0\t0000FFFF\n';
    const r = pickServiceRange(routes, () => 0);
    expect(r).toBe('10.97.0.0/24');
  });
});

describe('Endpoints controller', () => {
  it('lists Ready pods in addresses and the others in notReadyAddresses; pods without an IP or another label not at all', () => {
    const e = desiredEndpoints(svc('web', {}), [pod('b', '172.18.0.3', true), pod('a', '172.18.0.2', false), pod('c', undefined, true), pod('d', '172.18.0.9', true, { app: 'db' })])!;
    expect(e.subsets).toEqual([{
      addresses: [{ ip: '172.18.0.3', nodeName: 'node-1', targetRef: { kind: 'Pod', namespace: 'default', name: 'b', uid: 'u-b' } }],
      notReadyAddresses: [{ ip: '172.18.0.2', nodeName: 'node-1', targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'u-a' } }],
      ports: [{ port: 80, protocol: 'TCP' }],
    }]);
  });
  it('resolves a named targetPort from the pod\'s container ports', () => {
    const e = desiredEndpoints(svc('web', { ports: [{ name: 'web', port: 80, targetPort: 'http' }] }), [pod('a', '172.18.0.2', true)])!;
    expect(e.subsets[0].ports).toEqual([{ name: 'web', port: 8080, protocol: 'TCP' }]);
  });
  it('mirrors Endpoints as an EndpointSlice: one endpoint per pod with its ready condition, unnamed ports named ""', () => {
    const e = desiredEndpoints(svc('web', {}), [pod('b', '172.18.0.3', true), pod('a', '172.18.0.2', false)])!;
    const slice = endpointSliceOf(e);
    expect(slice.metadata.labels['kubernetes.io/service-name']).toBe('web');
    expect(slice.endpoints.map((x: Obj) => [x.addresses[0], x.conditions.ready])).toEqual([['172.18.0.3', true], ['172.18.0.2', false]]);
    expect(slice.ports).toEqual([{ name: '', port: 80, protocol: 'TCP' }]);
  });
  it('makes, updates, and removes (only its own) Endpoints; a Service without selector is left alone', () => {
    const services = [svc('web', {}), svc('manual', { selector: undefined })];
    const first = reconcileEndpoints(services, [pod('a', '172.18.0.2', true)], []);
    expect(first.create.map((e) => e.metadata.name)).toEqual(['web']);
    const made = first.create[0];
    expect(reconcileEndpoints(services, [pod('a', '172.18.0.2', true)], [made])).toEqual({ create: [], update: [], remove: [] });
    expect(reconcileEndpoints(services, [pod('a', '172.18.0.2', false)], [made]).update).toHaveLength(1);
    const theirs = { metadata: { name: 'manual' }, subsets: [] };
    expect(reconcileEndpoints([], [], [made, theirs]).remove).toEqual(['web']);
    expect(made.metadata.annotations[MANAGED]).toBe('true');
  });
});

describe('service proxy rules', () => {
  const web = svc('web', { clusterIP: '10.96.5.2', type: 'NodePort', ports: [{ port: 80, protocol: 'TCP', nodePort: 30080 }] });
  const ep = { metadata: { name: 'web', namespace: 'default' }, subsets: [{ addresses: [{ ip: '172.18.0.2' }, { ip: '172.18.0.3' }], notReadyAddresses: [{ ip: '172.18.0.4' }], ports: [{ port: 8080, protocol: 'TCP' }] }] };
  it('DNATs the ClusterIP and the NodePort at random over the ready endpoints only', () => {
    const text = proxyRules('box_svc_x', [web], [ep], 'ip saddr 172.18.0.0/16 oifname "box-abc" ct status dnat');
    expect(text).toContain('ip daddr 10.96.5.2 tcp dport 80 jump svc_0');
    expect(text).toContain('fib daddr type local tcp dport 30080 jump svc_0');
    expect(text).toContain('meta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 172.18.0.2 . 8080, 1 : 172.18.0.3 . 8080 }');
    expect(text).not.toContain('172.18.0.4');
    expect(text).toContain('ip saddr 172.18.0.0/16 oifname "box-abc" ct status dnat masquerade');
    expect(text.split('\n').slice(0, 3)).toEqual(['table ip box_svc_x', 'delete table ip box_svc_x', 'table ip box_svc_x {']); // one transaction, whole
  });
  it('rejects a Service with no ready endpoint', () => {
    const text = proxyRules('t', [web], [{ ...ep, subsets: [{ notReadyAddresses: [{ ip: '172.18.0.4' }], ports: [{ port: 8080 }] }] }]);
    expect(text).not.toContain('dnat');
    expect(text).toContain('ip daddr 10.96.5.2 tcp dport 80 reject');
    expect(text).toContain('fib daddr type local tcp dport 30080 reject');
  });
});

describe('Service names', () => {
  it('names each Service with a ClusterIP NAME.NS.svc.cluster.local and NAME.NS.svc; headless ones are not proxied', () => {
    expect(serviceNames([svc('web', { clusterIP: '10.96.5.2' }), svc('h', { clusterIP: 'None' })])).toEqual([{ ip: '10.96.5.2', names: ['web.default.svc.cluster.local', 'web.default.svc'] }]);
    expect(podSearch('shop')).toEqual(['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local']);
  });
  it('writes the search domains and options into a pod\'s resolv.conf', () => {
    expect(resolvConf('172.20.0.1', { dnsSearch: podSearch('default'), dnsOptions: ['ndots:1'] }))
      .toContain('nameserver 172.20.0.1\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:1\n');
    expect(resolvConf('172.20.0.1')).toContain('options ndots:0\n');
  });
});

describe('ConfigMaps in pods', () => {
  const cm = { metadata: { name: 'cfg', namespace: 'default' }, data: { GREETING: 'hi', 'app.conf': 'x=1\n', 'not a name': 'skipped' } };
  const maps = new Map<string, Obj | null>([['cfg', cm], ['gone', null]]);
  it('env: envFrom with a prefix, then configMapKeyRef (which wins)', () => {
    const c = { envFrom: [{ prefix: 'C_', configMapRef: { name: 'cfg' } }], env: [{ name: 'G', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'GREETING' } } }] };
    expect(envArgs(c, maps)).toEqual(['-e', 'C_GREETING=hi', '-e', 'C_app.conf=x=1\n', '-e', 'G=hi']);
  });
  it('a missing ConfigMap or key is an error unless optional', () => {
    expect(() => envArgs({ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'gone', key: 'k' } } }] }, maps)).toThrow(new ConfigError('configmap "gone" not found'));
    expect(envArgs({ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'gone', key: 'k', optional: true } } }] }, maps)).toEqual([]);
    expect(() => envArgs({ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'nope' } } }] }, maps)).toThrow('couldn\'t find key nope in ConfigMap default/cfg');
  });
  it('a volume: one file per key (or the items), bound read-only; no path leaves the volume', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-cm-'));
    try {
      const pod = { spec: { volumes: [{ name: 'v', configMap: { name: 'cfg' } }, { name: 'w', configMap: { name: 'cfg', items: [{ key: 'app.conf', path: 'conf/app.conf' }] } }] } };
      expect(volumeArgs(pod, { volumeMounts: [{ name: 'v', mountPath: '/etc/app' }, { name: 'w', mountPath: '/etc/w' }] }, maps, dir))
        .toEqual(['-v', `${dir}/v:/etc/app:ro`, '-v', `${dir}/w:/etc/w:ro`]);
      expect(fs.readdirSync(path.join(dir, 'v')).sort()).toEqual(['GREETING', 'app.conf', 'not a name']);
      expect(fs.readFileSync(path.join(dir, 'w/conf/app.conf'), 'utf8')).toBe('x=1\n');
      const evil = { spec: { volumes: [{ name: 'e', configMap: { name: 'cfg', items: [{ key: 'GREETING', path: '../../x' }] } }] } };
      expect(() => volumeArgs(evil, { volumeMounts: [{ name: 'e', mountPath: '/e' }] }, maps, dir)).toThrow('leaves the volume');
      expect(fs.existsSync(path.join(dir, '../x'))).toBe(false);
    } finally { fs.rmSync(dir, { recursive: true, force: true }); }
  });
  it('validation: keys and string values, with the field path', () => {
    const causes = validate('ConfigMap', { metadata: { name: 'c' }, data: { ok: 'yes', replicas: 3, 'bad/key': 'x' } });
    expect(causes.map((c) => c.field)).toEqual(['data[replicas]', 'data[bad/key]']);
  });
});

describe('store history for watches', () => {
  it('replays what changed after a resourceVersion, and says so when that is too old', () => {
    const s = new Store();
    s.put('pods', { metadata: { name: 'a', namespace: 'default' } });
    const rv = Number(s.resourceVersion);
    s.put('pods', { metadata: { name: 'b', namespace: 'default' } });
    s.remove('pods', 'default', 'a');
    expect(s.since(rv)!.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED b', 'DELETED a']);
    expect(s.since(Number(s.resourceVersion))).toEqual([]);
    for (let i = 0; i < 2100; i++) s.put('pods', { metadata: { name: 'c', namespace: 'default' } });
    expect(s.since(rv)).toBeUndefined();
  });
});
