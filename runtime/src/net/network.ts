// Networks as a whole: create one (checking its subnet against the host's routes and box's
// other networks), find the default `bridge` (made on first use), remove one.

import fs from 'node:fs';
import type { Trace } from '../sys/trace.ts';
import { ConflictError, NotFoundError, UserError } from '../sys/errors.ts';
import { newNetworkId } from './ids.ts';
import { formatSubnet, intToIp, ipToInt, isHost, overlaps, parseCidr, parseRoutes, pickSubnet, type Subnet } from './ipam.ts';
import { bridgeName, ensureBridge, removeBridge } from './bridge.ts';
import { tableName } from './nat.ts';
import {
  DEFAULT_NETWORK, checkNetworkName, deleteNetworkRecord, findNetwork, leases, listNetworks, saveNewNetwork,
  withNetworkLock, type Network,
} from './store.ts';
import { stopDns } from './names.ts';

export interface CreateOptions {
  name: string;
  subnet?: string;
  gateway?: string;
  internal?: boolean;
}

/** What already has addresses here: the host's routes (other box roots' bridges among them) and our networks. */
function usedSubnets(): { what: string; subnet: Subnet }[] {
  let routes = '';
  try {
    routes = fs.readFileSync('/proc/net/route', 'utf8');
  } catch {
    /* no /proc/net/route: only our own networks count */
  }
  return [
    ...listNetworks().map((n) => ({ what: `network '${n.name}' (${n.subnet})`, subnet: parseCidr(n.subnet) })),
    ...parseRoutes(routes).map((r) => ({ what: `the route to ${formatSubnet(r.subnet)} on ${r.iface}`, subnet: r.subnet })),
  ];
}

export function createNetwork(trace: Trace | null, opts: CreateOptions): Network {
  checkNetworkName(opts.name);
  if (opts.name !== DEFAULT_NETWORK && findNetwork(opts.name)) throw new ConflictError(`network '${opts.name}' already exists; \`box network inspect ${opts.name}\` shows it`);
  const wanted = opts.subnet !== undefined ? parseCidr(opts.subnet) : null;
  if (opts.gateway !== undefined && !wanted) throw new UserError(`--gateway needs --subnet: the gateway is an address of that subnet`);
  return withNetworkLock(() => {
    // Again under the lock: two `box run` may both have found no default network.
    const made = findNetwork(opts.name);
    if (made && opts.name === DEFAULT_NETWORK) return made;
    if (made) throw new ConflictError(`network '${opts.name}' already exists`);
    const used = usedSubnets();
    let subnet: Subnet;
    if (wanted) {
      const clash = used.find((u) => overlaps(u.subnet, wanted));
      if (clash) throw new UserError(`--subnet ${formatSubnet(wanted)} overlaps ${clash.what}; pick another subnet`);
      subnet = wanted;
    } else {
      const free = pickSubnet(used.map((u) => u.subnet));
      if (!free) throw new UserError(`no free subnet left in box's pool (172.17-31.0.0/16, 192.168.0-240.0/20); give one with --subnet`);
      subnet = free;
    }
    let gateway = intToIp(subnet.base + 1);
    if (opts.gateway !== undefined) {
      const g = ipToInt(opts.gateway);
      if (g === null || !isHost(subnet, g)) throw new UserError(`--gateway ${opts.gateway}: give a host address inside ${formatSubnet(subnet)}, e.g. ${gateway}`);
      gateway = opts.gateway;
    }
    const id = newNetworkId();
    const { network, created } = saveNewNetwork({
      id, name: opts.name, driver: 'bridge', subnet: formatSubnet(subnet), gateway, internal: !!opts.internal,
      created: new Date().toISOString(), bridge: bridgeName(id), table: tableName(id), dns: opts.name !== DEFAULT_NETWORK,
      dnsPid: null,
    });
    if (!created && opts.name !== DEFAULT_NETWORK) throw new ConflictError(`network '${opts.name}' already exists`);
    try {
      ensureBridge(trace, network);
    } catch (err) {
      if (created) {
        removeBridge(trace, network);
        deleteNetworkRecord(network);
      }
      throw err;
    }
    return network;
  });
}

/** A network by name for `box run --network`: the default one is made on first use. */
export function networkForRun(trace: Trace | null, name: string): Network {
  const n = findNetwork(name) ?? (name === DEFAULT_NETWORK ? createNetwork(trace, { name }) : null);
  if (!n) throw new NotFoundError(`no such network: '${name}'; \`box network create ${name}\` makes it, \`box network ls\` lists them`);
  ensureBridge(trace, n); // after a reboot, or a bridge someone removed by hand
  return n;
}

/** Remove a network no container uses: its box-dns, bridge, table and state. */
export function removeNetwork(trace: Trace | null, n: Network, usedBy: (containerId: string) => string | null): void {
  const users = leases(n).map((l) => usedBy(l.containerId)).filter((u): u is string => u !== null);
  if (users.length) {
    throw new ConflictError(`network '${n.name}' is in use by ${users.map((u) => `'${u}'`).join(', ')}; remove ${users.length > 1 ? 'them' : 'it'} first (box rm -f ${users.join(' ')})`);
  }
  stopDns(trace, n);
  removeBridge(trace, n);
  deleteNetworkRecord(n);
}
