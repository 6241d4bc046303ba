// The node agent (the kubelet): one process per node. Every second it reports that its node
// is alive (the Node object's Ready condition and heartbeat), reads the pods the scheduler
// gave it, and makes the node's containers match them: start what is missing, restart per
// restartPolicy what exited or failed its liveness probe, remove what no pod wants any more.
// It probes readiness (a pod is Ready only while every container passes) and writes what it
// saw to each pod's status, which is all the control plane ever knows of a node.

import { listIds, monitorAlive, readState } from '../container/state.ts';
import { boxCli } from './box-cli.ts';
import type { ApiClient } from './client.ts';
import { configArgs, ConfigError, removePodDirs } from './configmaps.ts';
import { probe } from './probe.ts';
import { podSearch } from './service-dns.ts';
import { quantity } from './objects.ts';
import type { Obj } from './store.ts';

export const CLUSTER_NETWORK = 'box-cluster';
export const NODE_LABEL = 'box.cluster.node';
const POD_LABEL = 'box.cluster.pod';

/** Where a node is (node-process.ts, node-netns.ts): its address, what its cgroup allows, where its pods' cgroups go. */
export interface NodePlace {
  /** Its InternalIP: the address of eth0 in its network namespace. */
  address?: string;
  /** Its capacity, which its cgroup enforces: CPUs and memory (e.g. '2', '2Gi'). */
  capacity?: { cpu: string; memory: string };
  /** `box run --cgroup-parent`: the node's cgroup (cluster-<id>/node-1), whose limits hold for every pod in it. */
  cgroupParent?: string;
}

interface Kept { restarts: number; ready: boolean; live: number; startedAt: number; exitCode?: number; lastStart: number }

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
export const containerName = (pod: Obj, c: Obj) => `${pod.metadata.name}.${c.name}.${pod.metadata.uid.slice(0, 6)}`;

export class NodeAgent {
  private kept = new Map<string, Kept>(); // per container name
  private api: ApiClient;
  readonly node: string;
  readonly place: NodePlace;
  log: (line: string) => void = () => {};

  constructor(api: ApiClient, node: string, place: NodePlace = {}) {
    this.api = api;
    this.node = node;
    this.place = place;
  }

  /** The Node object: who it is, what it can hold, and that it is Ready now. */
  async heartbeat(): Promise<void> {
    const path = `/api/v1/nodes/${this.node}`;
    const cur = await this.api.request('GET', path);
    const node = cur.code === 404 ? { apiVersion: 'v1', kind: 'Node', metadata: { name: this.node, labels: { 'kubernetes.io/hostname': this.node } }, spec: {} } : cur.body;
    const capacity = { ...(this.place.capacity ?? { cpu: '2', memory: '2Gi' }), pods: '110' };
    node.status = {
      capacity, allocatable: capacity,
      addresses: [...(this.place.address ? [{ type: 'InternalIP', address: this.place.address }] : []), { type: 'Hostname', address: this.node }],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'box node agent is posting ready status', lastHeartbeatTime: now(), lastTransitionTime: node.status?.conditions?.[0]?.status === 'True' ? node.status.conditions[0].lastTransitionTime : now() }],
      nodeInfo: { kubeletVersion: 'box', containerRuntimeVersion: 'box', operatingSystem: 'linux', architecture: 'amd64' },
    };
    if (cur.code === 404) await this.api.must('POST', '/api/v1/nodes', node);
    else await this.api.must('PUT', `${path}/status`, node);
  }

  async sync(): Promise<void> {
    const list = await this.api.must('GET', `/api/v1/pods?fieldSelector=spec.nodeName%3D${this.node}`);
    const pods: Obj[] = list.items;
    const wanted = new Set<string>();
    for (const pod of pods) for (const c of pod.spec.containers) wanted.add(containerName(pod, c));
    await Promise.all(pods.map((pod) => this.syncPod(pod).catch((err) => this.log(`pod ${pod.metadata.name}: ${(err as Error).message}`))));
    removePodDirs(this.node, new Set(pods.map((p) => p.metadata.uid)));
    // containers of pods that are gone (deleted, evicted): remove them
    for (const name of nodeContainers(this.node)) {
      if (!wanted.has(name)) { await boxCli(['rm', '-f', name]); this.kept.delete(name); this.log(`removed container ${name}`); }
    }
  }

  private async syncPod(pod: Obj): Promise<void> {
    const statuses: Obj[] = [];
    let podIP: string | undefined;
    let phase = 'Running';
    const policy = pod.spec.restartPolicy ?? 'Always';
    for (const [i, c] of pod.spec.containers.entries()) {
      const name = containerName(pod, c);
      let info = await inspect(name);
      let k = this.kept.get(name);
      const code = info?.State.ExitCode;
      const restartable = policy === 'Always' || (policy === 'OnFailure' && code !== 0);
      // back off as the kubelet does (CrashLoopBackOff): 1 s, 2 s, 4 s... up to 30 s
      const waited = !k || Date.now() - k.lastStart >= Math.min(30_000, 1000 * 2 ** Math.min(k.restarts, 5));
      const exited = info && info.State.Status !== 'running';
      const unhealthy = info && !exited && k && c.livenessProbe && k.live >= (c.livenessProbe.failureThreshold ?? 3);
      if ((exited && restartable && waited) || unhealthy) {
        this.log(`pod ${pod.metadata.name}: restarting ${c.name} (${unhealthy ? 'liveness probe failed' : `exit ${code}`})`);
        await boxCli(['rm', '-f', name]);
        info = undefined;
        if (k) { k.restarts += 1; k.live = 0; }
      }
      if (!info) {
        const config = await this.configOf(pod, c);
        if (typeof config === 'string') {
          statuses.push({ name: c.name, image: c.image, ready: false, restartCount: k?.restarts ?? 0, state: { waiting: { reason: 'CreateContainerConfigError', message: config } } });
          phase = 'Pending';
          continue;
        }
        const r = await boxCli(this.runArgs(pod, c, i === 0 ? undefined : containerName(pod, pod.spec.containers[0]), config));
        if (r.code !== 0) {
          statuses.push({ name: c.name, image: c.image, ready: false, restartCount: k?.restarts ?? 0, state: { waiting: { reason: 'CreateContainerError', message: r.stderr.trim() } } });
          phase = 'Pending';
          continue;
        }
        k = { restarts: k?.restarts ?? 0, ready: false, live: 0, startedAt: Date.now(), lastStart: Date.now() };
        this.kept.set(name, k);
        info = await inspect(name);
      }
      k ??= { restarts: 0, ready: false, live: 0, startedAt: Date.now(), lastStart: Date.now() };
      this.kept.set(name, k);
      const running = info?.State?.Status === 'running';
      const ip = info?.NetworkSettings?.Networks?.[CLUSTER_NETWORK]?.IPAddress;
      if (i === 0 && ip) podIP = ip;
      if (running && podIP) {
        k.ready = c.readinessProbe ? await probe(c.readinessProbe, name, podIP, k.startedAt) : true;
        if (c.livenessProbe) k.live = (await probe(c.livenessProbe, name, podIP, k.startedAt)) ? 0 : k.live + 1;
      } else k.ready = false;
      const exitCode = info?.State.ExitCode ?? 0;
      const stays = policy === 'Never' || (policy === 'OnFailure' && exitCode === 0);
      let state: Obj = { waiting: { reason: 'ContainerCreating' } };
      if (running) state = { running: { startedAt: info!.State.StartedAt } };
      else if (info && stays) { state = { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error' } }; phase = exitCode === 0 ? 'Succeeded' : 'Failed'; }
      else if (info) state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off restarting the container (exit ${exitCode})` } };
      statuses.push({ name: c.name, image: c.image, ready: k.ready, restartCount: k.restarts, started: running, state });
    }
    const ready = statuses.length === pod.spec.containers.length && statuses.every((s) => s.ready);
    const status = {
      phase, hostIP: this.place.address ?? this.node, podIP, ...(podIP ? { podIPs: [{ ip: podIP }] } : {}), startTime: pod.status?.startTime ?? now(),
      conditions: [
        { type: 'PodScheduled', status: 'True' },
        { type: 'Initialized', status: 'True' },
        { type: 'ContainersReady', status: ready ? 'True' : 'False' },
        { type: 'Ready', status: ready ? 'True' : 'False' },
      ],
      containerStatuses: statuses,
    };
    const changed = JSON.stringify({ ...status, startTime: 0 }) !== JSON.stringify({ ...pod.status, startTime: 0 });
    if (changed) await this.api.request('PUT', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`, { ...pod, status });
  }

  /** The container's ConfigMaps as `box run` arguments (configmaps.ts), or why it cannot start. */
  private async configOf(pod: Obj, c: Obj): Promise<string[] | string> {
    try { return await configArgs(this.api, pod, c, this.node); } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
  }

  /** `box run -d` for one container of a pod: its image, command, env, limits, network, ConfigMaps. */
  private runArgs(pod: Obj, c: Obj, joinNetworkOf: string | undefined, config: string[]): string[] {
    const args = ['run', '-d', '--name', containerName(pod, c), '--label', `${NODE_LABEL}=${this.node}`, '--label', `${POD_LABEL}=${pod.metadata.namespace}/${pod.metadata.name}`];
    // the first container owns the pod's network (its IP, its hostname); the others join it
    if (joinNetworkOf) args.push('--network', `container:${joinNetworkOf}`);
    else args.push('--network', CLUSTER_NETWORK, '--hostname', pod.metadata.name, ...dnsArgs(pod));
    if (this.place.cgroupParent) args.push('--cgroup-parent', this.place.cgroupParent);
    const limits = c.resources?.limits ?? {};
    if (limits.memory) args.push('--memory', String(Math.floor(quantity(limits.memory))));
    if (limits.cpu) args.push('--cpus', String(quantity(limits.cpu)));
    args.push(...config);
    for (const e of c.env ?? []) if (e.value !== undefined) args.push('-e', `${e.name}=${e.value}`);
    if (c.workingDir) args.push('-w', c.workingDir);
    if (c.command?.length) args.push('--entrypoint', c.command[0]);
    args.push(c.image);
    if (c.command?.length) args.push(...c.command.slice(1));
    args.push(...(c.args ?? []));
    return args;
  }
}

/**
 * The pod's resolv.conf: the cluster network's DNS, with the kubelet's search domains so a
 * short `web` finds the Service of the pod's namespace. ndots:1 rather than Kubernetes' 5: a
 * name with a dot (web.default.svc, example.com) is asked as it is first, so it costs no
 * misses through the search list (box-dns would forward each miss to the host's resolvers).
 */
function dnsArgs(pod: Obj): string[] {
  return [...podSearch(pod.metadata.namespace).flatMap((d) => ['--dns-search', d]), '--dns-option', 'ndots:1'];
}

/** What box's state files say of a container, in `box inspect`'s words (read, not run: the
 * agent looks every second, and a box command costs a Node start). */
async function inspect(name: string): Promise<Obj | undefined> {
  const s = listIds().map(readState).find((x) => x?.name === name);
  if (!s) return undefined;
  const running = s.status === 'running' && monitorAlive(s);
  const ip = s.network?.endpoints.find((e) => e.network === CLUSTER_NETWORK)?.ip;
  return {
    State: { Status: running ? 'running' : s.status === 'running' ? 'exited' : s.status, ExitCode: s.exitCode, StartedAt: s.started ?? s.created },
    NetworkSettings: { Networks: ip ? { [CLUSTER_NETWORK]: { IPAddress: ip } } : {} },
  };
}

/** The names of the containers a node runs (the label its agent gave them). */
export function nodeContainers(node?: string): string[] {
  return listIds().map(readState)
    .filter((s) => s && (s.config as { labels?: Record<string, string> }).labels?.[NODE_LABEL] !== undefined
      && (node === undefined || (s.config as { labels: Record<string, string> }).labels[NODE_LABEL] === node))
    .map((s) => s!.name);
}
