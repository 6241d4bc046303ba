// `box network ...`: create, ls, inspect, rm, prune, connect, disconnect; and `box port`.
// Parsing and printing only: the work is in net/ and container/network.ts.

import type { Trace } from '../sys/trace.ts';
import { UserError } from '../sys/errors.ts';
import { helpText, parseArgs, type OptionSpec } from '../container/args.ts';
import { createNetwork, removeNetwork } from '../net/network.ts';
import { DEFAULT_NETWORK, leases, listNetworks, lookupNetwork, type Network } from '../net/store.ts';
import { dnsRunning, nameRecords } from '../net/names.ts';
import { formatPort } from '../net/ports.ts';
import { connectContainer, disconnectContainer, liveContainerName } from '../container/network.ts';
import { reapStale } from '../container/cleanup.ts';
import { lookup, readState } from '../container/state.ts';
import { realSys } from '../sys/sys.ts';
import type { Command } from './command.ts';
import { formatTable } from './format.ts';

interface Sub {
  usage: string;
  summary: string;
  options: OptionSpec[];
  run(opts: Record<string, unknown>, args: string[], trace: Trace): number | Promise<number>;
}

const out = (s: string) => process.stdout.write(s);

const SUBCOMMANDS: Record<string, Sub> = {
  create: {
    usage: 'network create [--subnet CIDR] [--gateway IP] [--internal] NAME',
    summary: 'Make a network: a bridge, a subnet, NAT rules, and DNS for its containers\' names',
    options: [
      { name: 'subnet', value: true, help: 'its addresses, e.g. 172.30.0.0/16 (default: the first free one of 172.17-31.0.0/16)' },
      { name: 'gateway', value: true, help: 'the bridge\'s own address (default: the first of the subnet)' },
      { name: 'internal', help: 'no way out: no NAT, no forwarding to or from other networks' },
    ],
    run(opts, args, trace) {
      const name = one(args, 'network create NAME');
      const n = createNetwork(trace, { name, subnet: opts.subnet as string | undefined, gateway: opts.gateway as string | undefined, internal: !!opts.internal });
      out(`${n.id}\n`);
      return 0;
    },
  },
  ls: {
    usage: 'network ls',
    summary: 'List networks',
    options: [],
    run(_opts, _args, trace) {
      reapStale(realSys(trace));
      const rows = listNetworks().map((n) => [n.id.slice(0, 12), n.name, 'bridge', n.subnet, n.internal ? 'internal' : '', String(users(n).length)]);
      out(formatTable(['NETWORK ID', 'NAME', 'DRIVER', 'SUBNET', 'SCOPE', 'CONTAINERS'], rows));
      return 0;
    },
  },
  inspect: {
    usage: 'network inspect NETWORK...',
    summary: 'Print what box knows about networks, as JSON',
    options: [],
    run(_opts, args) {
      if (!args.length) throw new UserError(`'box network inspect' needs a network, e.g. box network inspect bridge`);
      out(JSON.stringify(args.map((ref) => inspectView(lookupNetwork(ref))), null, 2) + '\n');
      return 0;
    },
  },
  rm: {
    usage: 'network rm NETWORK...',
    summary: 'Remove networks no container uses',
    options: [],
    run(_opts, args, trace) {
      if (!args.length) throw new UserError(`'box network rm' needs a network, e.g. box network rm mynet`);
      reapStale(realSys(trace));
      let failed = 0;
      for (const ref of args) {
        try {
          removeNetwork(trace, lookupNetwork(ref), liveContainerName);
          out(`${ref}\n`);
        } catch (err) {
          if (!(err instanceof UserError)) throw err;
          process.stderr.write(`box: ${err.message}\n`);
          failed++;
        }
      }
      return failed ? 1 : 0;
    },
  },
  prune: {
    usage: 'network prune',
    summary: 'Remove every network no container uses (the default bridge stays)',
    options: [],
    run(_opts, _args, trace) {
      reapStale(realSys(trace));
      for (const n of listNetworks()) {
        if (n.name === DEFAULT_NETWORK || users(n).length) continue;
        removeNetwork(trace, n, liveContainerName);
        out(`Deleted Network: ${n.name}\n`);
      }
      return 0;
    },
  },
  connect: {
    usage: 'network connect [--ip IP] [--alias NAME] NETWORK CONTAINER',
    summary: 'Connect a running container to a network (one more interface)',
    options: [
      { name: 'ip', value: true, help: 'its address on the network' },
      { name: 'alias', value: true, repeat: true, help: 'another name it answers to there' },
    ],
    async run(opts, args, trace) {
      if (args.length !== 2) throw new UserError(`usage: box network connect NETWORK CONTAINER`);
      await connectContainer(trace, args[0], args[1], { ip: opts.ip as string | undefined, aliases: (opts.alias as string[] | undefined) ?? [] });
      return 0;
    },
  },
  disconnect: {
    usage: 'network disconnect NETWORK CONTAINER',
    summary: 'Disconnect a container from a network',
    options: [],
    run(_opts, args, trace) {
      if (args.length !== 2) throw new UserError(`usage: box network disconnect NETWORK CONTAINER`);
      disconnectContainer(trace, args[0], args[1]);
      return 0;
    },
  },
};

function one(args: string[], usage: string): string {
  if (args.length !== 1) throw new UserError(`usage: box ${usage}`);
  return args[0];
}

/** Live containers with an address on the network. */
function users(n: Network): string[] {
  return leases(n).map((l) => liveContainerName(l.containerId)).filter((u): u is string => u !== null);
}

function inspectView(n: Network): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  for (const l of leases(n)) {
    const s = readState(l.containerId);
    const ep = s?.network?.endpoints.find((e) => e.networkId === n.id);
    containers[l.containerId] = { Name: s?.name ?? null, IPv4Address: `${l.ip}/${n.subnet.split('/')[1]}`, Interface: ep?.veth ?? null, Aliases: ep?.aliases ?? [] };
  }
  return {
    Name: n.name, Id: n.id, Created: n.created, Driver: 'bridge', Internal: n.internal,
    IPAM: { Config: [{ Subnet: n.subnet, Gateway: n.gateway }] },
    Bridge: n.bridge, NftablesTable: `ip ${n.table}`,
    DNS: n.dns ? { Server: `${n.gateway}:53`, Running: dnsRunning(n), Pid: n.dnsPid ?? null, Names: nameRecords(n).map((r) => r.names) } : null,
    Containers: containers,
  };
}

const help = (sub: Sub) => helpText(`box ${sub.usage}`, `${sub.summary}.`, sub.options);

export const networkCommand: Command = {
  summary: 'Manage networks: create, ls, inspect, rm, prune, connect, disconnect',
  help: () => `Usage: box network COMMAND\n\nManage networks.\n\nCommands:\n${
    Object.entries(SUBCOMMANDS).map(([n, c]) => `  ${n.padEnd(11)} ${c.summary}`).join('\n')}\n\nRun 'box network COMMAND --help' for more on a command.\n`,
  passHelp: (argv) => argv.length > 0 && !argv[0].startsWith('-'),
  run: async (argv, trace) => {
    const [name, ...rest] = argv;
    const sub = SUBCOMMANDS[name === 'list' ? 'ls' : name === 'remove' ? 'rm' : name];
    if (!sub) throw new UserError(name ? `'box network ${name}' is not a command; see 'box network --help'` : `'box network' needs a command; see 'box network --help'`);
    if (rest.includes('--help')) {
      out(help(sub));
      return 0;
    }
    const { opts, positionals } = parseArgs(rest, sub.options, `network ${name}`);
    return sub.run(opts, positionals, trace);
  },
};

/** `box port CONTAINER`: its published ports, as `docker port` prints them. */
export const portCommand: Command = {
  summary: "List a container's published ports",
  help: () => helpText('box port CONTAINER', "List a container's published ports.", []),
  run: async (argv) => {
    const { positionals } = parseArgs(argv, [], 'port');
    const s = lookup(one(positionals, 'port CONTAINER'));
    for (const p of s.network?.ports ?? []) out(`${formatPort(p)}\n`);
    return 0;
  },
};
