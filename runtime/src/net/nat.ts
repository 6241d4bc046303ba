// The nftables rules of a network: one table per network, named from its id, that box owns
// whole. Making it is one atomic transaction; removing it is `nft delete table`, so no rule
// outlives its network. Published ports are elements of two maps in it, added and deleted
// one by one as containers come and go (no rule handles to remember).
//
//   prerouting/output (nat): a packet to one of this machine's own addresses (fib daddr type
//     local) on a published port is DNATed to the container: from outside (prerouting) and
//     from the host itself (output), 127.0.0.1 included.
//   postrouting (nat): masquerade what leaves the network for elsewhere (not on --internal);
//     masquerade what the host sends from 127.0.0.1 into the bridge (see below); and
//     masquerade a container reaching a published port of its own network (hairpin), or the
//     reply would come straight back from the container's address and be dropped.
//   forward (filter): the bridge to itself is fine; to another box network's bridge is not
//     (isolation); an --internal network forwards nothing in or out.
//   input (filter, --internal only): nothing on this machine but the network's own DNS.
//
// 127.0.0.1: the kernel refuses to route a packet with a loopback source out of a
// non-loopback device (a "martian"), unless route_localnet is set on that device. box sets
// it on the bridge (bridge.ts) and masquerades such packets to the gateway's address, so the
// container can answer; Docker does the same when its userland proxy is off.

import type { Trace } from '../sys/trace.ts';
import type { Network } from './store.ts';
import { runTool, ToolError } from './tools.ts';

export const tableName = (networkId: string) => `box_${networkId.slice(0, 12)}`;

/** The prefix every box bridge's name starts with: isolation drops forwarding between any two. */
export const BRIDGE_PREFIX = 'box-';

export interface PortRule {
  proto: 'tcp' | 'udp';
  /** '' or 0.0.0.0: every address of the host. */
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

/** The whole table, as one `nft -f` transaction: create (so delete cannot fail), delete, define. */
export function tableRules(n: Network): string {
  const t = tableName(n.id);
  const br = n.bridge;
  const lines = [
    `table ip ${t}`,
    `delete table ip ${t}`,
    `table ip ${t} {`,
    `  map ports_any { type inet_proto . inet_service : ipv4_addr . inet_service; }`,
    `  map ports_at { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }`,
    `  chain prerouting {`,
    `    type nat hook prerouting priority dstnat; policy accept;`,
    `    fib daddr type local meta l4proto { tcp, udp } dnat to ip daddr . meta l4proto . th dport map @ports_at`,
    `    fib daddr type local meta l4proto { tcp, udp } dnat to meta l4proto . th dport map @ports_any`,
    `  }`,
    `  chain output {`,
    `    type nat hook output priority -100; policy accept;`,
    `    fib daddr type local meta l4proto { tcp, udp } dnat to ip daddr . meta l4proto . th dport map @ports_at`,
    `    fib daddr type local meta l4proto { tcp, udp } dnat to meta l4proto . th dport map @ports_any`,
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    ...(n.internal ? [] : [`    ip saddr ${n.subnet} oifname != "${br}" masquerade`]),
    `    ip saddr 127.0.0.0/8 oifname "${br}" masquerade`,
    // Hairpin. Not `iifname br`: with br_netfilter the DNATed frame is bridged, and its input
    // interface is the container's veth, not the bridge.
    `    ip saddr ${n.subnet} oifname "${br}" ct status dnat masquerade`,
    `  }`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy accept;`,
    `    iifname "${br}" oifname "${br}" accept`,
    `    iifname "${br}" oifname "${BRIDGE_PREFIX}*" drop`,
    `    oifname "${br}" iifname "${BRIDGE_PREFIX}*" drop`,
    ...(n.internal ? [`    iifname "${br}" drop`, `    oifname "${br}" drop`] : []),
    `  }`,
    ...(n.internal ? [
      `  chain input {`,
      `    type filter hook input priority filter; policy accept;`,
      `    iifname "${br}" ip daddr ${n.gateway} udp dport 53 accept`,
      `    iifname "${br}" ip daddr ${n.gateway} tcp dport 53 accept`,
      `    iifname "${br}" drop`,
      `  }`,
    ] : []),
    `}`,
  ];
  return lines.join('\n') + '\n';
}

const anyAddress = (ip: string) => ip === '' || ip === '0.0.0.0';

function element(r: PortRule, withValue: boolean): string {
  const value = withValue ? ` : ${r.containerIp} . ${r.containerPort}` : '';
  return anyAddress(r.hostIp)
    ? `ports_any { ${r.proto} . ${r.hostPort}${value} }`
    : `ports_at { ${r.hostIp} . ${r.proto} . ${r.hostPort}${value} }`;
}

export function addPortsRules(networkId: string, rules: PortRule[]): string {
  return rules.map((r) => `add element ip ${tableName(networkId)} ${element(r, true)}\n`).join('');
}

export function deletePortsRules(networkId: string, rules: PortRule[]): string {
  return rules.map((r) => `delete element ip ${tableName(networkId)} ${element(r, false)}\n`).join('');
}

export function applyTable(trace: Trace | null, n: Network): void {
  runTool(trace, 'nft', ['-f', '-'], tableRules(n));
}

export function addPorts(trace: Trace | null, networkId: string, rules: PortRule[]): void {
  if (rules.length) runTool(trace, 'nft', ['-f', '-'], addPortsRules(networkId, rules));
}

/** Delete each element on its own: one already gone (a table removed) must not keep the rest. */
export function deletePorts(trace: Trace | null, networkId: string, rules: PortRule[]): void {
  for (const r of rules) {
    try {
      runTool(trace, 'nft', ['-f', '-'], deletePortsRules(networkId, [r]));
    } catch (err) {
      if (!(err instanceof ToolError)) throw err;
    }
  }
}

export function deleteTable(trace: Trace | null, networkId: string): void {
  try {
    runTool(trace, 'nft', ['delete', 'table', 'ip', tableName(networkId)]);
  } catch (err) {
    if (!(err instanceof ToolError)) throw err; // no such table: already gone
  }
}
