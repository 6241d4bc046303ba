// Probes, as the kubelet runs them: exec (a command in the container; exit 0 passes) and
// httpGet (a status from 200 to 399 passes). Before initialDelaySeconds a probe fails.

import http from 'node:http';
import { boxCli } from './box-cli.ts';
import type { Obj } from './store.ts';

export async function probe(p: Obj, container: string, podIP: string, startedAt: number): Promise<boolean> {
  if (Date.now() - startedAt < (p.initialDelaySeconds ?? 0) * 1000) return false;
  const timeout = (p.timeoutSeconds ?? 1) * 1000;
  if (p.exec?.command) return (await boxCli(['exec', container, ...p.exec.command], timeout + 2000)).code === 0;
  if (p.httpGet) {
    return new Promise((resolve) => {
      const req = http.get({ host: podIP, port: Number(p.httpGet.port), path: p.httpGet.path ?? '/', timeout }, (res) => {
        res.resume();
        resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
    });
  }
  return true;
}
