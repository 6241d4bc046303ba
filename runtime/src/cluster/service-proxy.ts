// The service proxy (kube-proxy in its nftables mode): a Service's ClusterIP is no address any
// interface has; it is a rule. A connection to ClusterIP:port is DNATed by the kernel, on its
// first packet, to one Ready pod picked at random (`numgen random mod N`), and conntrack keeps
// that choice for the rest of the connection, replies included. A NodePort is the same rule
// on a port of this machine's own addresses (`fib daddr type local`), 127.0.0.1 included.
//
// One table per cluster, `box_svc_<hash of the box root>`, written whole in one `nft -f`
// transaction after every change of a Service or an Endpoints (create, delete, define: no
// packet ever sees half a table), deleted whole by `cluster down`.
//
//   prerouting (nat): packets from pods (they reach the ClusterIP through their default route,
//     the bridge) and from elsewhere;  output (nat): packets this machine sends itself.
//   services: ClusterIP . port, and local address . NodePort -> the Service's chain.
//   svc_N: DNAT to one of the Service's ready endpoints.
//   filter chains: a Service without a ready endpoint rejects (a refused connection at once,
//     as kube-proxy does), rather than letting the SYN go unanswered.
//   postrouting (nat): a pod reaching a Service that picks a pod on the same bridge (itself
//     included) is masqueraded to the bridge's address, or the reply would go straight from
//     pod to pod over the bridge, skip the host's conntrack, and arrive from an address the
//     client never asked (it drops it). kube-proxy's "hairpin" masquerade is the same rule.
//     (The postrouting hook knows no input interface: the rule says "from the pods' subnet,
//     out to their bridge, DNATed".)
// A pod reaching a Service that picks that very pod: with br_netfilter (bridge-nf-call-iptables
// = 1, as here and on every Kubernetes node) the DNAT happens on the bridge's own path, and the
// frame is bridged back out of the port it came in by, which a bridge refuses unless the port
// is in hairpin mode: box sets it on every container's port when it plugs the veth in
// (net/veth.ts), as the kubelet's hairpin-veth mode does per pod.
// The host reaches the service range through a route to the cluster network's bridge; pods
// need none (their default route is the bridge's address).

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { holdPorts, type HeldPort } from '../net/ports.ts';
import { findNetwork } from '../net/store.ts';
import { runTool } from '../net/tools.ts';
import { clusterDir } from './paths.ts';
import type { Obj, Store } from './store.ts';

/** The cluster's table: named from its box root, so `cluster down` finds it after a SIGKILL. */
export const proxyTable = (root = clusterDir()) => `box_svc_${createHash('sha256').update(root).digest('hex').slice(0, 12)}`;

interface Backend { ip: string; port: number }

/** The ready endpoints of one Service port: the Endpoints' port of the same name. */
export function backends(svcPort: Obj, ep: Obj | undefined): Backend[] {
  const out: Backend[] = [];
  for (const s of ep?.subsets ?? []) {
    const p = (s.ports ?? []).find((x: Obj) => (x.name ?? '') === (svcPort.name ?? '') && (x.protocol ?? 'TCP') === (svcPort.protocol ?? 'TCP'));
    if (!p) continue;
    for (const a of s.addresses ?? []) out.push({ ip: a.ip, port: p.port }); // never notReadyAddresses
  }
  return out;
}

/** The whole table for these Services and their Endpoints (pure text, unit-tested). */
export function proxyRules(table: string, services: Obj[], endpoints: Obj[], masquerade?: string): string {
  const rules: string[] = [];
  const chains: string[] = [];
  const rejects: string[] = [];
  const localRejects: string[] = [];
  let n = 0;
  for (const svc of services) {
    const ip = svc.spec?.clusterIP;
    if (!ip || ip === 'None') continue;
    const ep = endpoints.find((e) => e.metadata.namespace === svc.metadata.namespace && e.metadata.name === svc.metadata.name);
    for (const port of svc.spec.ports ?? []) {
      const proto = String(port.protocol ?? 'TCP').toLowerCase();
      const what = `${svc.metadata.namespace}/${svc.metadata.name}:${port.name ?? port.port}`;
      const to = backends(port, ep);
      if (to.length === 0) {
        rejects.push(`    ip daddr ${ip} ${proto} dport ${port.port} reject comment "${what} has no ready endpoint"`);
        if (port.nodePort) localRejects.push(`    fib daddr type local ${proto} dport ${port.nodePort} reject comment "${what} has no ready endpoint"`);
        continue;
      }
      const chain = `svc_${n++}`;
      rules.push(`    ip daddr ${ip} ${proto} dport ${port.port} jump ${chain} comment "${what}"`);
      if (port.nodePort) rules.push(`    fib daddr type local ${proto} dport ${port.nodePort} jump ${chain} comment "${what} (NodePort)"`);
      const map = to.map((b, i) => `${i} : ${b.ip} . ${b.port}`).join(', ');
      chains.push(`  chain ${chain} {`, `    meta l4proto ${proto} dnat ip to numgen random mod ${to.length} map { ${map} }`, '  }');
    }
  }
  const lines = [
    `table ip ${table}`,
    `delete table ip ${table}`,
    `table ip ${table} {`,
    '  chain prerouting {', '    type nat hook prerouting priority dstnat; policy accept;', '    jump services', '  }',
    '  chain output {', '    type nat hook output priority -100; policy accept;', '    jump services', '  }',
    '  chain services {', ...rules, '  }',
    ...(masquerade ? ['  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;', `    ${masquerade} masquerade`, '  }'] : []),
    ...chains,
    '  chain reject_forward {', '    type filter hook forward priority filter; policy accept;', ...rejects, '  }',
    '  chain reject_output {', '    type filter hook output priority filter; policy accept;', ...rejects, '  }',
    '  chain reject_input {', '    type filter hook input priority filter; policy accept;', ...localRejects, '  }',
    '}',
  ];
  return lines.join('\n') + '\n';
}

export function deleteProxyTable(table = proxyTable()): void {
  try { runTool(null, 'nft', ['delete', 'table', 'ip', table]); } catch { /* gone already, or no nft: then it was never made */ }
}

/**
 * The proxy of this machine: rewrites the table when Services or Endpoints change, routes the
 * service range to the cluster network's bridge, and holds each NodePort (a listening socket
 * nobody accepts on: the DNAT takes every packet first) so no other program can take it.
 */
export class ServiceProxy {
  private last = '';
  private route = '';
  private held = new Map<number, HeldPort>();
  private nodeTables = new Map<string, string>(); // namespace (path and inode) -> the table written there
  private nodes: () => { node: string; netnsPath: string }[];
  private pending = false;
  private store: Store;
  private range: string;
  private network: string;
  readonly table = proxyTable();
  log: (line: string) => void = () => {};

  constructor(store: Store, range: string, network: string, nodes: () => { node: string; netnsPath: string }[] = () => []) {
    this.store = store;
    this.nodes = nodes;
    this.range = range;
    this.network = network;
    store.watch((e) => { if (e.plural === 'services' || e.plural === 'endpoints') this.soon(); });
    setInterval(() => this.soon(), 2000).unref(); // the network appears after the control plane starts
    this.soon();
  }

  private soon(): void {
    if (this.pending) return;
    this.pending = true;
    setTimeout(() => { this.pending = false; this.sync().catch((err) => this.log(`service proxy: ${(err as Error).message}`)); }, 10);
  }

  async sync(): Promise<void> {
    const services = this.store.list('services', '');
    const n = findNetwork(this.network);
    const endpoints = this.store.list('endpoints', '');
    // the hairpin case only: from the pods' subnet, out to their bridge, DNATed
    const text = proxyRules(this.table, services, endpoints, n ? `ip saddr ${n.subnet} oifname "${n.bridge}" ct status dnat` : undefined);
    if (text !== this.last) {
      runTool(null, 'nft', ['-f', '-'], text);
      this.last = text;
      this.log(`service proxy: wrote table ${this.table} (${services.length} services)`);
    }
    if (n && this.route !== n.bridge) {
      runTool(null, 'ip', ['route', 'replace', this.range, 'dev', n.bridge]); // gone with the bridge
      this.route = n.bridge;
    }
    this.syncNodes(proxyRules(this.table, services, endpoints, 'ct status dnat'));
    const want = new Set(services.flatMap((s) => (s.spec.ports ?? []).map((p: Obj) => p.nodePort)).filter(Boolean) as number[]);
    for (const [port, h] of this.held) if (!want.has(port)) { h.close(); this.held.delete(port); }
    for (const port of want) {
      if (this.held.has(port)) continue;
      try {
        const [h] = await holdPorts([{ proto: 'tcp', hostIp: '0.0.0.0', hostPort: port, containerPort: port }], () => null);
        this.held.set(port, h);
      } catch (err) { this.log(`service proxy: node port ${port}: ${(err as Error).message}`); }
    }
  }

  /**
   * The same table in each node's network namespace, where its address (and so NODE-IP:
   * NODEPORT) is delivered. Everything DNATed there is masqueraded to the node's address: a
   * client on the bridge would otherwise get the pod's answer straight from the pod. A node
   * started again has a new namespace (another inode): it gets the table again.
   */
  private syncNodes(text: string): void {
    const seen = new Set<string>();
    for (const node of this.nodes()) {
      let key: string;
      try { key = `${node.netnsPath}:${fs.statSync(node.netnsPath).ino}`; } catch { continue; }
      seen.add(key);
      if (this.nodeTables.get(key) === text) continue;
      try {
        runTool(null, 'nsenter', [`--net=${node.netnsPath}`, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
        runTool(null, 'nsenter', [`--net=${node.netnsPath}`, 'nft', '-f', '-'], text);
        this.nodeTables.set(key, text);
      } catch (err) { this.log(`service proxy: node ${node.node}: ${(err as Error).message}`); } // stopped meanwhile: the next pass
    }
    for (const key of this.nodeTables.keys()) if (!seen.has(key)) this.nodeTables.delete(key);
  }

  stop(): void {
    for (const h of this.held.values()) h.close();
    deleteProxyTable(this.table);
  }
}
