// `box cluster`: start, show and remove the small Kubernetes-shaped cluster of cluster/.
// Parsing and printing only.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { controlPlaneMain } from '../cluster/control-plane.ts';
import { makeServingCert } from '../cluster/certs.ts';
import { addContext, kubeconfigPath, removeContext } from '../cluster/kubeconfig.ts';
import { clusterDir, clusterFile, isControlPlane, readClusterState, type ClusterState } from '../cluster/paths.ts';
import { UserError } from '../sys/errors.ts';
import type { Trace } from '../sys/trace.ts';
import { parseArgs, type OptionSpec } from './args.ts';

const USAGE = `Usage: box cluster COMMAND

Run a small Kubernetes-shaped cluster on this machine, driven by kubectl.

Commands:
  up [--nodes N]   Start the control plane (and N nodes), write the kubeconfig context 'box'
  status           Show the control plane's address and state
  down             Stop everything the cluster made and remove its kubeconfig context
`;

export const clusterHelp = () => USAGE;

export async function clusterCommand(argv: string[], _trace: Trace): Promise<number> {
  const sub = argv.shift();
  if (sub === '__control-plane') return controlPlaneMain();
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
  fs.rmSync(clusterDir(), { recursive: true, force: true }); // what a cluster killed by SIGKILL left
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
  process.stdout.write(`cluster up: API server ${state.server}; kubectl's context 'box' is in ${state.kubeconfig}\n`);
  return 0;
}

async function down(): Promise<number> {
  const state = readClusterState();
  if (state && isControlPlane(state.pid)) {
    process.kill(state.pid, 'SIGTERM');
    for (let i = 0; i < 50 && isControlPlane(state.pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (isControlPlane(state.pid)) process.kill(state.pid, 'SIGKILL');
  }
  if (state) removeContext(state.kubeconfig);
  fs.rmSync(clusterDir(), { recursive: true, force: true });
  process.stdout.write(state ? 'cluster down\n' : 'no cluster to take down\n');
  return 0;
}

function status(): number {
  const state = readClusterState();
  if (!state || !isControlPlane(state.pid)) {
    process.stdout.write('no cluster is running\n');
    return 1;
  }
  process.stdout.write(`control plane: pid ${state.pid}, API server ${state.server}\nkubeconfig: ${state.kubeconfig} (context box)\n`);
  return 0;
}
