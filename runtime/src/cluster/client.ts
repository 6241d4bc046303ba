// How the cluster's own parts (node agents) talk to the API server: the same HTTPS, token
// and REST paths as kubectl; nothing is shared with the control plane but the address.

import https from 'node:https';
import type { Obj } from './store.ts';

export class ApiClient {
  private server: string;
  private token: string;
  private ca: string;

  constructor(server: string, token: string, ca: string) {
    this.server = server;
    this.token = token;
    this.ca = ca;
  }

  request(method: string, path: string, body?: unknown): Promise<{ code: number; body: Obj }> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(`${this.server}${path}`, {
        method, ca: this.ca, timeout: 5000,
        headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json', Accept: 'application/json' },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => { text += c; });
        res.on('end', () => {
          try { resolve({ code: res.statusCode ?? 0, body: JSON.parse(text || '{}') }); } catch (err) { reject(err); }
        });
      });
      req.on('timeout', () => req.destroy(new Error('the API server did not answer in 5 s')));
      req.on('error', reject);
      req.end(data);
    });
  }

  async must(method: string, path: string, body?: unknown): Promise<Obj> {
    const r = await this.request(method, path, body);
    if (r.code >= 300) throw new Error(`${method} ${path}: ${r.body.message ?? r.code}`);
    return r.body;
  }
}
