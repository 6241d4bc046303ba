// A network's Linux bridge: a virtual switch in the host's network namespace (a lab sandbox's,
// inside one), holding the gateway address. Each container's veth is plugged into it.

import fs from 'node:fs';
import type { Trace } from '../sys/trace.ts';
import { parseCidr } from './ipam.ts';
import { BRIDGE_PREFIX, applyTable, deleteTable } from './nat.ts';
import type { Network } from './store.ts';
import { runTool, ToolError, writeProc } from './tools.ts';
import { enableForwarding, forgetNetwork, orphans, recordNetwork } from './host-record.ts';
import { networkDir } from './store.ts';

/** box-<11 hex of the id>: 15 characters, the most a Linux interface name may have (IFNAMSIZ-1). */
export const bridgeName = (networkId: string) => `${BRIDGE_PREFIX}${networkId.slice(0, 11)}`;

export const linkExists = (name: string) => fs.existsSync(`/sys/class/net/${name}`);

/**
 * Make the network's kernel objects if they are missing (first use, or after a reboot): the
 * nftables table first, so that no packet crosses the bridge before its rules exist.
 */
export function ensureBridge(trace: Trace | null, n: Network): void {
  if (linkExists(n.bridge)) return;
  recordNetwork({ bridge: n.bridge, networkId: n.id, networkDir: networkDir(n.id) }); // first: a box killed next leaves it findable
  applyTable(trace, n);
  const { prefix } = parseCidr(n.subnet);
  try {
    runTool(trace, 'ip', ['-batch', '-'], [
      // An address of its own: a bridge without one takes the lowest MAC of its ports, so it
      // changes when that container goes, and the others' ARP entry for the gateway (their
      // DNS, their way out) goes stale until it expires. Docker fixes it too: 02:42 + the IP.
      `link add ${n.bridge} address ${macOf(n.gateway)} type bridge`,
      `addr add ${n.gateway}/${prefix} dev ${n.bridge}`,
      `link set ${n.bridge} up`,
    ].join('\n') + '\n');
  } catch (err) {
    if (!(err instanceof ToolError && linkExists(n.bridge))) throw err; // another box made it meanwhile
  }
  // The host may send from 127.0.0.1 into this bridge (a published port reached on
  // localhost, DNATed): allowed only with route_localnet (see nat.ts).
  writeProc(trace, `/proc/sys/net/ipv4/conf/${n.bridge}/route_localnet`, '1');
  // Routing between the bridge and the host's other interfaces (a way out, ports published
  // to other machines) needs IPv4 forwarding, which is per network namespace. As Docker does,
  // box turns it on for a network with a way out (and off after its last network, if it was).
  if (!n.internal) enableForwarding(trace);
}

/** The bridge and the table go; the containers' veths went with their namespaces. */
export function removeBridge(trace: Trace | null, n: Pick<Network, 'id' | 'bridge'>): void {
  if (linkExists(n.bridge)) {
    try {
      runTool(trace, 'ip', ['link', 'del', n.bridge]);
    } catch (err) {
      if (!(err instanceof ToolError) || linkExists(n.bridge)) throw err;
    }
  }
  deleteTable(trace, n.id);
  forgetNetwork(trace, n.bridge);
}

/** Bridges and tables of networks whose box root is gone (see host-record.ts). */
export function reapOrphanBridges(trace: Trace | null): void {
  for (const r of orphans()) {
    stopOrphanDns(trace, r.networkDir);
    try {
      removeBridge(trace, { id: r.networkId, bridge: r.bridge });
    } catch (err) {
      // Another box's leftovers must not fail this box's command: the next reaper tries again.
      trace?.record({ kind: 'note', text: `could not remove the orphaned bridge ${r.bridge}: ${(err as Error).message}` });
    }
  }
}

/** A box-dns still serving a removed network: found by the hosts file on its command line. */
function stopOrphanDns(trace: Trace | null, networkDir: string): void {
  const hosts = `${networkDir}/hosts`;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv[0].endsWith('box-dns') && argv.includes(hosts)) {
        trace?.record({ kind: 'note', text: `kill ${pid} (box-dns of a removed network)` });
        process.kill(Number(pid), 'SIGTERM');
      }
    } catch {
      /* gone */
    }
  }
}

/**
 * A locally administered unicast MAC from an IPv4 address, as Docker makes them:
 * 172.17.0.1 -> 02:42:ac:11:00:01. The bridge (the gateway) and every container's eth0 take
 * theirs from their address, so an address that comes back (a service recreated, a lease
 * reused) comes back with the same MAC: the neighbours' ARP caches stay right. With random
 * MACs a recreated container answered at its old address only after the others' stale
 * entries timed out (about a minute of "wget: download timed out").
 */
export function macOf(ipv4: string): string {
  return ['02', '42', ...ipv4.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}
