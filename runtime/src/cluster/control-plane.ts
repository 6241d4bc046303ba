// The control plane as one process: the store, the API server on loopback, and (as the
// cluster grows) the scheduler and controllers, which talk to the store as the API server's
// clients would. It runs detached; `box cluster up` starts it and reads "ok URL" from fd 3.

import fs from 'node:fs';
import { ApiServer } from './apiserver.ts';
import { ControllerManager } from './controller-manager.ts';
import { clusterFile } from './paths.ts';
import { Store } from './store.ts';

export async function controlPlaneMain(): Promise<number> {
  const report = fs.createWriteStream('', { fd: 3 });
  const token = fs.readFileSync(clusterFile('token'), 'utf8').trim();
  const store = new Store(clusterFile('store.json'));
  const tls = { cert: fs.readFileSync(clusterFile('apiserver.crt'), 'utf8'), key: fs.readFileSync(clusterFile('apiserver.key'), 'utf8') };
  const api = new ApiServer(store, token, tls);
  // loopback only: the API server holds the whole cluster; the token is the second lock
  await new Promise<void>((resolve, reject) => { api.server.once('error', reject); api.server.listen(0, '127.0.0.1', resolve); });
  const controllers = new ControllerManager(api);
  controllers.log = (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`); // control-plane.log
  const port = (api.server.address() as { port: number }).port;
  report.end(`ok https://127.0.0.1:${port}\n`);
  process.on('SIGTERM', () => { api.server.close(); process.exit(0); });
  return new Promise<number>(() => {}); // serve until stopped
}
