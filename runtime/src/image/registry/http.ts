// One HTTP exchange with a registry, on node:http and node:https: box streams layers to and
// from files (fetch() would buffer or hide the socket errors a user needs named), follows the
// redirects registries use to send blobs from a storage service, and says in one line why a
// registry could not be reached.

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { UserError } from '../../sys/errors.ts';

// Loaded when box talks to a registry, not at every start.
const http = () => process.getBuiltinModule('node:http') as typeof import('node:http');
const https = () => process.getBuiltinModule('node:https') as typeof import('node:https');

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body, not yet read: read it (readBody) or drain it (discard). */
  body: IncomingMessage;
  /** Where the answer came from, after redirects: relative Locations resolve against it. */
  url: URL;
}

/** A request body: bytes, or a function making a fresh stream (a retry after 401 sends it again). */
export type Body = Buffer | (() => Readable);

export interface RequestOptions {
  method: string;
  headers?: Record<string, string>;
  body?: Body;
}

const MAX_REDIRECTS = 5;

/**
 * Send one request. Redirects are followed for GET and HEAD; the Authorization header goes
 * only to the host it was meant for (a blob store elsewhere gets a signed URL instead).
 */
export async function request(url: URL, opts: RequestOptions): Promise<HttpResponse> {
  let current = url;
  let headers = { ...opts.headers };
  for (let hop = 0; ; hop++) {
    const res = await once(current, opts.method, headers, opts.body);
    const location = res.headers.location;
    const redirect = [301, 302, 303, 307, 308].includes(res.status) && location && (opts.method === 'GET' || opts.method === 'HEAD');
    if (!redirect) return res;
    discard(res);
    if (hop === MAX_REDIRECTS) throw new UserError(`${url.host} redirected more than ${MAX_REDIRECTS} times for ${url.pathname}; the registry is misconfigured`);
    const next = new URL(location, current);
    if (next.host !== current.host) {
      const { authorization: _dropped, ...rest } = headers;
      headers = rest;
    }
    current = next;
  }
}

function once(url: URL, method: string, headers: Record<string, string>, body: Body | undefined): Promise<HttpResponse> {
  const lib = url.protocol === 'https:' ? https() : http();
  const withLength = Buffer.isBuffer(body) ? { ...headers, 'content-length': String(body.length) } : headers;
  return new Promise((resolve, reject) => {
    const req = lib.request(url, { method, headers: { 'user-agent': 'box/0.1', ...withLength } }, (res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
    });
    req.on('error', (err) => reject(unreachable(url, err)));
    // A registry that accepts the connection and then says nothing must not hang box forever.
    req.setTimeout(60_000, () => req.destroy(Object.assign(new Error(`no answer to ${method} ${url.pathname} for 60 seconds`), { code: 'ETIMEDOUT' })));
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      const stream = body();
      stream.on('error', (err) => req.destroy(err));
      stream.pipe(req);
    }
  });
}

/** The socket error as a user would want it: which registry, what happened, what to try. */
export function unreachable(url: URL, err: unknown): Error {
  if (err instanceof UserError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const where = `registry ${url.host}`;
  const hints: Record<string, string> = {
    ECONNREFUSED: `cannot reach ${where}: connection refused; is the registry running, and is the address right?`,
    ENOTFOUND: `cannot reach ${where}: no such host; check the registry's name (and the network)`,
    EAI_AGAIN: `cannot reach ${where}: the name does not resolve right now; check the network`,
    ETIMEDOUT: `${where} did not answer in time (${(err as Error).message}); is it running and reachable?`,
    ECONNRESET: `${where} closed the connection${url.protocol === 'https:' ? '; if it speaks plain HTTP, use --insecure' : ''}`,
    EPROTO: `${where} does not speak HTTPS; if it is a plain-HTTP registry you trust, use --insecure`,
    ENETUNREACH: `cannot reach ${where}: the network is unreachable`,
    EHOSTUNREACH: `cannot reach ${where}: no route to the host`,
  };
  if (hints[code]) return new UserError(hints[code]);
  if (/certificate|self.signed|CERT_/i.test(`${code} ${(err as Error).message}`)) {
    return new UserError(`${where}'s TLS certificate is not trusted (${code || (err as Error).message}); box checks certificates against the system's CAs`);
  }
  return new UserError(`cannot reach ${where}: ${(err as Error).message ?? String(err)}`);
}

/** Read a whole body, refusing one longer than `limit` bytes (a manifest, a token, an error). */
export async function readBody(res: HttpResponse, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      res.body.destroy();
      throw new UserError(`${res.url.host} sent more than ${limit} bytes for ${res.url.pathname}; box refuses it`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Throw the body away so the connection can be reused. */
export function discard(res: HttpResponse): void {
  res.body.resume();
}
