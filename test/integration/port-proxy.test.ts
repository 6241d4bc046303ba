// Opening a reader's port in the browser (src/server/port-proxy.ts), for real: a lab sandbox
// started by the lab server runs `box run -p 8080:80 busybox httpd`, and its page is fetched
// through /port/<session>/8080/ with the token and this browser's client cookie. Another
// browser, bad ports, and a port with no listener are refused; a WebSocket goes through.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import type { LabServer } from '../../src/server/app.ts';
import { boxLabAvailable, driverByName, startInProcess, TEST_TOKEN } from '../e2e/harness.ts';
import { LabClient } from '../e2e/lab-client.ts';
import { needs } from '../support/requires.ts';

const box = await boxLabAvailable();
const T = 90_000;
const tag = randomBytes(6).toString('hex');
const me = `client-a-${randomBytes(8).toString('hex')}`;
const other = `client-b-${randomBytes(8).toString('hex')}`;

let server: LabServer;
let a: LabClient;

function get(path: string, client: string | null, extra: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const cookie = [`isolab_token=${TEST_TOKEN}`, ...(client ? [`isolab_client=${client}`] : []), 'app=kept'].join('; ');
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: server.port, path, headers: { Cookie: cookie, ...extra } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

// A server in the sandbox itself (its own loopback, port 9000) that answers a plain request
// with the headers it received and echoes WebSocket text frames. Perl, from the host's /usr
// the sandbox sees read-only: busybox has no WebSocket server.
const ECHO = String.raw`
use IO::Socket::INET; use Digest::SHA qw(sha1_base64);
my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 9000, Listen => 5, ReuseAddr => 1) or die;
while (my $c = $l->accept) {
  my ($head, $key) = ("", "");
  while (my $line = <$c>) { last if $line eq "\r\n"; $head .= $line; $key = $1 if $line =~ /^Sec-WebSocket-Key:\s*(\S+)/i; }
  if (!$key) { print $c "HTTP/1.1 200 OK\r\nContent-Length: " . length($head) . "\r\nConnection: close\r\n\r\n$head"; close $c; next; }
  my $acc = sha1_base64($key . "258EAFA5-E914-47DA-95CA-C5AB0DC85B11") . "=";
  print $c "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: $acc\r\n\r\n";
  read($c, my $h, 2); my $len = ord(substr($h, 1, 1)) & 127; read($c, my $mask, 4); read($c, my $data, $len);
  my $text = join "", map { chr(ord(substr($data, $_, 1)) ^ ord(substr($mask, $_ % 4, 1))) } 0 .. $len - 1;
  $text = "echo:$text"; print $c chr(129) . chr(length $text) . $text; close $c;
}`;

needs(box.ok ? '' : box.reason).describe('the port proxy opens a port of the reader\'s own sandbox', () => {
  beforeAll(async () => {
    server = await startInProcess({ driver: driverByName('box') });
    a = new LabClient(server.port, { token: TEST_TOKEN, clientId: me });
    await a.opened();
    await a.message('hello', T);
    expect(await a.run('echo ready', T)).toBe('ready');
    const made = await a.runStatus(`mkdir -p /tmp/www/sub && echo "<h1>served ${tag}</h1><a href=\\"sub/\\">sub</a>" > /tmp/www/index.html && echo "inner ${tag}" > /tmp/www/sub/index.html && echo "page ${tag}" > /tmp/www/sub/page.html`
      + ` && box run -d --name web -p 8080:80 -v /tmp/www:/www busybox httpd -f -p 80 -h /www >/dev/null`
      + ` && (perl -e '${ECHO.replace(/\n/g, ' ').replace(/'/g, `'\\''`)}' </dev/null >/dev/null 2>&1 &) && sleep 1 && echo started`, T);
    expect(made.out).toContain('started');
    expect(made.status).toBe(0);
  }, 3 * T);

  afterAll(async () => {
    await server?.close();
  });

  it('serves the container\'s page under /port/<session>/8080/, and links relative to it', async () => {
    const r = await get(`/port/${a.session}/8080/`, me);
    expect(r.status, r.body).toBe(200);
    expect(r.body).toContain(`<h1>served ${tag}</h1>`);
    expect(r.headers['x-frame-options']).toBe('DENY');
    // Without the slash: redirected to it, so "sub/" resolves under the prefix.
    const bare = await get(`/port/${a.session}/8080`, me);
    expect(bare.status).toBe(308);
    expect(bare.headers.location).toBe(`/port/${a.session}/8080/`);
    const sub = await get(`/port/${a.session}/8080/sub/page.html`, me);
    expect(sub.body).toBe(`page ${tag}\n`);
    // busybox httpd redirects a directory without its slash: the Location stays under the prefix.
    const dir = await get(`/port/${a.session}/8080/sub`, me);
    expect(dir.status).toBe(302);
    expect(dir.headers.location).toBe(`/port/${a.session}/8080/sub/`);
  }, T);

  it('keeps the lab\'s cookies from the reader\'s server', async () => {
    const r = await get(`/port/${a.session}/9000/`, me);
    expect(r.status).toBe(200);
    expect(r.body).toMatch(/^GET \/ HTTP\/1\.1/);
    expect(r.body).toContain('app=kept');
    expect(r.body).not.toContain(TEST_TOKEN);
    expect(r.body).not.toContain(me);
  }, T);

  it('refuses another browser (even with the token), no client cookie, and unknown sessions', async () => {
    for (const client of [other, null]) {
      const r = await get(`/port/${a.session}/8080/`, client);
      expect(r.status).toBe(404);
      expect(r.body).not.toContain(tag);
    }
    expect((await get(`/port/${'x'.repeat(20)}/8080/`, me)).status).toBe(404);
    const noToken = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: server.port, path: `/port/${a.session}/8080/`, headers: { Cookie: `isolab_client=${me}` } },
        (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
    });
    expect(noToken).toBe(401);
  }, T);

  it('refuses ports that are not 1-65535 whole numbers', async () => {
    for (const bad of ['0', '65536', '99999', '-1', '80.5', '0x50', '08080', 'abc', '']) {
      const r = await get(`/port/${a.session}/${encodeURIComponent(bad)}/`, me);
      expect(r.status, bad).toBe(400);
      expect(r.body).toContain('1 to 65535');
    }
  }, T);

  it('answers 502 naming the port when nothing listens on it', async () => {
    const r = await get(`/port/${a.session}/8099/`, me);
    expect(r.status).toBe(502);
    expect(r.body).toContain('port 8099');
    expect(r.body).toContain('Connection refused');
  }, T);

  it('relays a WebSocket to the reader\'s server, and refuses one from another browser', async () => {
    const url = `ws://127.0.0.1:${server.port}/port/${a.session}/9000/echo`;
    const origin = `http://127.0.0.1:${server.port}`;
    const ws = new WebSocket(url, { origin, headers: { Cookie: `isolab_token=${TEST_TOKEN}; isolab_client=${me}` } });
    const reply = await new Promise<string>((resolve, reject) => {
      ws.on('open', () => ws.send(`hi ${tag}`));
      ws.on('message', (d) => resolve(d.toString()));
      ws.on('error', reject);
    });
    expect(reply).toBe(`echo:hi ${tag}`);
    ws.close();
    const refused = new WebSocket(url, { origin, headers: { Cookie: `isolab_token=${TEST_TOKEN}; isolab_client=${other}` } });
    const status = await new Promise<number>((resolve) => {
      refused.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      refused.on('open', () => resolve(101));
      refused.on('error', () => resolve(-1));
    });
    expect(status).toBe(404);
  }, T);
});
