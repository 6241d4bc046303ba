// box cluster's nodes as the kernel sees them: each agent in a network namespace of its own
// (its address the Node's InternalIP), each node's pods in a cgroup subtree whose limits are
// the node's capacity, `node stop` killing that subtree; and a cluster SIGKILLed (control plane
// and agents) leaving nothing once the next box has run: no process, network namespace, veth,
// bridge, nftables table, cgroup, mount or kubeconfig context. KUBECONFIG and BOX_ROOT are
// temporary; every address is on the cluster's own bridge.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, vi } from 'vitest';
import { nodeAddress, nodeNets } from '../../runtime/src/cluster/node-netns.ts';
import { needs } from '../support/requires.ts';
import { box, has, repo, rootReason, tempBoxRoot } from './helpers.ts';
import { kubectlWith, untilCluster as until } from './kubectl.ts';

const suite = needs(
  !has('kubectl') && 'kubectl is not installed (apt-get install kubectl)', !has('openssl') && 'openssl is not installed (apt-get install openssl)',
  rootReason, !has('nft') && 'nft is not installed (apt-get install nftables)',
);
const WEB = path.join(repo, 'test/fixtures/cluster/web.yaml');
let root = '';
let kubeconfig = '';

const { ok } = kubectlWith(() => kubeconfig);
const running = (pid: number) => { try { return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; } };
const up = (nodes: number, ...more: string[]) => {
  const r = box(root, ['cluster', 'up', '--nodes', String(nodes), ...more], { env: { KUBECONFIG: kubeconfig }, timeout: 60_000 });
  if (r.code !== 0) throw new Error(`cluster up: ${r.stderr}`);
};
const state = () => JSON.parse(fs.readFileSync(path.join(root, 'cluster/state.json'), 'utf8'));
const agentPid = (node: string) => Number(fs.readFileSync(path.join(root, `cluster/nodes/${node}.pid`), 'utf8'));
const netnsOf = (pid: number) => fs.readlinkSync(`/proc/${pid}/ns/net`);
const ipNetns = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
const links = () => fs.readdirSync('/sys/class/net');
/** Every cgroup directory, in every hierarchy, whose path has `part`. */
function cgroupDirs(part: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: fs.Dirent[] = [];
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (p.includes(part)) out.push(p);
      else if (depth < 6) walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return out;
}
/** Processes that run with this BOX_ROOT: the control plane, agents, box monitors, box-dns. */
function boxProcesses(): number[] {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try { return running(pid) && fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`BOX_ROOT=${root}`); } catch { return false; }
  });
}
const pods = (): any[] => JSON.parse(ok(['get', 'pods', '-l', 'app=web', '-o', 'json'])).items;
const allReady = (n: number) => () => { const p = pods(); return p.length === n && p.every((x) => x.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True')); };
/** The pid of a pod's container (its PID 1 seen from the host), from box inspect. */
const podPid = (pod: any) => {
  const name = box(root, ['ps']).stdout.split('\n').map((l) => l.trim().split(/\s+/).pop()!).find((n) => n.startsWith(`${pod.metadata.name}.`))!;
  return Number(box(root, ['inspect', '-f', '{{.State.Pid}}', name]).stdout.trim());
};

/** What the running cluster put on the host, named so a test can assert each is gone. */
function footprint() {
  const s = state();
  const net = fs.readdirSync(path.join(root, 'networks')).map((id) => path.join(root, 'networks', id, 'network.json'))
    .filter((f) => fs.existsSync(f)).map((f) => JSON.parse(fs.readFileSync(f, 'utf8'))).find((n) => n.name === 'box-cluster');
  return { id: s.id as string, server: s.server as string, bridge: net.bridge as string, table: `box_${(net.id as string).slice(0, 12)}` };
}
function expectNothingLeft(f: ReturnType<typeof footprint>): void {
  expect(boxProcesses()).toEqual([]);
  expect(ipNetns()).not.toContain(`boxc-${f.id}-`);
  expect(links().filter((l) => l.startsWith(`bxc${f.id}`) || l === f.bridge)).toEqual([]);
  expect(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })).not.toContain(f.table);
  expect(cgroupDirs(`cluster-${f.id}`)).toEqual([]);
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`boxc-${f.id}-`) || l.includes(root));
  expect(mounts).toEqual([]);
  expect(fs.readFileSync(kubeconfig, 'utf8')).not.toContain(f.server);
  expect(box(root, ['ps', '-a']).stdout.trim().split('\n')).toHaveLength(1); // the header only
  expect(fs.existsSync(path.join(root, 'cluster'))).toBe(false);
  expect(fs.existsSync(`/run/box/clusters/${f.id}`)).toBe(false);
}

suite.describe('box cluster nodes: a network namespace and a cgroup subtree each; nothing outlives a killed cluster', () => {
  vi.setConfig({ testTimeout: 180_000, hookTimeout: 120_000 });

  beforeAll(() => {
    root = tempBoxRoot('cluster-iso');
    kubeconfig = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-kube-')), 'config');
    up(2);
  });
  afterAll(() => {
    if (root) box(root, ['cluster', 'down'], { env: { KUBECONFIG: kubeconfig }, timeout: 60_000 });
    fs.rmSync(root, { recursive: true, force: true });
    if (kubeconfig) fs.rmSync(path.dirname(kubeconfig), { recursive: true, force: true });
  });

  suite.it('each agent runs in its node\'s own network namespace, with its own address: the Node\'s InternalIP', async () => {
    await until(() => ok(['get', 'nodes', '--no-headers']).split('\n').filter((l) => /\sReady\s/.test(l)).length === 2, '2 Ready nodes', 60);
    const { id } = footprint();
    const seen = new Set<string>([netnsOf(process.pid)]);
    const addresses = new Set<string>();
    const api = new URL(state().nodeServer);
    for (const node of ['node-1', 'node-2']) {
      const pid = agentPid(node);
      const name = `boxc-${id}-${node}`;
      expect(ipNetns()).toContain(name);
      // the agent's namespace is the named one, and neither the host's nor the other node's
      expect(netnsOf(pid)).toBe(`net:[${fs.statSync(`/run/netns/${name}`).ino}]`);
      seen.add(netnsOf(pid));
      const addr = /inet (\S+)\//.exec(execFileSync('ip', ['-n', name, '-4', '-o', 'addr', 'show', 'eth0'], { encoding: 'utf8' }))![1];
      addresses.add(addr);
      const internal = JSON.parse(ok(['get', 'node', node, '-o', 'json'])).status.addresses.find((a: any) => a.type === 'InternalIP').address;
      expect(internal).toBe(addr);
      // its heartbeats go from that address to the API server on the cluster network's gateway
      const sockets = execFileSync('nsenter', [`--net=/run/netns/${name}`, 'ss', '-Htan'], { encoding: 'utf8' });
      expect(sockets).toMatch(new RegExp(`${addr.replaceAll('.', '\\.')}:\\d+\\s+${api.hostname.replaceAll('.', '\\.')}:${api.port}\\b`));
    }
    expect(seen.size).toBe(3);
    expect(addresses.size).toBe(2);
    // what other parts (a NodePort) call to find the nodes: the same addresses and namespaces
    const saved = process.env.BOX_ROOT;
    process.env.BOX_ROOT = root;
    try {
      expect(nodeNets()).toEqual(['node-1', 'node-2'].map((node, i) => ({ node, ip: [...addresses][i], netnsPath: `/run/netns/boxc-${id}-${node}` })));
      expect(nodeAddress('node-2')).toBe([...addresses][1]);
    } finally {
      if (saved === undefined) delete process.env.BOX_ROOT; else process.env.BOX_ROOT = saved;
    }
    // the API server listens on loopback (kubectl) and the cluster network's gateway (the nodes), nowhere else
    const cp = state().pid;
    const listening = execFileSync('ss', ['-Htlnp'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(`pid=${cp},`)).map((l) => l.trim().split(/\s+/)[3]).sort();
    const gateway = api.hostname;
    expect(listening.map((a) => a.replace(/:\d+$/, '')).sort()).toEqual(['127.0.0.1', gateway].sort());
  });

  suite.it('pods run below their node\'s cgroup, whose limits are the node\'s capacity; node stop kills that subtree and the pods move', async () => {
    const { id } = footprint();
    ok(['apply', '-f', WEB]);
    await until(allReady(3), '3 Ready pods', 90);
    const capacity = JSON.parse(ok(['get', 'node', 'node-1', '-o', 'json'])).status.capacity;
    expect(capacity.memory).toBe('2Gi');
    const memoryDir = cgroupDirs(`cluster-${id}/node-1`).find((d) => d.includes('/memory/') && d.endsWith('/node-1'))!;
    expect(Number(fs.readFileSync(path.join(memoryDir, 'memory.limit_in_bytes'), 'utf8'))).toBe(2 * 1024 ** 3);
    const byPid = pods().map((p) => ({ node: p.spec.nodeName as string, pid: podPid(p) }));
    for (const { node, pid } of byPid) {
      const memory = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /:memory:/.test(l))!;
      expect(memory).toContain(`/box/cluster-${id}/${node}/box-`);
    }
    const victims = byPid.filter((p) => p.node === 'node-1').map((p) => p.pid);
    expect(victims.length).toBeGreaterThan(0);
    expect(box(root, ['cluster', 'node', 'stop', 'node-1']).code).toBe(0);
    for (const pid of victims) expect(running(pid)).toBe(false);
    expect(cgroupDirs(`cluster-${id}/node-1`)).toEqual([]);
    expect(ipNetns()).not.toContain(`boxc-${id}-node-1`);
    expect(links()).not.toContain(`bxc${id}n1`);
    await until(() => allReady(3)() && pods().every((p) => p.spec.nodeName === 'node-2'), 'the pods made again on node-2', 90);
  });

  suite.it('kill -9 of the control plane and every agent: box cluster status reaps all the cluster left', async () => {
    expect(box(root, ['cluster', 'node', 'start', 'node-1']).code).toBe(0);
    await until(() => /node-1\s+Ready/.test(ok(['get', 'nodes'])), 'node-1 Ready again', 60);
    const f = footprint();
    expect(boxProcesses().length).toBeGreaterThan(3);
    // one agent killed is a failed node, not a dead cluster: the next box leaves the rest alone
    const [cp, agent1] = [state().pid, agentPid('node-1')];
    process.kill(agentPid('node-2'), 'SIGKILL');
    expect(box(root, ['ps']).code).toBe(0);
    expect(running(cp) && running(agent1)).toBe(true);
    expect(ipNetns()).toContain(`boxc-${f.id}-node-1`);
    for (const pid of [cp, agent1]) process.kill(pid, 'SIGKILL');
    const r = box(root, ['cluster', 'status'], { timeout: 60_000 });
    expect(r.stdout).toContain('no cluster is running (the control plane had died');
    expect(r.code).toBe(1);
    expectNothingLeft(f);
  });

  suite.it('kill -9 of the control plane alone: the next box ps reaps the agents and the rest', async () => {
    up(1, '--node-cpus', '500m', '--node-memory', '256Mi');
    const f = footprint();
    // a smaller node: its capacity is what its cgroup allows
    await until(() => /node-1\s+Ready/.test(ok(['get', 'nodes'])), 'node-1 Ready', 60);
    expect(JSON.parse(ok(['get', 'node', 'node-1', '-o', 'json'])).status.capacity).toMatchObject({ cpu: '500m', memory: '256Mi' });
    const dirs = cgroupDirs(`cluster-${f.id}/node-1`).filter((d) => d.endsWith('/node-1'));
    expect(Number(fs.readFileSync(dirs.find((d) => d.includes('/memory/'))! + '/memory.limit_in_bytes', 'utf8'))).toBe(256 * 2 ** 20);
    expect(Number(fs.readFileSync(dirs.find((d) => d.includes('/cpu,cpuacct/') || d.includes('/cpu/'))! + '/cpu.cfs_quota_us', 'utf8'))).toBe(50_000);
    const agent = agentPid('node-1');
    process.kill(state().pid, 'SIGKILL');
    expect(box(root, ['ps'], { timeout: 60_000 }).code).toBe(0);
    expect(running(agent)).toBe(false);
    expectNothingLeft(f);
  });

  suite.it('a cluster whose box root was deleted while it ran: the next box of another root removes what it made', async () => {
    const other = tempBoxRoot('cluster-orphan');
    const r = box(other, ['cluster', 'up', '--nodes', '2'], { env: { KUBECONFIG: kubeconfig }, timeout: 60_000 });
    expect(r.code).toBe(0);
    const s = JSON.parse(fs.readFileSync(path.join(other, 'cluster/state.json'), 'utf8'));
    const agents = ['node-1', 'node-2'].map((n) => Number(fs.readFileSync(path.join(other, `cluster/nodes/${n}.pid`), 'utf8')));
    expect(cgroupDirs(`cluster-${s.id}`).length).toBeGreaterThan(0);
    fs.rmSync(other, { recursive: true, force: true });
    expect(box(root, ['ps']).code).toBe(0);
    for (const pid of [s.pid, ...agents]) expect(running(pid)).toBe(false);
    expect(ipNetns()).not.toContain(`boxc-${s.id}-`);
    expect(links().filter((l) => l.startsWith(`bxc${s.id}`))).toEqual([]);
    expect(cgroupDirs(`cluster-${s.id}`)).toEqual([]);
    expect(fs.existsSync(`/run/box/clusters/${s.id}`)).toBe(false);
    expect(fs.readFileSync(kubeconfig, 'utf8')).not.toContain(s.server);
  });

  suite.it('inside a lab sandbox too: nodes in namespaces of their own, Ready for kubectl, pods Running; down leaves no namespace, veth or cgroup', () => {
    const script = [
      'box cluster up --nodes 2 >/dev/null || exit 1',
      'for i in $(seq 1 60); do [ "$(kubectl get nodes --no-headers 2>/dev/null | grep -c " Ready ")" = 2 ] && break; sleep 1; done',
      'kubectl get nodes --no-headers -o custom-columns=N:.metadata.name,IP:.status.addresses[0].address,R:.status.conditions[0].status',
      'ip netns list | grep -c "^boxc-"',
      `printf '%s\\n' 'apiVersion: apps/v1' 'kind: Deployment' 'metadata: {name: web}' 'spec:' '  replicas: 2' '  selector: {matchLabels: {app: web}}' \\
        '  template:' '    metadata: {labels: {app: web}}' '    spec:' '      containers:' '      - {name: web, image: busybox, command: [httpd, -f, -p, "80"]}' > /tmp/web.yaml`,
      'kubectl create -f /tmp/web.yaml -o name',
      'for i in $(seq 1 90); do [ "$(kubectl get pods --no-headers | grep -c Running)" = 2 ] && break; sleep 1; done',
      'kubectl get pods --no-headers | grep -c Running',
      'box cluster down >/dev/null',
      'ip netns list | grep -c "^boxc-"; ip -o link | grep -c "bxc"; find /sys/fs/cgroup -maxdepth 4 -type d -name "cluster-*" | wc -l',
    ].join('\n');
    const r = box(root, ['run', '--rm', '--lab', '-e', `S=${script}`, 'lab', 'bash', '-c', 'eval "$S"'], { timeout: 300_000 });
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, 2)).toEqual([expect.stringMatching(/^node-1\s+\d+\.\d+\.\d+\.\d+\s+True$/), expect.stringMatching(/^node-2\s+\d+\.\d+\.\d+\.\d+\s+True$/)]);
    expect(lines.slice(2)).toEqual(['2', 'deployment.apps/web', '2', '0', '0', '0']);
  });

  suite.it('cluster down leaves nothing', async () => {
    up(2);
    await until(() => ok(['get', 'nodes', '--no-headers']).split('\n').filter((l) => /\sReady\s/.test(l)).length === 2, '2 Ready nodes', 60);
    const f = footprint();
    expect(box(root, ['cluster', 'down'], { env: { KUBECONFIG: kubeconfig }, timeout: 60_000 }).code).toBe(0);
    expectNothingLeft(f);
  });
});
