// `box cluster`: start, show and remove the small Kubernetes-shaped cluster of cluster/.
// Parsing and printing only.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { CLUSTER_NETWORK, NODE_LABEL, nodeContainers } from '../cluster/agent.ts';
import { boxCli } from '../cluster/box-cli.ts';
import { controlPlaneMain } from '../cluster/control-plane.ts';
import { agentMain, agentPid, nodeNames, startNode, stopNode } from '../cluster/node-process.ts';
import { makeServingCert } from '../cluster/certs.ts';
import { addContext, kubeconfigPath, removeContext } from '../cluster/kubeconfig.ts';
import { deleteProxyTable } from '../cluster/service-proxy.ts';
import { clusterDir, clusterFile, isControlPlane, readClusterState, type ClusterState } from '../cluster/paths.ts';
import { UserError } from '../sys/errors.ts';
import type { Trace } from '../sys/trace.ts';
import { parseArgs, type OptionSpec } from './args.ts';

const USAGE = `Usage: box cluster COMMAND

Run a small Kubernetes-shaped cluster on this machine, driven by kubectl.

Commands:
  up [--nodes N]       Start the control plane and N nodes (default 1), write the kubeconfig context 'box'
  status               Show the control plane and the nodes
  node stop|start NODE Power a node off (its agent and its pods' containers) or on again
  down                 Stop everything the cluster made and remove its kubeconfig context
`;

export const clusterHelp = () => USAGE;

export async function clusterCommand(argv: string[], _trace: Trace): Promise<number> {
  const sub = argv.shift();
  if (sub === '__control-plane') return controlPlaneMain();
  if (sub === '__agent') return agentMain(argv[0]);
  if (sub === 'node') return node(argv);
  if (sub === 'up') return up(argv);
  if (sub === 'down') return down();
  if (sub === 'status') return status();
  if (!sub) { process.stdout.write(USAGE); return 1; }
  throw new UserError(`'${sub}' is not a box cluster command; see 'box cluster --help'`);
}

const UP_OPTIONS: OptionSpec[] = [{ name: 'nodes', value: true, help: 'how many nodes (default 1)' }];

async function up(argv: string[]): Promise<number> {
  const { opts } = parseArgs(argv, UP_OPTIONS, 'cluster up');
  const nodes = Number(opts.nodes ?? 1);
  if (!Number.isInteger(nodes) || nodes < 0 || nodes > 8) throw new UserError(`--nodes ${opts.nodes}: give a whole number from 0 to 8`);
  const running = readClusterState();
  if (running && isControlPlane(running.pid)) throw new UserError(`a cluster is already running (${running.server}); 'box cluster down' first`);
  await removeAll(); // what a cluster killed by SIGKILL left
  fs.mkdirSync(clusterDir(), { recursive: true, mode: 0o700 });
  const token = randomBytes(24).toString('hex');
  fs.writeFileSync(clusterFile('token'), `${token}\n`, { mode: 0o600 });
  const { cert } = makeServingCert();
  const log = fs.openSync(clusterFile('control-plane.log'), 'a');
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], 'cluster', '__control-plane'], {
    detached: true, stdio: ['ignore', log, log, 'pipe'],
  });
  fs.closeSync(log);
  let out = '';
  const pipe = child.stdio[3] as Readable;
  pipe.setEncoding('utf8');
  for await (const chunk of pipe) out += chunk;
  child.unref();
  const line = out.trim();
  if (!line.startsWith('ok ')) throw new UserError(`the control plane did not start; see ${clusterFile('control-plane.log')}`);
  const state: ClusterState = { pid: child.pid!, server: line.slice(3), kubeconfig: kubeconfigPath(), nodes };
  fs.writeFileSync(clusterFile('state.json'), JSON.stringify(state));
  addContext(state.kubeconfig, state.server, token, cert);
  if (nodes > 0) {
    // one cluster network for every pod: any pod reaches any other without routes between
    // nodes, and a node that stops still takes only its own pods with it (a real cluster's
    // CNI gives each node a subnet and routes them; the lesson says so)
    const r = await boxCli(['network', 'create', CLUSTER_NETWORK]);
    if (r.code !== 0) { await removeAll(); throw new UserError(`the cluster network could not be made: ${r.stderr.trim().replace(/^box: /, '')}`); }
    // the network's DNS server (box-dns) runs while the network has a container: this one
    // holds it from the start, as a cluster's DNS pods do, so pods starting at once on three
    // nodes do not race to start it
    const dns = await boxCli(['run', '-d', '--name', 'box-cluster-dns', '--network', CLUSTER_NETWORK, '--label', `${NODE_LABEL}=control-plane`, 'busybox', 'sleep', '2147483647']);
    if (dns.code !== 0) { await removeAll(); throw new UserError(`the cluster's DNS holder did not start: ${dns.stderr.trim().replace(/^box: /, '')}`); }
  }
  for (let i = 1; i <= nodes; i++) startNode(`node-${i}`);
  process.stdout.write(`cluster up: API server ${state.server}; kubectl's context 'box' is in ${state.kubeconfig}\n`);
  return 0;
}

/** Everything a cluster made: nodes (agents, containers), its network, the control plane, files. */
async function removeAll(): Promise<void> {
  for (const n of nodeNames()) await stopNode(n);
  for (const name of nodeContainers()) await boxCli(['rm', '-f', name]); // of nodes whose files are gone
  const state = readClusterState();
  if (state && isControlPlane(state.pid)) {
    process.kill(state.pid, 'SIGTERM');
    for (let i = 0; i < 50 && isControlPlane(state.pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (isControlPlane(state.pid)) process.kill(state.pid, 'SIGKILL');
  }
  deleteProxyTable(); // the service proxy's rules: gone with its process, unless it was SIGKILLed
  await boxCli(['network', 'rm', CLUSTER_NETWORK]); // absent: nothing to do
  fs.rmSync(clusterDir(), { recursive: true, force: true });
}

async function down(): Promise<number> {
  const state = readClusterState();
  await removeAll();
  if (state) removeContext(state.kubeconfig);
  process.stdout.write(state ? 'cluster down\n' : 'no cluster to take down\n');
  return 0;
}

async function node(argv: string[]): Promise<number> {
  const [action, name] = argv;
  if (!readClusterState()) throw new UserError("no cluster is running; 'box cluster up' first");
  if (!name || !['stop', 'start'].includes(action)) throw new UserError('usage: box cluster node stop|start NODE');
  if (!nodeNames().includes(name)) throw new UserError(`no node ${name}; the nodes are ${nodeNames().join(', ')}`);
  if (action === 'stop') { await stopNode(name); process.stdout.write(`${name} stopped\n`); } else {
    if (agentPid(name)) throw new UserError(`${name} is running already`);
    startNode(name);
    process.stdout.write(`${name} started\n`);
  }
  return 0;
}

function status(): number {
  const state = readClusterState();
  if (!state || !isControlPlane(state.pid)) {
    process.stdout.write('no cluster is running\n');
    return 1;
  }
  process.stdout.write(`control plane: pid ${state.pid}, API server ${state.server}\nkubeconfig: ${state.kubeconfig} (context box)\n`);
  for (const n of nodeNames()) { const pid = agentPid(n); process.stdout.write(`${n}: ${pid ? `agent pid ${pid}` : 'stopped'}\n`); }
  return 0;
}
