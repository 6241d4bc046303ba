// /networks/...: box's networks (net/) as the Engine API shows them: list, inspect, create,
// remove, connect, disconnect.

import { connectContainer, disconnectContainer, liveContainerName } from '../../container/network.ts';
import { createNetwork, removeNetwork } from '../../net/network.ts';
import { findNetwork, leases, listNetworks, type Network } from '../../net/store.ts';
import { nullTrace } from '../../sys/trace.ts';
import { writeState } from '../../container/state.ts';
import { find as findContainer } from './containers.ts';
import { emitEvent } from './events.ts';
import { ApiError, commonHeaders, send, type Route } from './http.ts';

/** A connection asked for while the container was only created: made when it starts (containers.ts). */
export interface PendingConnect { network: string; aliases: string[]; ip?: string }

function find(ref: string): Network {
  const n = findNetwork(ref);
  if (!n) throw new ApiError(404, `network ${ref} not found`);
  return n;
}

function view(n: Network) {
  return {
    Name: n.name, Id: n.id, Created: n.created, Scope: 'local', Driver: n.driver, EnableIPv6: false,
    IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: n.subnet, Gateway: n.gateway }] },
    Internal: n.internal, Attachable: false, Ingress: false, ConfigFrom: { Network: '' }, ConfigOnly: false,
    Containers: Object.fromEntries(leases(n).map((l) => [l.containerId, { Name: liveContainerName(l.containerId) ?? '', IPv4Address: `${l.ip}/${n.subnet.split('/')[1]}`, EndpointID: '', MacAddress: '', IPv6Address: '' }])),
    Options: {}, Labels: {},
  };
}

const NAME = '([^/]+)';
export const networkRoutes: Route[] = [
  ['GET', /^\/networks$/, ({ res }) => send(res, 200, listNetworks().map(view))],
  ['GET', new RegExp(`^/networks/${NAME}$`), ({ res, params }) => send(res, 200, view(find(params[0])))],
  ['POST', /^\/networks\/create$/, async ({ res, json }) => {
    const b = await json<{ Name?: string; Driver?: string; Internal?: boolean; CheckDuplicate?: boolean; IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] } }>();
    if (!b.Name) throw new ApiError(400, 'a network needs a Name');
    if (b.Driver && b.Driver !== 'bridge') throw new ApiError(400, `box makes bridge networks only, not '${b.Driver}'`);
    if (findNetwork(b.Name)) throw new ApiError(409, `network with name ${b.Name} already exists`);
    const cfg = b.IPAM?.Config?.[0];
    const n = createNetwork(nullTrace, { name: b.Name, subnet: cfg?.Subnet, gateway: cfg?.Gateway, internal: b.Internal });
    emitEvent('network', 'create', n.id, { name: n.name, type: 'bridge' });
    send(res, 201, { Id: n.id, Warning: '' });
  }],
  ['DELETE', new RegExp(`^/networks/${NAME}$`), ({ res, params }) => {
    const n = find(params[0]);
    removeNetwork(nullTrace, n, liveContainerName);
    emitEvent('network', 'destroy', n.id, { name: n.name, type: 'bridge' });
    res.writeHead(204, commonHeaders()).end();
  }],
  ['POST', new RegExp(`^/networks/${NAME}/connect$`), async ({ res, params, json }) => {
    const b = await json<{ Container?: string; EndpointConfig?: { Aliases?: string[]; IPAMConfig?: { IPv4Address?: string } } }>();
    const n = find(params[0]);
    if (!b.Container) throw new ApiError(400, 'connect needs a Container');
    const c = findContainer(b.Container);
    if (c.status === 'created' || c.status === 'exited') {
      // docker-compose creates with NetworkMode set to its network, then connects with the
      // service's aliases before the start: they join the container's own configuration.
      const cfg = c.config as { network?: string; networkAliases?: string[]; connectOnStart?: PendingConnect[] };
      if (cfg.network === n.name || cfg.network === n.id) {
        const aliases = [...new Set([...(cfg.networkAliases ?? []), ...(b.EndpointConfig?.Aliases ?? [])])];
        writeState({ ...c, config: { ...c.config, networkAliases: aliases } });
        return void res.writeHead(200, commonHeaders()).end();
      }
      // Another network (a Compose service on two): box runs a container on one network, so
      // the start connects it to the others, as `docker network connect` does a running one.
      if (!cfg.network || cfg.network === 'none' || cfg.network === 'host' || cfg.network.startsWith('container:')) {
        throw new ApiError(400, `container ${c.name} has --network ${cfg.network ?? 'none'}: it has no network of its own to connect`);
      }
      const pending = (cfg.connectOnStart ?? []).filter((p) => p.network !== n.name);
      pending.push({ network: n.name, aliases: b.EndpointConfig?.Aliases ?? [], ip: b.EndpointConfig?.IPAMConfig?.IPv4Address });
      writeState({ ...c, config: { ...c.config, connectOnStart: pending } });
      return void res.writeHead(200, commonHeaders()).end();
    }
    await connectContainer(nullTrace, n.name, b.Container, { ip: b.EndpointConfig?.IPAMConfig?.IPv4Address, aliases: b.EndpointConfig?.Aliases ?? [] });
    emitEvent('network', 'connect', n.id, { name: n.name, container: b.Container });
    res.writeHead(200, commonHeaders()).end();
  }],
  ['POST', new RegExp(`^/networks/${NAME}/disconnect$`), async ({ res, params, json }) => {
    const b = await json<{ Container?: string }>();
    const n = find(params[0]);
    if (!b.Container) throw new ApiError(400, 'disconnect needs a Container');
    disconnectContainer(nullTrace, n.name, b.Container);
    res.writeHead(200, commonHeaders()).end();
  }],
];
