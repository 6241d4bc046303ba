// The control plane as one process: the store, the API server (on loopback for kubectl, on
// the cluster network's gateway for the nodes), the scheduler and controllers, which talk to
// the store as the API server's clients would. It runs detached; `box cluster up` starts it and reads "ok URL" from fd 3.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import { CLUSTER_NETWORK, containerName } from './agent.ts';
import { boxCommand } from './box-cli.ts';
import { ApiServer } from './apiserver.ts';
import { ControllerManager } from './controller-manager.ts';
import { pickServiceRange } from './service-alloc.ts';
import { ServiceNames } from './service-dns.ts';
import { ServiceProxy } from './service-proxy.ts';
import { nodeNets } from './node-netns.ts';
import { clusterFile } from './paths.ts';
import { Store } from './store.ts';

export async function controlPlaneMain(nodeAddress?: string): Promise<number> {
  const report = fs.createWriteStream('', { fd: 3 });
  const token = fs.readFileSync(clusterFile('token'), 'utf8').trim();
  const store = new Store(clusterFile('store.json'));
  const tls = { cert: fs.readFileSync(clusterFile('apiserver.crt'), 'utf8'), key: fs.readFileSync(clusterFile('apiserver.key'), 'utf8') };
  const api = new ApiServer(store, token, tls);
  api.serviceRange = pickServiceRange();
  // loopback for kubectl (and the gateway for the nodes, below): the API server holds the
  // whole cluster; the token is the second lock
  await new Promise<void>((resolve, reject) => { api.server.once('error', reject); api.server.listen(0, '127.0.0.1', resolve); });
  // `kubectl logs`: the API server asks the node's runtime; here every node's containers are
  // box containers on this machine, so `box logs` answers (a real API server proxies to the
  // kubelet on that node)
  api.logs = (pod, q, res) => {
    const c = pod.spec.containers.find((x: { name: string }) => x.name === q.get('container')) ?? pod.spec.containers[0];
    const [cmd, ...args] = boxCommand();
    const child = spawn(cmd, [...args, 'logs', ...(q.get('follow') === 'true' ? ['-f'] : []), containerName(pod, c)], { stdio: ['ignore', 'pipe', 'pipe'] });
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    child.stdout.pipe(res);
    child.stderr.pipe(res, { end: false });
    res.on('close', () => child.kill());
  };
  const controllers = new ControllerManager(api);
  controllers.log = (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`); // control-plane.log
  // the service proxy (kube-proxy): in this machine's namespace, and in each node's
  const proxy = new ServiceProxy(store, api.serviceRange, CLUSTER_NETWORK, nodeNets);
  proxy.log = controllers.log;
  new ServiceNames(store, CLUSTER_NETWORK).log = controllers.log;
  const port = (api.server.address() as { port: number }).port;
  const forNodes = nodeAddress ? await listenForNodes(api, tls, nodeAddress, port) : '';
  report.end(`ok https://127.0.0.1:${port}${forNodes ? ` ${forNodes}` : ''}\n`);
  process.on('SIGTERM', () => { api.server.close(); proxy.stop(); process.exit(0); });
  return new Promise<number>(() => {}); // serve until stopped
}

/**
 * The nodes reach the API server over the cluster network (each from its own namespace and
 * address), so it listens on the network's gateway too: that address and loopback, nothing
 * else (the machine's other interfaces do not serve it). The same handler, token and TLS.
 */
async function listenForNodes(api: ApiServer, tls: { cert: string; key: string }, address: string, port: number): Promise<string> {
  const server = https.createServer(tls, (req, res) => api.server.emit('request', req, res));
  const listen = (p: number) => new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(p, address, resolve); });
  await listen(port).catch(() => listen(0)); // the same port number where it is free there too
  return `https://${address}:${(server.address() as { port: number }).port}`;
}
