// The Docker Engine API's HTTP side: the routes, the /v1.NN/ prefix, and errors as the API
// defines them (a status code and {"message": ...}, which the docker CLI prints as
// "Error response from daemon: MESSAGE"). An endpoint box does not implement answers 501
// naming it, never a hang.
//
// There is no listening server here: daemon.ts sniffs the first bytes of each connection on
// engine.sock and hands an HTTP one to `apiServer` (http.Server 'connection' event), so the
// same socket, with the same 0600 mode and SO_PEERCRED check, serves box-client and docker.

import http from 'node:http';
import type net from 'node:net';
import { isConflict, isNotFound, UserError } from '../../sys/errors.ts';
import { systemRoutes } from './system.ts';
import { containerRoutes } from './containers.ts';
import { imageRoutes } from './images.ts';
import { attachUpgrade } from './containers.ts';
import { networkRoutes } from './networks.ts';
import { volumeRoutes } from './volumes.ts';
import { execRoutes, execStartUpgrade } from './exec.ts';
import { buildRoutes } from './build.ts';

/** The API version box implements; a client asking for a newer one is told this one (negotiation). */
export const API_VERSION = '1.41';
export const MIN_API_VERSION = '1.12';

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface Call {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  params: string[];
  query: URLSearchParams;
  /** The request body, read to the end (JSON endpoints); streaming ones read `req` themselves. */
  body(): Promise<Buffer>;
  json<T = Record<string, unknown>>(): Promise<T>;
}

export type Handler = (call: Call) => Promise<void> | void;
export type Route = [method: string, path: RegExp, handler: Handler];

const routes: Route[] = [...systemRoutes, ...containerRoutes, ...imageRoutes, ...networkRoutes, ...volumeRoutes, ...execRoutes, ...buildRoutes];

/** Send a JSON answer. */
export function send(res: http.ServerResponse, status: number, value: unknown): void {
  if (res.headersSent) return void res.end();
  const body = value === undefined ? '' : JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...commonHeaders() });
  res.end(body);
}

export function commonHeaders(): Record<string, string> {
  return { 'Api-Version': API_VERSION, 'Docker-Experimental': 'false', 'Ostype': 'linux', 'Server': 'box-engine' };
}

/** Strip /v1.NN; a version above ours is refused as dockerd does, so the client can negotiate down. */
function routePath(url: string): { path: string; query: URLSearchParams } {
  const u = new URL(url, 'http://box');
  let p = u.pathname;
  const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(p);
  if (m) {
    if (newer(m[1], API_VERSION)) throw new ApiError(400, `client version ${m[1]} is too new. Maximum supported API version is ${API_VERSION}`);
    p = m[2];
  }
  return { path: p, query: u.searchParams };
}

function newer(a: string, b: string): boolean {
  const [a1, a2] = a.split('.').map(Number);
  const [b1, b2] = b.split('.').map(Number);
  return a1 > b1 || (a1 === b1 && a2 > b2);
}

async function dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (process.env.BOX_API_DEBUG) console.error(`${new Date().toISOString()} api: ${req.method} ${req.url} ${JSON.stringify(req.headers)}`);
  const { path, query } = routePath(req.url ?? '/');
  let chunks: Promise<Buffer> | null = null;
  const body = () => (chunks ??= new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  }));
  const json = async <T>() => {
    const b = await body();
    if (!b.length) return {} as T;
    try {
      return JSON.parse(b.toString('utf8')) as T;
    } catch {
      throw new ApiError(400, 'the request body is not valid JSON');
    }
  };
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  for (const [m, re, handler] of routes) {
    const hit = re.exec(path);
    if (!hit || m !== method) continue;
    return handler({ req, res, params: hit.slice(1).map(decodeURIComponent), query, body, json });
  }
  throw new ApiError(501, `box's engine does not implement ${req.method} ${path} (Docker Engine API ${API_VERSION} subset; runtime/src/engine/api/README.md lists what it does)`);
}

/** A box UserError becomes the status of its code, as dockerd maps errdefs: not found 404, conflict 409, the rest 400. */
export function apiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof UserError) {
    return new ApiError(isNotFound(err) ? 404 : isConflict(err) ? 409 : 400, err.message);
  }
  console.error(`${new Date().toISOString()} api: ${(err as Error)?.stack ?? err}`);
  return new ApiError(500, String((err as Error)?.message ?? err).split('\n')[0]);
}

export const apiServer = http.createServer((req, res) => {
  dispatch(req, res).catch((err) => {
    const e = apiError(err);
    if (res.headersSent) return void res.destroy();
    send(res, e.status, { message: e.message });
  });
});
apiServer.keepAliveTimeout = 0;
// docker run's attach asks for "Upgrade: tcp": node hands such a request here, not to 'request'.
apiServer.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
  if (process.env.BOX_API_DEBUG) console.error(`${new Date().toISOString()} api: upgrade ${req.method} ${req.url}`);
  // The request's own body (exec start sends {"Detach":false,"Tty":false}) comes first on
  // the socket; it is taken off here, so that only what the client sends after the upgrade
  // (its stdin) reaches the container.
  upgradeBody(socket, head, Number(req.headers['content-length']) || 0).then(() => {
    const p = routePath(req.url ?? '/').path;
    const exec = /^\/exec\/([^/]+)\/start$/.exec(p);
    if (exec) execStartUpgrade(req, socket, exec[1]);
    else attachUpgrade(req, socket, p);
  }).catch((err) => {
    const e = apiError(err);
    socket.end(`HTTP/1.1 ${e.status} Error\r\nContent-Type: application/json\r\n\r\n${JSON.stringify({ message: e.message })}`);
  });
});

/** Read `length` body bytes of an upgraded request; whatever follows is put back on the socket. */
function upgradeBody(socket: net.Socket, head: Buffer, length: number): Promise<Buffer> {
  if (length > 1 << 20) return Promise.reject(new ApiError(413, 'the request body of an upgraded connection is limited to 1 MiB'));
  return new Promise((resolve, reject) => {
    let got = head;
    const done = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      if (got.length > length) socket.unshift(got.subarray(length));
      resolve(got.subarray(0, length));
    };
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= length) done();
    };
    const onEnd = () => {
      socket.off('data', onData);
      reject(new ApiError(400, 'the connection ended inside the request body'));
    };
    if (got.length >= length) return done();
    socket.on('data', onData);
    socket.on('end', onEnd);
  });
}

/** Serve one connection that began with an HTTP request line (`first` are the bytes already read). */
export function serveHttp(conn: net.Socket, first: Buffer): void {
  // Node's HTTP server normally reads the socket's handle directly (bypassing the stream),
  // which would lose the bytes the sniff already read: mark the handle taken, so the server
  // reads through the stream, and put those bytes back in front of it.
  const handle = (conn as unknown as { _handle?: { _consumed?: boolean } })._handle;
  if (handle) handle._consumed = true;
  conn.pause(); // a flowing socket would emit the unshifted bytes at once, before the server listens
  apiServer.emit('connection', conn);
  conn.unshift(first);
  conn.resume();
}

/** Does this start like an HTTP request? box-client's requests start with "box-engine 1\0". */
export function looksLikeHttp(buf: Buffer): boolean | null {
  const s = buf.toString('latin1', 0, Math.min(buf.length, 8));
  if (/^(GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH) /.test(s)) return true;
  if ('box-engine'.startsWith(s) || s.startsWith('box-engi')) return s.length >= 8 ? false : null;
  if (buf.length >= 8) return false;
  return /^[A-Z]*$/.test(s) ? null : false;
}
