// A node's own network: a named network namespace (`ip netns`: boxc-<cluster id>-node-1)
// with one veth into the cluster network's bridge, as a machine's NIC is cabled into the
// LAN's switch. Inside, eth0 has the node's address (leased from the cluster network, as
// a DHCP server would give it), lo, and a default route via the gateway. The node's agent
// runs in it (node-process.ts), so what it sends to the API server leaves by that eth0 and
// arrives from that address; its pods' own cables go into the same switch (agent.ts).
//
// The lease's holder is `netns:NAME`, not a container: it stays while /run/netns/NAME exists
// (container/network.ts holdsNetwork). `ip netns add` keeps a namespace alive without a
// process by bind-mounting it on /run/netns/NAME; `ip netns del` unmounts it, and the kernel
// frees it (and the veth pair with it) when its last process is gone too.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { claimLease, lookupNetwork, releaseLease } from '../net/store.ts';
import { linkExists, macOf } from '../net/bridge.ts';
import { runTool, ToolError } from '../net/tools.ts';
import type { Trace } from '../sys/trace.ts';
import { clusterFile } from './paths.ts';

export const NETNS_PREFIX = 'boxc-';
export const netnsName = (clusterId: string, node: string) => `${NETNS_PREFIX}${clusterId}-${node}`;
export const netnsPath = (name: string) => `/run/netns/${name}`;
/** The host end of the node's cable: bxc + cluster id + node number, within IFNAMSIZ (15). */
export const hostVethName = (clusterId: string, node: string) => `bxc${clusterId}n${node.replace(/^node-/, '')}`;

export interface NodeNet { netns: string; veth: string; ip: string; prefix: number; gateway: string; network: string }

const recordFile = (node: string) => clusterFile(path.join('nodes', `${node}.net.json`));

/** What a node's network is, as recorded when it was made (any process may ask). */
export function nodeNet(node: string): NodeNet | undefined {
  try { return JSON.parse(fs.readFileSync(recordFile(node), 'utf8')) as NodeNet; } catch { return undefined; }
}

/** A node's address on the cluster network (its InternalIP; where a NodePort answers), if it is up. */
export function nodeAddress(node: string): string | undefined {
  const n = nodeNet(node);
  return n && fs.existsSync(netnsPath(n.netns)) ? n.ip : undefined;
}

/**
 * Every node that is up: its name, address and namespace. A node's address is delivered to its
 * namespace by the bridge, so what answers there (a NodePort) is set up in that namespace
 * (`nsenter --net=PATH nft ...`, as kube-proxy runs on each node), not in the machine's.
 */
export function nodeNets(): { node: string; ip: string; netnsPath: string }[] {
  let files: string[] = [];
  try { files = fs.readdirSync(clusterFile('nodes')).filter((f) => f.endsWith('.net.json')); } catch { return []; }
  return files.map((f) => f.slice(0, -'.net.json'.length)).sort().flatMap((node) => {
    const n = nodeNet(node);
    return n && fs.existsSync(netnsPath(n.netns)) ? [{ node, ip: n.ip, netnsPath: netnsPath(n.netns) }] : [];
  });
}

/** Make the node's namespace and cable it into `networkName`'s bridge. Undone on failure. */
export function makeNodeNetns(trace: Trace | null, clusterId: string, node: string, networkName: string): NodeNet {
  const n = lookupNetwork(networkName);
  const netns = netnsName(clusterId, node);
  const veth = hostVethName(clusterId, node);
  removeNodeNetns(trace, { netns, veth }); // a leftover of the same name (a killed box)
  const ip = claimLease(n, `netns:${netns}`);
  const net: NodeNet = { netns, veth, ip, prefix: Number(n.subnet.split('/')[1]), gateway: n.gateway, network: n.id };
  fs.mkdirSync(path.dirname(recordFile(node)), { recursive: true });
  fs.writeFileSync(recordFile(node), JSON.stringify(net)); // first: a box killed from here on leaves a record to undo
  try {
    runTool(trace, 'ip', ['netns', 'add', netns]);
    // the peer is made straight inside the namespace, as a container's (net/veth.ts)
    runTool(trace, 'ip', ['-batch', '-'],
      `link add ${veth} type veth peer name eth0 address ${macOf(ip)} netns ${netns}\nlink set ${veth} master ${n.bridge} up\n`);
    // from inside (an address set before a move would be dropped); nsenter, not `ip -n`, which
    // also remounts /sys, refused in a lab sandbox's user namespace
    runTool(trace, 'nsenter', [`--net=${netnsPath(netns)}`, 'ip', '-batch', '-'],
      `link set lo up\naddr add ${ip}/${net.prefix} dev eth0\nlink set eth0 up\nroute add default via ${n.gateway} dev eth0\n`);
  } catch (err) {
    removeNodeNetns(trace, net);
    throw err;
  }
  return net;
}

/** Unplug and remove the node's namespace, and give its address back. Safe to call twice. */
export function removeNodeNetns(trace: Trace | null, net: Pick<NodeNet, 'netns' | 'veth'> & Partial<NodeNet>): void {
  if (fs.existsSync(netnsPath(net.netns))) {
    try { runTool(trace, 'ip', ['netns', 'del', net.netns]); } catch (err) { if (!(err instanceof ToolError)) throw err; }
  }
  // a process still in the namespace (a killed agent's child) keeps it, and the pair, alive
  if (linkExists(net.veth)) {
    try { runTool(trace, 'ip', ['link', 'del', net.veth]); } catch (err) { if (!(err instanceof ToolError)) throw err; }
  }
  if (net.network && net.ip) releaseLease(net.network, net.ip, `netns:${net.netns}`);
}

/** Remove a node's network by its record (node stop, cluster down, the reaper). */
export function removeNodeNet(trace: Trace | null, node: string): void {
  const net = nodeNet(node);
  if (net) removeNodeNetns(trace, net);
  fs.rmSync(recordFile(node), { force: true });
}

/** Inside the node's namespace (the agent): the address its kernel gives eth0, as a kubelet finds its node IP. */
export function ownAddress(): string | undefined {
  return os.networkInterfaces().eth0?.find((a) => a.family === 'IPv4')?.address;
}
