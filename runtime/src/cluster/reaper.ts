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
import { forgetCluster, orphanClusters } from './host-record.ts';
import { deleteProxyTable, proxyTable } from './service-proxy.ts';
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
  reapOrphanClusters();
  const state = readClusterState();
  if (!state || controlPlaneAlive(state)) return false;
  await removeCluster();
  return true;
}

/** For any box command: reap, but a failure to (another user's, a busy cgroup) must not fail the command; the next box tries again. */
export async function reapBeforeCommand(): Promise<void> {
  try {
    await reapDeadCluster();
  } catch (err) {
    process.stderr.write(`box: warning: could not remove what a dead cluster left: ${(err as Error).message.split('\n')[0]}\n`);
  }
}

/** Everything a cluster made, in the order that leaves nothing: processes, then what they held.
 * `id`: the cluster's, when `cluster up` fails before its state is written. */
export async function removeCluster(id?: string): Promise<void> {
  process.env[REAPING] = '1';
  const lock = takeLock();
  if (!lock) return; // another box is removing it now
  try {
    const state = readClusterState();
    id = state?.id ?? id;
    // 1. the processes: agents first (they would start pods again), then the control plane
    for (const n of nodeNames()) { const pid = agentPid(n); if (pid) kill(pid, 'SIGKILL'); }
    if (state && controlPlaneAlive(state)) {
      kill(state.pid, 'SIGTERM');
      for (let i = 0; i < 50 && controlPlaneAlive(state); i++) await new Promise((r) => setTimeout(r, 100));
      if (controlPlaneAlive(state)) kill(state.pid, 'SIGKILL');
    }
    // 2. every pod process of every node at once (their cgroups), then the containers' records
    const cluster = id ? detectCgroups(realSys(nullTrace)).open(clusterCgroup(id)) : null;
    try { cluster?.killAll(); } catch { /* gone meanwhile */ }
    const containers = nodeContainers();
    if (containers.length) await boxCli(['rm', '-f', ...containers]); // one box for all: each costs a process start
    // 3. the nodes' cgroups and networks, and any of this cluster's a killed `node start` left unrecorded
    if (id) {
      for (const n of nodeNames()) { try { nodeCgroup(id, n)?.destroy(); } catch { /* the cluster's destroy below */ } }
      try { cluster?.destroy(); } catch { /* a cgroup the kernel still frees: the next reaper */ }
    }
    for (const n of nodeNames()) removeNodeNet(nullTrace, n);
    if (id) removeStrays(id);
    // 4. the service proxy's table (gone with its process, unless that was SIGKILLed), the
    // cluster network (bridge, nftables table, box-dns), the context, the files
    deleteProxyTable();
    await boxCli(['network', 'rm', CLUSTER_NETWORK]); // absent: nothing to do
    if (state) removeContext(state.kubeconfig, state.server);
    if (id) forgetCluster(id);
    fs.rmSync(clusterDir(), { recursive: true, force: true });
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/**
 * Clusters whose box root is gone (host-record.ts): no records of their containers are left
 * to remove them by, so what they made goes by its names and places: the control plane by its
 * pid, the agents by their network namespaces, every pod (and the DNS holder) by the
 * cluster's cgroup; the bridge and its box-dns go with the network's own orphans
 * (net/bridge.ts reapOrphanBridges).
 */
export function reapOrphanClusters(): void {
  for (const r of orphanClusters()) {
    if (isControlPlane(r.pid) && (!r.pidStart || processStart(r.pid) === r.pidStart)) kill(r.pid, 'SIGKILL');
    for (const pid of processesInNetns(`${NETNS_PREFIX}${r.id}-`)) kill(pid, 'SIGKILL');
    const cluster = detectCgroups(realSys(nullTrace)).open(clusterCgroup(r.id));
    try { cluster?.killAll(); cluster?.destroy(); } catch { /* the next reaper */ }
    removeStrays(r.id);
    deleteProxyTable(proxyTable(r.clusterDir));
    removeContext(r.kubeconfig, r.server);
    forgetCluster(r.id);
  }
}

/** The processes in any named network namespace whose name starts with `prefix` (a node's agent). */
function processesInNetns(prefix: string): number[] {
  let names: string[] = [];
  try { names = fs.readdirSync('/run/netns').filter((n) => n.startsWith(prefix)); } catch { return []; }
  const inodes = new Set(names.map((n) => { try { return `net:[${fs.statSync(`/run/netns/${n}`).ino}]`; } catch { return ''; } }));
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try { return pid !== process.pid && inodes.has(fs.readlinkSync(`/proc/${pid}/ns/net`)); } catch { return false; }
  });
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
