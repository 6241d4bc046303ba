// The lab server's HTTP side for real: a listening server, real sockets, a real site dir.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import http from 'node:http';
import type { LabServer } from '../../src/server/app.ts';
import { startInProcess, TEST_TOKEN } from '../e2e/harness.ts';
import { LabClient } from '../e2e/lab-client.ts';

let server: LabServer;
beforeAll(async () => { server = await startInProcess(); });
afterAll(async () => { await server?.close(); });

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Send bytes as they are (no client-side path normalisation) and read the status line. */
function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(server.port, '127.0.0.1', () => s.write(request));
    let data = '';
    s.on('data', (d) => { data += d; });
    s.on('end', () => resolve(data));
    s.on('error', reject);
    s.setTimeout(5000, () => { s.destroy(); resolve(data); });
  });
}

const cookie = { Cookie: `isolab_token=${TEST_TOKEN}` };

describe('lab server over HTTP', () => {
  it('refuses a page without the token with a 401 that says what to do', async () => {
    const r = await get('/');
    expect(r.status).toBe(401);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.body).toContain('?token=');
    expect(r.body).not.toContain(TEST_TOKEN);
    expect((await get('/_astro/terminal.abc123.js')).status).toBe(401);
  });

  it('trades ?token= for an HttpOnly SameSite=Strict cookie and drops it from the URL', async () => {
    const r = await get(`/lessons/en/pid-namespaces/?x=1&token=${TEST_TOKEN}`);
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe('/lessons/en/pid-namespaces/?x=1');
    // With it, a browser of its own gets its client id (the lab counts sandboxes by it).
    expect(r.headers['set-cookie']).toEqual([
      `isolab_token=${TEST_TOKEN}; HttpOnly; SameSite=Strict; Path=/`,
      expect.stringMatching(/^isolab_client=[A-Za-z0-9_-]{22}; HttpOnly; SameSite=Strict; Path=\/$/),
    ]);
    expect((await get('/?token=not-the-token')).status).toBe(401);
  });

  it('serves the site with the cookie, with the right content types', async () => {
    const home = await get('/', cookie);
    expect(home.status).toBe(200);
    expect(home.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(home.body).toContain('Isolab test site');
    expect(home.headers['x-frame-options']).toBe('DENY');
    const js = await get('/_astro/terminal.abc123.js', cookie);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toContain('immutable');
    expect((await get('/_astro/site.abc123.css', cookie)).headers['content-type']).toBe('text/css; charset=utf-8');
    const dir = await get('/lessons/en/pid-namespaces', cookie);
    expect(dir.status).toBe(301);
    expect(dir.headers.location).toBe('/lessons/en/pid-namespaces/');
    const head = await get('/', cookie, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect((await get('/', cookie, 'POST')).status).toBe(405);
  });

  it('answers unknown paths with the site 404 page', async () => {
    const r = await get('/no/such/page', cookie);
    expect(r.status).toBe(404);
    expect(r.body).toContain('Lost in the namespace');
  });

  it.each([
    '/../../../../etc/passwd',
    '/..%2f..%2f..%2f..%2fetc%2fpasswd',
    '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    '/lessons/..%5c..%5c..%5cetc%5cpasswd',
    '/%00/etc/passwd',
  ])('does not leave the site directory for %s', async (path) => {
    const reply = await raw(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nCookie: isolab_token=${TEST_TOKEN}\r\nConnection: close\r\n\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 404/);
    expect(reply).not.toContain('root:x:0:0');
  });

  it('refuses a foreign Host (DNS rebinding) even with the token', async () => {
    const r = await get('/', { ...cookie, Host: 'evil.example' });
    expect(r.status).toBe(403);
  });

  it('survives garbage on the wire and keeps serving', async () => {
    const reply = await raw('THIS IS NOT HTTP\r\n\r\n');
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect((await get('/', cookie)).status).toBe(200);
  });
});

describe('lab server WebSocket handshake refusals', () => {
  const refused = async (opts: ConstructorParameters<typeof LabClient>[1], query?: string) => {
    if (query !== undefined) {
      const reply = await raw(`GET /ws/terminal?${query} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nOrigin: http://127.0.0.1:${server.port}\r\n`
        + `Cookie: isolab_token=${TEST_TOKEN}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
      return reply.split('\r\n')[0];
    }
    const c = new LabClient(server.port, opts);
    return c.opened().then(() => 'opened', (e: Error) => e.message);
  };

  it('refuses a WebSocket without the token (401)', async () => {
    expect(await refused({ token: null })).toBe('HTTP 401');
    expect(await refused({ token: 'wrong-token-wrong-token' })).toBe('HTTP 401');
  });

  it('refuses a foreign or missing Origin (403)', async () => {
    expect(await refused({ token: TEST_TOKEN, origin: 'http://evil.example' })).toBe('HTTP 403');
    expect(await refused({ token: TEST_TOKEN, origin: null })).toBe('HTTP 403');
  });

  it('refuses a bad session id or size (400) and a wrong path (404)', async () => {
    expect(await refused({}, 'session=../../x&cols=80&rows=24')).toBe('HTTP/1.1 400 Bad Request');
    expect(await refused({}, 'session=abcdefghijk&cols=0&rows=0')).toBe('HTTP/1.1 400 Bad Request');
    expect(await refused({}, 'session=abcdefghijk&cols=100000&rows=100000')).toBe('HTTP/1.1 400 Bad Request');
    const reply = await raw(`GET /ws/other HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`);
    expect(reply.split('\r\n')[0]).toBe('HTTP/1.1 404 Not Found');
  });

  it('accepts the token in the query as well as the cookie', async () => {
    const c = new LabClient(server.port, { token: TEST_TOKEN, tokenIn: 'query' });
    await c.opened();
    expect((await c.message('hello')).resumed).toBe(false);
    await c.close();
  });
});
