// The container's side of networking that needs other containers' state: who publishes a
// port, whose network namespace `--network container:NAME` joins, whether a container still
// holds its addresses. The network work itself is in net/.

import fs from 'node:fs';
import { UserError } from '../sys/errors.ts';
import type { PortSpec } from '../net/ports.ts';
import type { RunConfig } from './config.ts';
import { listIds, lookup, monitorAlive, readState, updateState } from './state.ts';
import type { Trace } from '../sys/trace.ts';
import { connect, disconnect, release } from '../net/endpoint.ts';
import type { ContainerState } from './state.ts';
import { lookupNetwork } from '../net/store.ts';

/** The container of this box root that publishes this host port, if one does. */
export function portOwner(p: PortSpec): string | null {
  for (const id of listIds()) {
    const s = readState(id);
    if (!s || s.status === 'exited' || !monitorAlive(s)) continue;
    const hit = s.network?.ports.find((q) => q.proto === p.proto && q.hostPort === p.hostPort);
    if (hit) return `container '${s.name}' (box rm -f ${s.name} frees it)`;
  }
  return null;
}

/** --network container:NAME: that container's network namespace, as box-init joins it. */
export function sharedNetns(cfg: RunConfig): string | undefined {
  if (!cfg.network?.startsWith('container:')) return undefined;
  const ref = cfg.network.slice('container:'.length);
  const s = lookup(ref);
  if (s.status !== 'running' || !s.pid) throw new UserError(`--network container:${ref}: that container is not running`);
  if (cfg.userns) throw new UserError(`--network container:${ref} with --userns: a namespace owned by the host's root cannot be joined from a user namespace; leave one out`);
  return `/proc/${s.pid}/ns/net`;
}

/** Does this container still run (or start), so that its addresses and names stay? */
export function holdsNetwork(containerId: string): boolean {
  // A cluster node's address (cluster/node-netns.ts): held while its named namespace exists.
  if (containerId.startsWith('netns:')) return fs.existsSync(`/run/netns/${containerId.slice('netns:'.length)}`);
  const s = readState(containerId);
  return !!s && s.status !== 'exited' && monitorAlive(s);
}

/** The name of a live container holding an address (for `network rm`), or null. */
export function liveContainerName(containerId: string): string | null {
  return holdsNetwork(containerId) ? readState(containerId)?.name ?? null : null;
}

/** `box network connect`: a running container gets one more interface, recorded in its state. */
export async function connectContainer(trace: Trace, networkRef: string, ref: string, opts: { ip?: string; aliases?: string[] }): Promise<void> {
  const n = lookupNetwork(networkRef);
  const s = lookup(ref);
  if (s.status !== 'running' || !s.pid) throw new UserError(`container '${s.name}' is not running; box connects running containers only`);
  if (!s.namespaces.net || !s.network) throw new UserError(`container '${s.name}' has no network of its own (--network none, host, container: or --ns); box cannot connect it`);
  const hostname = (s.config.hostname as string | undefined) ?? s.name;
  const ep = await connect(trace, n, { id: s.id, name: s.name, hostname }, s.pid, s.network, opts);
  updateState(s.id, { network: { ...s.network, endpoints: [...s.network.endpoints, ep] } });
}

export function disconnectContainer(trace: Trace, networkRef: string, ref: string): void {
  const n = lookupNetwork(networkRef);
  const s = lookup(ref);
  if (!s.network?.endpoints.some((e) => e.networkId === n.id)) throw new UserError(`container '${s.name}' is not on network '${n.name}'`);
  const hostname = (s.config.hostname as string | undefined) ?? s.name;
  const rest = disconnect(trace, { id: s.id, name: s.name, hostname }, s.network, n.id);
  updateState(s.id, { network: rest });
}

/**
 * Undo the network of a container whose box died (the reaper). A port it published may have
 * been taken since by a container started in between (its box's socket died with it): that
 * one's DNAT element has the same key, so it stays.
 */
export function releaseDead(trace: Trace, s: ContainerState): void {
  if (!s.network) return;
  const ports = s.network.ports.filter((p) => portOwner(p) === null);
  release(trace, s.id, { ...s.network, ports }, [], { unplug: true });
}
