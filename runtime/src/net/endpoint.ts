// A container on its networks, the steps `box run` takes (README.md walks them):
//   before box-init starts: find (or make) the network, claim an address, hold the host
//     ports, record the container's names for box-dns, write resolv.conf and hosts;
//   at box-init's cgroup stop, when the container's namespaces exist: plug the veths in and
//     add the port DNAT elements;
//   when it is gone (exit, rm -f, or the next box reaping a killed one): delete the ports'
//     elements, release the address and the names, stop box-dns after the last container.

import fs from 'node:fs';
import path from 'node:path';
import { ConflictError, UserError } from '../sys/errors.ts';
import type { Trace } from '../sys/trace.ts';
import { parseCidr } from './ipam.ts';
import { addPorts, deletePorts, type PortRule } from './nat.ts';
import { exposedPorts, holdPorts, type HeldPort, type PortSpec } from './ports.ts';
import { claimLease, findNetwork, leases, listNetworks, releaseLease, withNetworkLock, withNetworkLockAsync, type Network } from './store.ts';
import { networkForRun } from './network.ts';
import { reapOrphanBridges } from './bridge.ts';
import { plugOne, plugVeths, unplug, vethName, type VethSpec } from './veth.ts';
import {
  addNameRecord, dnsAvailable, type NameRecord, dnsRunning, etcHosts, hostResolvers, nameRecords, removeNameRecord, resolvConf, startDns, stopDns, syncNameFiles, writeHosts,
} from './names.ts';

/** How `box run` was asked to network: undefined `network` means as --ns says (no setup). */
export interface NetRequest {
  network?: string;
  ip?: string;
  aliases?: string[];
  publish?: PortSpec[];
  publishAll?: boolean;
  dnsSearch?: string[];
  dnsOptions?: string[];
}

export interface Endpoint {
  networkId: string;
  network: string;
  ip: string;
  prefix: number;
  gateway: string;
  veth: string;
  ifname: string;
  aliases: string[];
  internal: boolean;
}

export interface PublishedPort extends PortRule {
  networkId: string;
}

/** What the container's state records: enough to undo everything, by any later box. */
export interface NetState {
  mode: string;
  endpoints: Endpoint[];
  ports: PublishedPort[];
}

export interface Prepared {
  net: NetState;
  held: HeldPort[];
  /** Files over the image's: /etc/resolv.conf, /etc/hosts, /etc/hostname (initLayer). */
  files: { container: string; text: string }[];
}

export interface ContainerNames {
  id: string;
  name: string;
  hostname: string;
}

/** Names of a container on a network: its name, its aliases, its short id (as Docker's DNS answers). */
const namesOf = (c: ContainerNames, aliases: string[]) => [...new Set([c.name, ...aliases, c.id.slice(0, 12)])];

/**
 * Everything before the container exists. `portOwner` names a container of this box root
 * publishing a port (for the message when one is taken). Undone by release() on failure.
 */
export async function prepare(trace: Trace | null, req: NetRequest, c: ContainerNames,
  exposed: Record<string, unknown> | undefined, portOwner: (p: PortSpec) => string | null): Promise<Prepared | null> {
  const mode = req.network;
  if (mode === undefined || mode === 'host' || mode.startsWith('container:')) return null;
  if (mode === 'none') {
    if (req.publish?.length) throw new UserError(`-p needs a network: --network none has none`);
    return null;
  }
  const n = networkForRun(trace, mode);
  const net: NetState = { mode, endpoints: [], ports: [] };
  let held: HeldPort[] = [];
  try {
    const ip = claimLease(n, c.id, req.ip);
    const ep = endpointFor(n, c.id, ip, req.aliases ?? [], 0);
    net.endpoints.push(ep);
    const specs = [...(req.publish ?? []), ...(req.publishAll ? exposedPorts(exposed) : [])];
    held = await holdPorts(specs, portOwner);
    net.ports = held.map((h) => ({ ...h.spec, containerIp: ip, networkId: n.id }));
    const dns = n.dns && dnsAvailable() ? n.gateway : null;
    if (n.dns) await joinNames(trace, n, { containerId: c.id, ip, names: namesOf(c, ep.aliases) });
    const files = [
      { container: '/etc/resolv.conf', text: resolvConf(dns, req) },
      { container: '/etc/hosts', text: etcHosts(ip, [c.hostname]) },
      { container: '/etc/hostname', text: `${c.hostname}\n` },
    ];
    return { net, held, files };
  } catch (err) {
    release(trace, c.id, net, held);
    throw err;
  }
}

function endpointFor(n: Network, containerId: string, ip: string, aliases: string[], index: number): Endpoint {
  return {
    networkId: n.id, network: n.name, ip, prefix: parseCidr(n.subnet).prefix, gateway: n.gateway,
    veth: vethName(containerId, n.id), ifname: `eth${index}`, aliases, internal: n.internal,
  };
}

const vethSpec = (ep: Endpoint, bridge: string, route: boolean): VethSpec => ({
  veth: ep.veth, ifname: ep.ifname, bridge, ip: ep.ip, prefix: ep.prefix, gateway: route ? ep.gateway : null,
});

/** At box-init's stop: the container's network namespace is /proc/PID/ns/net. */
export function plug(trace: Trace | null, pid: number, net: NetState): void {
  // The default route goes through the first network with a way out; an --internal one has none.
  const routed = net.endpoints.find((e) => !e.internal);
  plugVeths(trace, pid, net.endpoints.map((ep) => vethSpec(ep, bridgeOf(ep), ep === routed)));
  for (const id of new Set(net.ports.map((p) => p.networkId))) addPorts(trace, id, net.ports.filter((p) => p.networkId === id));
}

function bridgeOf(ep: Endpoint): string {
  const n = findNetwork(ep.networkId);
  if (!n) throw new UserError(`network '${ep.network}' was removed while the container started`);
  return n.bridge;
}

/**
 * Undo: ports, veths (gone already when the namespace died; not when a process still holds
 * it), addresses, names. Each step ignores what is already gone: a later box may repeat it.
 */
export function release(trace: Trace | null, containerId: string, net: NetState, held: HeldPort[] = [], opts: { unplug?: boolean } = {}): void {
  for (const h of held) h.close();
  for (const id of new Set(net.ports.map((p) => p.networkId))) deletePorts(trace, id, net.ports.filter((p) => p.networkId === id));
  for (const ep of net.endpoints) {
    if (opts.unplug) unplug(trace, ep.veth);
    releaseLease(ep.networkId, ep.ip, containerId);
    const n = findNetwork(ep.networkId);
    if (n?.dns) leaveNames(trace, n, containerId);
  }
}

async function joinNames(trace: Trace | null, n: Network, record: NameRecord): Promise<void> {
  addNameRecord(n, record);
  writeHosts();
  if (!dnsAvailable() || dnsRunning(findNetwork(n.id) ?? n)) return;
  // The lock: two containers starting at once must not both start a box-dns (the second
  // could not bind the port), nor one stop it while the other joins.
  await withNetworkLockAsync(async () => {
    const now = findNetwork(n.id) ?? n;
    await startDns(trace, now, hostResolvers().nameservers);
  });
}

function leaveNames(trace: Trace | null, n: Network, containerId: string): void {
  removeNameRecord(n, containerId);
  writeHosts();
  withNetworkLock(() => {
    const now = findNetwork(n.id);
    if (now && nameRecords(now).length === 0) stopDns(trace, now);
  });
}

/**
 * What a killed box left: addresses and names of containers that are gone, and box-dns of
 * networks with no container left. `live` says whether a container id still runs (or starts).
 */
export function pruneNetworks(trace: Trace | null, live: (containerId: string) => boolean): void {
  reapOrphanBridges(trace);
  for (const n of listNetworks()) {
    for (const l of leases(n)) if (!live(l.containerId)) releaseLease(n.id, l.ip, l.containerId);
    if (!n.dns) continue;
    const stale = nameRecords(n).filter((r) => !live(r.containerId));
    for (const r of stale) removeNameRecord(n, r.containerId);
    if (stale.length) writeHosts();
    if (nameRecords(n).length === 0 && dnsRunning(n)) stopDns(trace, n);
  }
}

/** `box network connect NETWORK CONTAINER` for a running container: one more interface. */
export async function connect(trace: Trace | null, n: Network, c: ContainerNames, pid: number, net: NetState, opts: { ip?: string; aliases?: string[] }): Promise<Endpoint> {
  if (net.endpoints.some((e) => e.networkId === n.id)) throw new ConflictError(`container '${c.name}' is already on network '${n.name}'`);
  const ip = claimLease(n, c.id, opts.ip);
  const used = new Set(net.endpoints.map((e) => e.ifname));
  let index = 0;
  while (used.has(`eth${index}`)) index++;
  const ep = endpointFor(n, c.id, ip, opts.aliases ?? [], index);
  try {
    plugOne(trace, pid, vethSpec(ep, n.bridge, false));
  } catch (err) {
    releaseLease(n.id, ip, c.id);
    throw err;
  }
  if (n.dns) await joinNames(trace, n, { containerId: c.id, ip, names: namesOf(c, ep.aliases) });
  syncNameFiles(pid, c.hostname, dnsServerOf([...net.endpoints, ep]), { added: ip });
  return ep;
}

/** The box-dns a container on these networks asks: its first network's with names, if any. */
function dnsServerOf(endpoints: Endpoint[]): string | null {
  if (!dnsAvailable()) return null;
  for (const ep of endpoints) if (findNetwork(ep.networkId)?.dns) return ep.gateway;
  return null;
}

/** `box network disconnect`: its interface, address, names and the ports published through it go. */
export function disconnect(trace: Trace | null, c: ContainerNames, pid: number | null, net: NetState, networkId: string): NetState {
  const ep = net.endpoints.find((e) => e.networkId === networkId);
  if (!ep) throw new UserError(`container '${c.name}' is not on that network`);
  const part: NetState = { mode: net.mode, endpoints: [ep], ports: net.ports.filter((p) => p.networkId === networkId) };
  release(trace, c.id, part, [], { unplug: true });
  const rest = net.endpoints.filter((e) => e !== ep);
  if (pid) syncNameFiles(pid, c.hostname, dnsServerOf(rest), { removed: ep.ip });
  return { ...net, endpoints: rest, ports: net.ports.filter((p) => p.networkId !== networkId) };
}

/**
 * resolv.conf, hosts and hostname, as Docker's "-init" layer: a small layer of their own
 * above the image's (lowerDirs is lowest first), so the container reads and may change them
 * like any file, and `box diff` and `box commit` see only what the container itself changed.
 * Its /etc and files take the owner of the image's /etc (shifted already for --userns, whose
 * root must be able to change them) and /etc its mode: an overlay directory shows the
 * attributes of its topmost layer.
 */
export function initLayer(dir: string, files: { container: string; text: string }[], imageLayers: string[]): string {
  const layer = path.join(dir, 'init');
  const etc = path.join(layer, 'etc');
  fs.mkdirSync(etc, { recursive: true });
  const below = [...imageLayers].reverse().map((l) => path.join(l, 'etc')).find((d) => fs.existsSync(d));
  const st = below ? fs.statSync(below) : null;
  for (const f of files) {
    const file = path.join(layer, f.container);
    fs.writeFileSync(file, f.text, { mode: 0o644 });
    if (st) fs.chownSync(file, st.uid, st.gid);
  }
  if (st) {
    fs.chmodSync(etc, st.mode & 0o7777);
    fs.chownSync(etc, st.uid, st.gid);
  }
  return layer;
}
