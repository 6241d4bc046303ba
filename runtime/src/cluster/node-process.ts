// A node: what a machine of the cluster would be, made of the kernel's isolation parts.
//   network: its own network namespace with an address on the cluster network (node-netns.ts);
//   cgroup:  its own subtree, box/cluster-<id>/node-1, whose memory and CPU limits are the
//            node's capacity; every pod container's cgroup is made below it (box run
//            --cgroup-parent), so the pods together cannot take more than the node has;
//   agent:   `box cluster __agent node-1`, run (nsenter --net) in the node's namespace, its pid
//            in $BOX_ROOT/cluster/nodes/node-1.pid. It stays outside the node's cgroup, as a
//            kubelet runs in system.slice beside the kubepods slice it limits.
// Stopping a node is a power cut: the agent is killed, and one kill of the node's cgroup takes
// every process of every pod at once; then the containers' records, the cgroup and the
// namespace go. The control plane notices only that the heartbeats stop (node-lifecycle.ts).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { detectCgroups, type Cgroup } from '../cgroups/index.ts';
import { realSys } from '../sys/sys.ts';
import { nullTrace } from '../sys/trace.ts';
import { CLUSTER_NETWORK, NodeAgent, nodeContainers } from './agent.ts';
import { boxCli, boxCommand, runBoxInNetns } from './box-cli.ts';
import { ApiClient } from './client.ts';
import { makeNodeNetns, netnsPath, ownAddress, removeNodeNet } from './node-netns.ts';
import { quantity } from './objects.ts';
import { clusterFile, readClusterState } from './paths.ts';

/** What each node has unless `cluster up` says otherwise, and its cgroup enforces: the Node's capacity (and allocatable). */
export const NODE_CAPACITY = { cpu: '2', memory: '2Gi' };

const pidFile = (node: string) => clusterFile(path.join('nodes', `${node}.pid`));

/** The cluster's cgroup directory below box's: each node's is a child of it. */
export const clusterCgroup = (clusterId: string) => `cluster-${clusterId}`;

export function nodeNames(): string[] {
  try { return fs.readdirSync(clusterFile('nodes')).filter((f) => f.endsWith('.pid')).map((f) => f.slice(0, -4)).sort(); } catch { return []; }
}

export function agentPid(node: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(pidFile(node), 'utf8'));
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('__agent') ? pid : undefined;
  } catch { return undefined; }
}

/** The node's cgroup (made with its limits if `create`), or null. */
export function nodeCgroup(clusterId: string, node: string, create = false, capacity = NODE_CAPACITY): Cgroup | null {
  const driver = detectCgroups(realSys(nullTrace), { sub: clusterCgroup(clusterId) });
  if (!create) return driver.open(node);
  const cg = driver.open(node) ?? driver.create(node);
  // the capacity the Node reports is the limit the kernel holds its pods to
  cg.setLimits({ memoryBytes: quantity(capacity.memory), cpuQuotaUs: Math.round(quantity(capacity.cpu) * 100_000), cpuPeriodUs: 100_000 });
  return cg;
}

export function startNode(node: string): number {
  const state = readClusterState();
  if (!state) throw new Error('no cluster state');
  fs.mkdirSync(clusterFile('nodes'), { recursive: true });
  nodeCgroup(state.id, node, true, state.nodeCapacity);
  const net = makeNodeNetns(nullTrace, state.id, node, CLUSTER_NETWORK);
  const log = fs.openSync(clusterFile(path.join('nodes', `${node}.log`)), 'a');
  const [cmd, ...args] = boxCommand();
  // nsenter --net: only the network namespace changes; the agent shares the machine's files
  const child = spawn('nsenter', [`--net=${netnsPath(net.netns)}`, '--', cmd, ...args, 'cluster', '__agent', node], {
    detached: true, stdio: ['ignore', log, log], env: { ...process.env, PATH: `/usr/sbin:/usr/bin:/sbin:/bin:${process.env.PATH ?? ''}` },
  });
  fs.closeSync(log);
  child.unref();
  fs.writeFileSync(pidFile(node), String(child.pid));
  return child.pid!;
}

/** Power off: the agent, every process of its pods (one cgroup), their records, its cgroup and network. */
export async function stopNode(node: string): Promise<void> {
  const pid = agentPid(node);
  if (pid) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone already */ } }
  const state = readClusterState();
  const cg = state ? nodeCgroup(state.id, node) : null;
  cg?.killAll();
  const containers = nodeContainers(node);
  if (containers.length) await boxCli(['rm', '-f', ...containers]);
  cg?.destroy();
  removeNodeNet(nullTrace, node);
}

/** The agent's main loops: heartbeat and sync once a second, until killed. */
export async function agentMain(node: string): Promise<number> {
  const state = readClusterState();
  if (!state) throw new Error('no cluster state');
  const token = fs.readFileSync(clusterFile('token'), 'utf8').trim();
  const ca = fs.readFileSync(clusterFile('apiserver.crt'), 'utf8');
  runBoxInNetns(`/proc/${state.pid}/ns/net`);
  process.env.BOX_CLUSTER_NODE = node; // reaper.ts AGENT_ENV: the boxes it runs leave reaping to others
  const agent = new NodeAgent(new ApiClient(state.nodeServer ?? state.server, token, ca), node, {
    address: ownAddress(), capacity: state.nodeCapacity ?? NODE_CAPACITY, cgroupParent: `${clusterCgroup(state.id)}/${node}`,
  });
  agent.log = (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  agent.log(`${node}: address ${agent.place.address}, API server ${state.nodeServer ?? state.server}, pods in cgroup ${agent.place.cgroupParent}`);
  // two loops: a slow sync (starting containers takes seconds) must not silence the heartbeat
  const beat = async () => {
    try { await agent.heartbeat(); } catch (err) { agent.log(`heartbeat: ${(err as Error).message}`); }
    setTimeout(beat, 1000);
  };
  void beat();
  for (;;) {
    try { await agent.sync(); } catch (err) { agent.log(`sync: ${(err as Error).message}`); }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
