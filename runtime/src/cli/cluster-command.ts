// `box cluster`: start, show and remove the small Kubernetes-shaped cluster of cluster/.
// Parsing and printing only.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { CLUSTER_NETWORK, NODE_LABEL } from '../cluster/agent.ts';
import { boxCli } from '../cluster/box-cli.ts';
import { controlPlaneMain } from '../cluster/control-plane.ts';
import { agentMain, agentPid, clusterCgroup, NODE_CAPACITY, nodeNames, startNode, stopNode } from '../cluster/node-process.ts';
import { quantity } from '../cluster/objects.ts';
import { nodeNet } from '../cluster/node-netns.ts';
import { makeServingCert } from '../cluster/certs.ts';
import { addContext, kubeconfigPath } from '../cluster/kubeconfig.ts';
import { clusterDir, clusterFile, readClusterState, type ClusterState } from '../cluster/paths.ts';
import { controlPlaneAlive, reapDeadCluster, removeCluster } from '../cluster/reaper.ts';
import { recordCluster } from '../cluster/host-record.ts';
import { processStart } from '../container/state.ts';
import { lookupNetwork } from '../net/store.ts';
import { UserError } from '../sys/errors.ts';
import { spawnDetached } from '../sys/detached.ts';
import { cpuCeiling } from '../cgroups/ceiling.ts';
import type { Trace } from '../sys/trace.ts';
import { parseArgs, type OptionSpec } from '../container/args.ts';

const USAGE = `Usage: box cluster COMMAND

Run a small Kubernetes-shaped cluster on this machine, driven by kubectl.

Commands:
  up [--nodes N] [--node-cpus CPUS] [--node-memory SIZE]
                       Start the control plane and N nodes (default 1, each 2 CPUs and 2Gi),
                       write the kubeconfig context 'box'
  status               Show the control plane and the nodes
  node stop|start NODE Power a node off (its agent and its pods' containers) or on again
  down                 Stop everything the cluster made and remove its kubeconfig context
`;

export const clusterHelp = () => USAGE;

export async function clusterCommand(argv: string[], _trace: Trace): Promise<number> {
  const sub = argv.shift();
  if (sub === '--help' || sub === '-h' || sub === 'help' || (sub && !sub.startsWith('__') && argv.includes('--help'))) { process.stdout.write(USAGE); return 0; }
  if (sub === '__control-plane') return controlPlaneMain(argv[0]);
  if (sub === '__agent') return agentMain(argv[0]);
  if (sub === 'node') return node(argv);
  if (sub === 'up') return up(argv);
  if (sub === 'down') return down();
  if (sub === 'status') return status();
  if (!sub) { process.stdout.write(USAGE); return 1; }
  throw new UserError(`'${sub}' is not a box cluster command; see 'box cluster --help'`);
}

const UP_OPTIONS: OptionSpec[] = [
  { name: 'nodes', value: true, help: 'how many nodes (default 1)' },
  { name: 'node-cpus', value: true, help: 'CPUs of each node, a limit of its cgroup (default 2, or what box\'s own cgroup allows if less; e.g. 1, 500m)' },
  { name: 'node-memory', value: true, help: 'memory of each node, a limit of its cgroup (default 2Gi; e.g. 512Mi)' },
];

/** --node-cpus and --node-memory, checked: the Node's capacity and its cgroup's limits. */
function nodeCapacity(opts: Record<string, unknown>): { cpu: string; memory: string } {
  // each node's cgroup is below box's own, which may itself be limited (a lab sandbox's --cpus 1):
  // on v1 the kernel refuses a node more CPU than that, so the default is no more than it
  const ceiling = cpuCeiling();
  const most = Number.isInteger(ceiling) ? String(ceiling) : `${Math.floor(ceiling * 1000)}m`;
  const cpu = String(opts['node-cpus'] ?? (ceiling < quantity(NODE_CAPACITY.cpu) ? most : NODE_CAPACITY.cpu));
  const memory = String(opts['node-memory'] ?? NODE_CAPACITY.memory);
  if (!(quantity(cpu) >= 0.01)) throw new UserError(`--node-cpus ${cpu}: give CPUs as Kubernetes writes them, at least 10m, e.g. 1 or 500m`);
  if (quantity(cpu) > ceiling) throw new UserError(`--node-cpus ${cpu}: box's own cgroup allows at most ${most} CPU; give that or less`);
  if (!(quantity(memory) >= 32 * 2 ** 20)) throw new UserError(`--node-memory ${memory}: give a size as Kubernetes writes it, at least 32Mi, e.g. 512Mi or 2Gi`);
  return { cpu, memory };
}

async function up(argv: string[]): Promise<number> {
  const { opts } = parseArgs(argv, UP_OPTIONS, 'cluster up');
  const nodes = Number(opts.nodes ?? 1);
  if (!Number.isInteger(nodes) || nodes < 0 || nodes > 8) throw new UserError(`--nodes ${opts.nodes}: give a whole number from 0 to 8`);
  const capacity = nodeCapacity(opts);
  const id = randomBytes(3).toString('hex'); // in every name the cluster gives the host
  const running = readClusterState();
  if (running && controlPlaneAlive(running)) throw new UserError(`a cluster is already running (${running.server}); 'box cluster down' first`);
  await removeCluster(); // what a cluster killed by SIGKILL left
  fs.mkdirSync(clusterDir(), { recursive: true, mode: 0o700 });
  const token = randomBytes(24).toString('hex');
  fs.writeFileSync(clusterFile('token'), `${token}\n`, { mode: 0o600 });
  let gateway: string | undefined;
  if (nodes > 0) {
    // one cluster network for every node and every pod: a LAN. Each node has its own
    // namespace and address on it (node-netns.ts), and its pods are cabled into the same
    // switch, so any pod reaches any other without routes between nodes, and a node that
    // stops still takes only its own pods with it (a real cluster's CNI gives each node a
    // subnet and routes them; the lesson says so)
    const r = await boxCli(['network', 'create', CLUSTER_NETWORK]);
    if (r.code !== 0) { await removeCluster(id); throw new UserError(`the cluster network could not be made: ${r.stderr.trim().replace(/^box: /, '')}`); }
    // the network's DNS server (box-dns) runs while the network has a container: this one
    // holds it from the start, as a cluster's DNS pods do, so pods starting at once on three
    // nodes do not race to start it
    const dns = await boxCli(['run', '-d', '--name', 'box-cluster-dns', '--network', CLUSTER_NETWORK, '--cgroup-parent', clusterCgroup(id), '--label', `${NODE_LABEL}=control-plane`, 'busybox', 'sleep', '2147483647']);
    if (dns.code !== 0) { await removeCluster(id); throw new UserError(`the cluster's DNS holder did not start: ${dns.stderr.trim().replace(/^box: /, '')}`); }
    gateway = lookupNetwork(CLUSTER_NETWORK).gateway; // where the nodes reach the API server
  }
  const { cert } = makeServingCert(gateway ? [gateway] : []);
  const log = fs.openSync(clusterFile('control-plane.log'), 'a');
  const child = spawnDetached(process.execPath, [...process.execArgv, process.argv[1], 'cluster', '__control-plane', ...(gateway ? [gateway] : [])], { output: log });
  fs.closeSync(log);
  const line = await child.report;
  if (!line.startsWith('ok ')) { await removeCluster(id); throw new UserError(`the control plane did not start; see ${clusterFile('control-plane.log')}`); }
  const [server, nodeServer] = line.slice(3).split(' ');
  const state: ClusterState = {
    pid: child.pid, pidStart: processStart(child.pid) ?? undefined, id,
    server, nodeServer, kubeconfig: kubeconfigPath(), nodes, nodeCapacity: capacity,
  };
  fs.writeFileSync(clusterFile('state.json'), JSON.stringify(state));
  recordCluster({ id, clusterDir: clusterDir(), pid: state.pid, pidStart: state.pidStart, kubeconfig: state.kubeconfig, server });
  addContext(state.kubeconfig, state.server, token, cert);
  try {
    for (let i = 1; i <= nodes; i++) startNode(`node-${i}`);
  } catch (err) {
    await removeCluster(id); // all or nothing
    throw err;
  }
  process.stdout.write(`cluster up: API server ${state.server}; kubectl's context 'box' is in ${state.kubeconfig}\n`);
  return 0;
}

async function down(): Promise<number> {
  const state = readClusterState();
  await removeCluster(); // the context too
  process.stdout.write(state ? 'cluster down\n' : 'no cluster to take down\n');
  return 0;
}

async function node(argv: string[]): Promise<number> {
  const [action, name] = argv;
  if (await reapDeadCluster() || !readClusterState()) throw new UserError("no cluster is running; 'box cluster up' first");
  if (!name || !['stop', 'start'].includes(action)) throw new UserError('usage: box cluster node stop|start NODE');
  if (!nodeNames().includes(name)) throw new UserError(`no node ${name}; the nodes are ${nodeNames().join(', ')}`);
  if (action === 'stop') { await stopNode(name); process.stdout.write(`${name} stopped\n`); } else {
    if (agentPid(name)) throw new UserError(`${name} is running already`);
    await stopNode(name); // what a killed agent left: its pods' processes, cgroup, namespace
    startNode(name);
    process.stdout.write(`${name} started\n`);
  }
  return 0;
}

async function status(): Promise<number> {
  const reaped = await reapDeadCluster();
  const state = readClusterState();
  if (!state) {
    process.stdout.write(reaped ? 'no cluster is running (the control plane had died: box removed what it left)\n' : 'no cluster is running\n');
    return 1;
  }
  process.stdout.write(`control plane: pid ${state.pid}, API server ${state.server}${state.nodeServer ? ` (nodes: ${state.nodeServer})` : ''}\nkubeconfig: ${state.kubeconfig} (context box)\n`);
  for (const n of nodeNames()) {
    const pid = agentPid(n);
    const net = nodeNet(n);
    process.stdout.write(`${n}: ${pid ? `agent pid ${pid}` : 'stopped'}${net && pid ? `, address ${net.ip}, netns ${net.netns}, cgroup ${clusterCgroup(state.id)}/${n}` : ''}\n`);
  }
  return 0;
}
