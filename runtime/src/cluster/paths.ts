// Where a cluster keeps its files: $BOX_ROOT/cluster/{state.json,token,store.json,control-plane.log}.

import fs from 'node:fs';
import path from 'node:path';
import { boxRoot } from '../image/paths.ts';

export const clusterDir = () => path.join(boxRoot(), 'cluster');
export const clusterFile = (name: string) => path.join(clusterDir(), name);

export interface ClusterState {
  /** The control plane's pid, and its start time (/proc/PID/stat): a pid reused since is not it. */
  pid: number;
  pidStart?: string;
  /** Random, in every name the cluster gives the host: netns, veths, cgroups (two box roots, two clusters). */
  id: string;
  /** The API server for kubectl (loopback), and for the nodes (the cluster network's gateway). */
  server: string;
  nodeServer?: string;
  kubeconfig: string;
  nodes: number;
  /** What each node has (--node-cpus, --node-memory), in Kubernetes quantities: its cgroup's limits. */
  nodeCapacity?: { cpu: string; memory: string };
}

export function readClusterState(): ClusterState | undefined {
  try { return JSON.parse(fs.readFileSync(clusterFile('state.json'), 'utf8')) as ClusterState; } catch { return undefined; }
}

/** Is this pid our control plane, and not some other process that got its number since? */
export function isControlPlane(pid: number): boolean {
  try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('__control-plane'); } catch { return false; }
}
