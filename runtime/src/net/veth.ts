// A container's cable to a network: a veth pair, one end plugged into the bridge on the host,
// the other made directly inside the container's network namespace as eth0 (eth1... for more
// networks), then addressed and routed from inside it.
//
// The host end is made in the host's namespace (`ip link add ... peer ... netns PID` puts the
// peer straight into /proc/PID/ns/net, so no moment exists when both ends are on the host).
// An address and a route can only be set from inside the namespace they belong to: moving a
// device to another namespace drops its IPv4 addresses. So the second batch runs under
// nsenter --net. When the namespace dies (the container's last process exits), the kernel
// destroys the veth inside it, and with it its peer on the host: nothing to remove.

import type { Trace } from '../sys/trace.ts';
import { runTool, ToolError } from './tools.ts';
import { linkExists, macOf } from './bridge.ts';

/** veth + 7 hex of the container id + 4 of the network id: 15 characters, unique per pair. */
export const vethName = (containerId: string, networkId: string) => `veth${containerId.slice(0, 7)}${networkId.slice(0, 4)}`;

export interface VethSpec {
  veth: string;
  ifname: string;
  bridge: string;
  ip: string;
  prefix: number;
  /** The default route, through the first network that has a way out. */
  gateway: string | null;
}

/** Plug the container whose first process is `pid` into its networks. */
export function plugVeths(trace: Trace | null, pid: number, specs: VethSpec[]): void {
  if (specs.length === 0) return;
  runTool(trace, 'ip', ['-batch', '-'], specs.map((s) =>
    `link add ${s.veth} type veth peer name ${s.ifname} address ${macOf(s.ip)} netns ${pid}\nlink set ${s.veth} master ${s.bridge} up\n` +
    // Hairpin: a container reaching its own published port is DNATed back to itself, and with
    // br_netfilter the frame is bridged out of the port it came in by, which a bridge refuses
    // unless the port says it may (Docker sets the same without its userland proxy).
    `link set ${s.veth} type bridge_slave hairpin on\n`).join(''));
  const inside = ['link set lo up'];
  for (const s of specs) inside.push(`addr add ${s.ip}/${s.prefix} dev ${s.ifname}`, `link set ${s.ifname} up`);
  const gw = specs.find((s) => s.gateway);
  if (gw) inside.push(`route add default via ${gw.gateway} dev ${gw.ifname}`);
  runTool(trace, 'nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-batch', '-'], inside.join('\n') + '\n');
}

/** For `network connect` to a running container: one more veth, no default route change. */
export function plugOne(trace: Trace | null, pid: number, s: VethSpec): void {
  plugVeths(trace, pid, [{ ...s, gateway: null }]);
}

/** Remove a veth whose namespace may still live (disconnect, or a box killed with a held namespace). */
export function unplug(trace: Trace | null, veth: string): void {
  if (!linkExists(veth)) return;
  try {
    runTool(trace, 'ip', ['link', 'del', veth]);
  } catch (err) {
    if (!(err instanceof ToolError)) throw err;
  }
}
