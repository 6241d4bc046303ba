// A Service's addresses, given once when the API server stores it (the service IP allocator
// and node port allocator of kube-apiserver): a ClusterIP from the cluster's service range, and
// for type NodePort a port from 30000-32767 on every node. Neither is an address anything
// holds: the ClusterIP exists only as the service proxy's NAT rules (service-proxy.ts).
//
// The service range is a /24 of 10.96.0.0/12 (Kubernetes' default range), picked at random
// among those no route on this machine covers: two clusters in two box roots on one machine
// then rarely meet, and never on a range that is already routed.

import fs from 'node:fs';
import { contains, formatSubnet, intToIp, ipToInt, overlaps, parseRoutes, type Subnet } from '../net/ipam.ts';
import type { Cause } from './status.ts';
import type { Obj } from './store.ts';

export const NODE_PORT_MIN = 30000;
export const NODE_PORT_MAX = 32767;

/** A /24 of 10.96.0.0/12 that no route of this machine (or lab sandbox) overlaps. */
export function pickServiceRange(procNetRoute = readOr('/proc/net/route'), random = Math.random): string {
  const routes = parseRoutes(procNetRoute).map((r) => r.subnet);
  const base = ipToInt('10.96.0.0')!;
  const start = Math.floor(random() * 4096);
  for (let i = 0; i < 4096; i++) {
    const s: Subnet = { base: base + ((start + i) % 4096) * 256, prefix: 24 };
    if (!routes.some((r) => overlaps(r, s))) return formatSubnet(s);
  }
  throw new Error('every /24 of 10.96.0.0/12 is routed on this machine: no range is left for Services');
}

/** Is a TCP port listened on here (by any process of this network namespace)? */
export function portListening(port: number): boolean {
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readOr(file).split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 3 && f[3] === '0A' && parseInt(f[1].split(':')[1], 16) === port) return true;
    }
  }
  return false;
}

/**
 * Fill in spec.clusterIP and each NodePort's nodePort, avoiding those `others` (the other
 * Services) have. Returns the causes when a given one cannot be had, as the API server's
 * allocators answer ("provided IP is already allocated"). `previous`: the stored Service, on an update.
 */
export function allocate(svc: Obj, others: Obj[], range: string, previous?: Obj, taken = portListening): Cause[] {
  const causes: Cause[] = [];
  const mine = (o: Obj) => o.metadata.namespace === svc.metadata.namespace && o.metadata.name === svc.metadata.name;
  const rest = others.filter((o) => !mine(o));
  const ips = new Set(rest.map((o) => o.spec?.clusterIP));
  const [net, prefix] = range.split('/');
  const subnet: Subnet = { base: ipToInt(net)!, prefix: Number(prefix) };
  const spec = svc.spec;
  if (spec.clusterIP === 'None') return causes; // a headless Service: names only, no proxy
  if (spec.clusterIP) {
    const ip = ipToInt(spec.clusterIP);
    if (ip === null || !contains(subnet, ip)) causes.push(bad('spec.clusterIP', spec.clusterIP, `provided IP is not in the valid range. The range of valid IPs is ${range}`));
    else if (ips.has(spec.clusterIP)) causes.push(bad('spec.clusterIP', spec.clusterIP, 'provided IP is already allocated'));
  } else {
    // .1 is the `kubernetes` Service's in a real cluster; start after it, as its allocator does
    for (let ip = subnet.base + 2; ip < subnet.base + 255; ip++) if (!ips.has(intToIp(ip))) { spec.clusterIP = intToIp(ip); break; }
    if (!spec.clusterIP) causes.push(bad('spec.clusterIP', '', `no IP is left in the service range ${range}; delete a Service`));
  }
  if (spec.clusterIP) spec.clusterIPs = [spec.clusterIP];
  // ports this Service had before (an update): the proxy holds them, so they show as listened on
  const had = new Set((previous?.spec?.ports ?? []).map((p: Obj) => p.nodePort));
  const ports = new Set(rest.flatMap((o) => (o.spec?.ports ?? []).map((p: Obj) => p.nodePort)).filter(Boolean));
  (spec.ports ?? []).forEach((p: Obj, i: number) => {
    if (spec.type !== 'NodePort') { delete p.nodePort; return; }
    if (p.nodePort !== undefined) {
      if (!(Number.isInteger(p.nodePort) && p.nodePort >= NODE_PORT_MIN && p.nodePort <= NODE_PORT_MAX)) causes.push(bad(`spec.ports[${i}].nodePort`, p.nodePort, `provided port is not in the valid range. The range of valid ports is ${NODE_PORT_MIN}-${NODE_PORT_MAX}`));
      else if (ports.has(p.nodePort) || (taken(p.nodePort) && !had.has(p.nodePort))) causes.push(bad(`spec.ports[${i}].nodePort`, p.nodePort, 'provided port is already allocated'));
      ports.add(p.nodePort);
      return;
    }
    // a random free port, as the allocator picks: two clusters on one machine rarely collide,
    // and one listened on here (by anything) is skipped
    const span = NODE_PORT_MAX - NODE_PORT_MIN + 1;
    const start = Math.floor(Math.random() * span);
    for (let k = 0; k < span; k++) {
      const port = NODE_PORT_MIN + ((start + k) % span);
      if (!ports.has(port) && !taken(port)) { p.nodePort = port; ports.add(port); return; }
    }
    causes.push(bad(`spec.ports[${i}].nodePort`, '', 'no node port is left; delete a NodePort Service'));
  });
  return causes;
}

const bad = (field: string, value: unknown, why: string): Cause =>
  ({ field, reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(value)}: ${why}` });

function readOr(file: string): string {
  try { return fs.readFileSync(file, 'utf8'); } catch { return ''; }
}
