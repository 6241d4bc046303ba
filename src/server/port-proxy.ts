// Open a reader's port in the browser: /port/<session>/<port>/... on the lab's own origin is
// relayed to TCP 127.0.0.1:<port> inside that session's sandbox (HTTP and WebSocket).
//
// The sandbox has a network namespace of its own and the server is in the host's. A socket
// belongs to the namespace of the process that creates it (socket(2) reads current->nsproxy),
// and Node cannot switch a thread's namespace safely (setns(2) on one thread of a
// multithreaded process leaves the others behind). So each connection is one small process,
// `nsenter --net=/proc/PID/ns/net busybox nc 127.0.0.1 PORT`, whose stdin/stdout are the
// stream: the connect happens inside the sandbox, nothing else of the sandbox is reachable
// (no other address, no other namespace), and a port the reader published with `box run -p`
// answers there (box's DNAT covers the sandbox's own loopback, route_localnet). Measured: the
// helper starts and connects in about 5 ms.

import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { Duplex } from 'node:stream';
import { CLIENT_COOKIE, COOKIE_NAME, clientId } from './auth.ts';
import { REPO } from './sandbox.ts';
import type { Session, SessionManager } from './sessions.ts';

export const PORT_PREFIX = '/port/';
/** /port/<session>/<port><rest>: the session as protocol.ts's SESSION_ID, the port as typed. */
const PORT_PATH = /^\/port\/([A-Za-z0-9_-]{8,64})\/([^/]*)(\/.*)?$/;
/** Relayed connections open at once per session (each is a process). */
export const MAX_CONNECTIONS_PER_SESSION = 32;
/** An upstream that sends no response head in this long gets a 504. */
const RESPONSE_HEAD_MS = 30_000;

/** A port number as a reader types it: a whole number 1..65535, digits only. */
export function parsePort(text: string): number | null {
  if (!/^[1-9][0-9]{0,4}$/.test(text)) return null;
  const n = Number(text);
  return n <= 65535 ? n : null;
}

export type PortTarget =
  | { ok: true; session: string; port: number; prefix: string; rest: string }
  | { ok: false; status: number; message: string };

/** What a /port/... path asks for, or why not (the status to answer with). */
export function parsePortPath(pathname: string): PortTarget {
  const m = PORT_PATH.exec(pathname);
  if (!m) return { ok: false, status: 404, message: 'a port is opened at /port/<session>/<port>/' };
  const port = parsePort(m[2]!);
  if (port === null) return { ok: false, status: 400, message: `"${m[2]!.slice(0, 20)}" is not a port: give a whole number from 1 to 65535` };
  return { ok: true, session: m[1]!, port, prefix: `${PORT_PREFIX}${m[1]}/${port}`, rest: m[3] ?? '' };
}

function findBusybox(): string | null {
  const candidates = ['/bin/busybox', '/usr/bin/busybox', path.join(REPO, 'node_modules/.cache/box/busybox-static/bin/busybox')];
  return candidates.find((p) => fs.existsSync(p)) ?? null;
}

/**
 * The relay process's stdin and stdout as one stream, shaped enough like a socket for Node's
 * HTTP client (which calls setNoDelay/setKeepAlive/setTimeout on what createConnection gives).
 */
class RelayStream extends Duplex {
  readonly #child: ChildProcessWithoutNullStreams;
  constructor(child: ChildProcessWithoutNullStreams) {
    super();
    this.#child = child;
    child.stdout.on('data', (d: Buffer) => { if (!this.push(d)) child.stdout.pause(); });
    child.stdout.once('end', () => this.push(null));
    child.stdin.on('error', () => { /* the far side closed first: what is left to send is dropped */ });
  }
  override _read(): void { this.#child.stdout.resume(); }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    if (this.#child.stdin.writable) this.#child.stdin.write(chunk, () => done());
    else done();
  }
  override _final(done: () => void): void { this.#child.stdin.end(); done(); }
  override _destroy(e: Error | null, done: (e?: Error | null) => void): void {
    const c = this.#child;
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    done(e);
  }
  setNoDelay(): this { return this; }
  setKeepAlive(): this { return this; }
  setTimeout(): this { return this; }
}

/**
 * A stream to TCP 127.0.0.1:port inside the network namespace of process `pid`. `failed`
 * resolves with nc's reason if the connection ended without a byte from the far side.
 */
export function connectInNamespace(pid: number, port: number): { stream: Duplex; failed: Promise<string | null> } {
  const busybox = findBusybox();
  if (!busybox) throw new Error('the port proxy needs a static busybox (apt-get install busybox-static)');
  const child = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, '--', busybox, 'nc', '127.0.0.1', String(port)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  let received = false;
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => { if (stderr.length < 1000) stderr += s; });
  child.stdout.once('data', () => { received = true; });
  const stream = new RelayStream(child);
  const failed = new Promise<string | null>((resolve) => {
    child.once('error', (e) => { resolve(e.message); stream.destroy(); });
    child.once('close', (code) => resolve(received ? null : (stderr.trim().split('\n').pop() || `the relay exited with ${code}`)));
  });
  return { stream, failed };
}

/** The lab's cookies stay with the lab: the reader's server never sees the token. */
function withoutLabCookies(cookie: string | undefined): string | undefined {
  if (!cookie) return undefined;
  const kept = cookie.split(';').map((c) => c.trim()).filter((c) => {
    const name = c.split('=')[0]!.trim();
    return c && name !== COOKIE_NAME && name !== CLIENT_COOKIE;
  });
  return kept.length ? kept.join('; ') : undefined;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

function upstreamHeaders(req: IncomingMessage, port: number, prefix: string, upgrade: boolean): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || k === 'cookie' || k === 'host') continue;
    if (HOP_BY_HOP.has(k) && !(upgrade && (k === 'connection' || k === 'upgrade'))) continue;
    out[k] = v;
  }
  const cookie = withoutLabCookies(req.headers.cookie);
  if (cookie) out.cookie = cookie;
  out.host = `127.0.0.1:${port}`;
  out['x-forwarded-prefix'] = prefix;
  return out;
}

/** A Location that is a path on the reader's server stays under the prefix. */
function rewriteLocation(location: string, prefix: string, port: number): string {
  for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
    if (location.startsWith(origin + '/') || location === origin) return prefix + (location.slice(origin.length) || '/');
  }
  if (location.startsWith('/') && !location.startsWith('//')) return prefix + location;
  return location;
}

function downstreamHeaders(headers: IncomingHttpHeaders, prefix: string, port: number): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k)) continue;
    out[k] = k === 'location' && typeof v === 'string' ? rewriteLocation(v, prefix, port) : v;
  }
  // The page runs on the lab's origin: no other site may frame it, and it leaks no address.
  out['x-frame-options'] = 'DENY';
  const csp = out['content-security-policy'];
  out['content-security-policy'] = [...(csp === undefined ? [] : Array.isArray(csp) ? csp : [csp]), "frame-ancestors 'none'"];
  out['referrer-policy'] = 'no-referrer';
  return out;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function answer(res: ServerResponse, status: number, title: string, body: string): void {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store',
    'X-Frame-Options': 'DENY', 'Content-Security-Policy': "frame-ancestors 'none'", 'Referrer-Policy': 'no-referrer',
  });
  res.end(`<!doctype html><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<body style="font-family:system-ui;max-width:40em;margin:4em auto;line-height:1.5">
<h1>${escapeHtml(title)}</h1>${body}</body>`);
}

function nothingListening(port: number, reason: string): string {
  return `<p>Nothing answered on port ${port} in your sandbox (${escapeHtml(reason)}).</p>
<p>Start a server that publishes it, for example
<code>box run -d -p ${port}:80 busybox httpd -f -p 80</code>, then reload this page.</p>`;
}

export interface PortProxyContext {
  sessions: SessionManager;
  log: (line: string) => void;
}

/** Connections open per session. */
const open = new WeakMap<Session, number>();

type Resolved = { ok: true; session: Session; pid: number; target: Extract<PortTarget, { ok: true }> } | { ok: false; status: number; message: string };

/**
 * The sandbox a /port/ request may reach: the session must exist, be running, and have been
 * opened by this very browser (its client id cookie). Another browser, even with the token,
 * gets the same 404 as for a session that does not exist.
 */
async function resolve(req: IncomingMessage, url: URL, ctx: PortProxyContext): Promise<Resolved> {
  const target = parsePortPath(url.pathname);
  if (!target.ok) return target;
  const session = ctx.sessions.get(target.session);
  const me = clientId(req);
  if (!session || session.ended || me === null || session.client.id !== me) {
    return { ok: false, status: 404, message: 'no sandbox of this browser has that session; open the port from the lesson page' };
  }
  const located = await session.sandbox.kernel?.locate().catch(() => null);
  if (!located) return { ok: false, status: 502, message: 'the sandbox is not running yet; open the lesson page and wait for its terminal' };
  if ((open.get(session) ?? 0) >= MAX_CONNECTIONS_PER_SESSION) {
    return { ok: false, status: 503, message: `too many connections to this sandbox's ports at once (${MAX_CONNECTIONS_PER_SESSION})` };
  }
  return { ok: true, session, pid: located.pid, target };
}

function count(session: Session, stream: Duplex): void {
  open.set(session, (open.get(session) ?? 0) + 1);
  stream.once('close', () => open.set(session, Math.max(0, (open.get(session) ?? 1) - 1)));
}

/** An authenticated HTTP request under /port/. */
export async function proxyPortRequest(req: IncomingMessage, res: ServerResponse, url: URL, ctx: PortProxyContext): Promise<void> {
  const r = await resolve(req, url, ctx);
  if (!r.ok) { answer(res, r.status, http.STATUS_CODES[r.status] ?? 'Error', `<p>${escapeHtml(r.message)}.</p>`); return; }
  const { target } = r;
  // /port/S/8080 -> /port/S/8080/: relative links in the page then resolve under the prefix.
  if (target.rest === '') {
    res.writeHead(308, { Location: `${target.prefix}/${url.search}`, 'Cache-Control': 'no-store' });
    res.end();
    return;
  }
  const { stream, failed } = connectInNamespace(r.pid, target.port);
  count(r.session, stream);
  const upstream = http.request({
    method: req.method,
    path: target.rest + url.search,
    headers: upstreamHeaders(req, target.port, target.prefix, false),
    createConnection: () => stream as unknown as import('node:net').Socket,
  });
  let timedOut = false; // our own timer cut it: a 504, not the connection's error
  const slow = setTimeout(() => { timedOut = true; upstream.destroy(new Error(`no response head within ${RESPONSE_HEAD_MS} ms`)); }, RESPONSE_HEAD_MS);
  upstream.on('response', (up) => {
    clearTimeout(slow);
    res.writeHead(up.statusCode ?? 502, downstreamHeaders(up.headers, target.prefix, target.port));
    up.pipe(res);
    up.on('error', () => res.destroy());
  });
  upstream.on('error', async (e) => {
    clearTimeout(slow);
    stream.destroy();
    if (res.headersSent) { res.destroy(); return; }
    if (timedOut) {
      answer(res, 504, 'Gateway Timeout', `<p>The server on port ${target.port} in your sandbox sent no answer within ${RESPONSE_HEAD_MS / 1000} s.</p>`);
      return;
    }
    const reason = (await failed) ?? e.message;
    answer(res, 502, `Nothing on port ${target.port}`, nothingListening(target.port, reason));
  });
  res.on('close', () => { if (!res.writableFinished) upstream.destroy(); });
  req.pipe(upstream);
}

/**
 * A WebSocket handshake under /port/ (the caller has checked Host, Origin and the token): the
 * request head is written to the reader's server as it came (lab cookies removed), then bytes
 * are relayed both ways. Answers with `refuse(status, text)` when it may not or cannot.
 */
export async function proxyPortUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, ctx: PortProxyContext,
  refuse: (status: number, reason: string) => void): Promise<void> {
  const r = await resolve(req, url, ctx);
  if (!r.ok) { refuse(r.status, r.message); return; }
  const { target } = r;
  const { stream, failed } = connectInNamespace(r.pid, target.port);
  count(r.session, stream);
  const headers = upstreamHeaders(req, target.port, target.prefix, true);
  let text = `${req.method} ${target.rest || '/'}${url.search} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(headers)) for (const one of Array.isArray(v) ? v : [v]) text += `${k}: ${one}\r\n`;
  stream.write(text + '\r\n');
  if (head.length) stream.write(head);
  let answered = false;
  stream.once('data', () => { answered = true; });
  stream.pipe(socket, { end: false });
  socket.pipe(stream);
  socket.once('close', () => stream.destroy());
  stream.once('end', () => {
    if (answered) { socket.end(); return; }
    void failed.then((reason) => refuse(502, `nothing answered on port ${target.port} in your sandbox (${reason ?? 'the connection closed'})`));
  });
}
