// Nothing outlives a cluster, even a SIGKILLed one. A killed process cleans nothing up, so
// what the cluster made stays: its agents (if only the control plane died), the pods'
// containers, each node's network namespace and veth, its cgroups, the cluster network (its
// bridge and nftables table), the kubeconfig context. As box does for a container whose box
// died (container/cleanup.ts reapStale), the next box finds the dead one by its records and
// removes all of it: any box command (cli/main.ts), and `box cluster up/down/status`.
//
// Dead means: $BOX_ROOT/cluster/state.json names a control plane whose pid is not that
// process any more (gone, or reused: the start time in /proc/PID/stat differs).

import fs from 'node:fs';
import { detectCgroups } from '../cgroups/index.ts';
import { processStart } from '../container/state.ts';
import { runTool, ToolError } from '../net/tools.ts';
import { realSys } from '../sys/sys.ts';
import { nullTrace } from '../sys/trace.ts';
import { CLUSTER_NETWORK, nodeContainers } from './agent.ts';
import { boxCli } from './box-cli.ts';
import { removeContext } from './kubeconfig.ts';
import { agentPid, clusterCgroup, nodeCgroup, nodeNames } from './node-process.ts';
import { hostVethName, netnsName, NETNS_PREFIX, removeNodeNet, removeNodeNetns } from './node-netns.ts';
import { clusterDir, isControlPlane, readClusterState, type ClusterState } from './paths.ts';

/** Set in a box that is removing a cluster, and so in the boxes it runs: they must not start another reaping. */
const REAPING = 'BOX_CLUSTER_REAPING';
/** Set in a node agent, and so in the boxes it runs: the cluster's own parts leave reaping to the others. */
export const AGENT_ENV = 'BOX_CLUSTER_NODE';

export function controlPlaneAlive(s: ClusterState): boolean {
  return isControlPlane(s.pid) && (!s.pidStart || processStart(s.pid) === s.pidStart);
}

/** Called by every box command: a cluster whose control plane died is removed. Cheap otherwise (one file read). */
export async function reapDeadCluster(): Promise<boolean> {
  if (process.env[REAPING] || process.env[AGENT_ENV]) return false;
  const state = readClusterState();
  if (!state || controlPlaneAlive(state)) return false;
  await removeCluster();
  return true;
}

/** Everything a cluster made, in the order that leaves nothing: processes, then what they held. */
export async function removeCluster(): Promise<void> {
  process.env[REAPING] = '1';
  const lock = takeLock();
  if (!lock) return; // another box is removing it now
  try {
    const state = readClusterState();
    // 1. the processes: agents first (they would start pods again), then the control plane
    for (const n of nodeNames()) { const pid = agentPid(n); if (pid) kill(pid, 'SIGKILL'); }
    if (state && controlPlaneAlive(state)) {
      kill(state.pid, 'SIGTERM');
      for (let i = 0; i < 50 && controlPlaneAlive(state); i++) await new Promise((r) => setTimeout(r, 100));
      if (controlPlaneAlive(state)) kill(state.pid, 'SIGKILL');
    }
    // 2. every pod process of every node at once (their cgroups), then the containers' records
    const cluster = state?.id ? detectCgroups(realSys(nullTrace)).open(clusterCgroup(state.id)) : null;
    try { cluster?.killAll(); } catch { /* gone meanwhile */ }
    for (const name of nodeContainers()) await boxCli(['rm', '-f', name]);
    // 3. the nodes' cgroups and networks, and any of this cluster's a killed `node start` left unrecorded
    if (state?.id) {
      for (const n of nodeNames()) { try { nodeCgroup(state.id, n)?.destroy(); } catch { /* the cluster's destroy below */ } }
      try { cluster?.destroy(); } catch { /* a cgroup the kernel still frees: the next reaper */ }
    }
    for (const n of nodeNames()) removeNodeNet(nullTrace, n);
    if (state?.id) removeStrays(state.id);
    // 4. the cluster network (bridge, nftables table, box-dns), the context, the files
    await boxCli(['network', 'rm', CLUSTER_NETWORK]); // absent: nothing to do
    if (state) removeContext(state.kubeconfig, state.server);
    fs.rmSync(clusterDir(), { recursive: true, force: true });
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/** Network namespaces and veths named for this cluster that no node record names (a box killed between). */
function removeStrays(clusterId: string): void {
  let names: string[] = [];
  try { names = fs.readdirSync('/run/netns'); } catch { /* none */ }
  for (const ns of names.filter((x) => x.startsWith(`${NETNS_PREFIX}${clusterId}-`))) {
    const node = ns.slice(netnsName(clusterId, '').length);
    removeNodeNetns(nullTrace, { netns: ns, veth: hostVethName(clusterId, node) });
  }
  for (const link of fs.readdirSync('/sys/class/net').filter((x) => x.startsWith(hostVethName(clusterId, '')))) {
    try { runTool(nullTrace, 'ip', ['link', 'del', link]); } catch (err) { if (!(err instanceof ToolError)) throw err; }
  }
}

/** One reaper at a time: a lock file with its pid; a dead holder's lock is taken over. */
function takeLock(): string | null {
  const lock = `${clusterDir()}.reaping`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return lock;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') { fs.mkdirSync(clusterDir().replace(/\/[^/]+$/, ''), { recursive: true }); continue; }
      const holder = Number(fs.readFileSync(lock, 'utf8'));
      if (holder && fs.existsSync(`/proc/${holder}`)) return null;
      fs.rmSync(lock, { force: true });
    }
  }
  return null;
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig); } catch { /* gone already */ }
}
