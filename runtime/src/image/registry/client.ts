// A client for one registry, speaking the OCI distribution API (v2): every path starts with
// /v2/<repository>/, and a 401 is answered with a token (auth.ts) and the request sent again.
//
// Plain HTTP or HTTPS? HTTPS, except for a registry on this machine (localhost, 127.0.0.0/8,
// ::1), which Docker also treats as insecure by default, or when the user says --insecure.

import { UserError } from '../../sys/errors.ts';
import { fetchToken } from './auth.ts';
import { discard, readBody, request, type Body, type HttpResponse } from './http.ts';

/** Docker Hub's API lives on another host than the name images use. */
const DOCKER_HUB = 'registry-1.docker.io';

export interface ClientOptions {
  /** Use plain HTTP even for a registry that is not on this machine. */
  insecure?: boolean;
}

/** A host on the loopback network: traffic that never leaves this machine. */
export function isLoopback(domain: string): boolean {
  const host = domain.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export interface RegistryRequest {
  headers?: Record<string, string>;
  body?: Body;
  /** `repository:team/app:pull` for a token if the registry asks for one. */
  scope: string;
}

export class RegistryClient {
  /** The domain as images name it: `localhost:5000`, `docker.io`. */
  readonly domain: string;
  readonly base: URL;
  /** Authorization header values by scope, once a token server gave one. */
  private readonly tokens = new Map<string, string>();

  constructor(domain: string, opts: ClientOptions = {}) {
    this.domain = domain;
    const host = domain === 'docker.io' ? DOCKER_HUB : domain;
    const plain = opts.insecure || isLoopback(host);
    this.base = new URL(`${plain ? 'http' : 'https'}://${host}/`);
  }

  /** A URL on this registry: a path (`/v2/...`) or a Location header the registry sent. */
  url(pathOrLocation: string, from: URL = this.base): URL {
    return new URL(pathOrLocation, from);
  }

  /** Send a request; on 401, get a token for `scope` and send it once more. */
  async send(method: string, url: URL, req: RegistryRequest): Promise<HttpResponse> {
    const auth = this.tokens.get(req.scope);
    const headers = { ...req.headers, ...(auth ? { authorization: auth } : {}) };
    let res = await request(url, { method, headers, body: req.body });
    if (res.status !== 401) return res;
    discard(res);
    const header = res.headers['www-authenticate'];
    const token = await fetchToken(this.domain, Array.isArray(header) ? header.join(', ') : header, req.scope);
    this.tokens.set(req.scope, token);
    res = await request(url, { method, headers: { ...req.headers, authorization: token }, body: req.body });
    if (res.status === 401) {
      discard(res);
      throw new UserError(`registry ${this.domain} refused the token its own token server gave for ${req.scope}; the repository may need a login`);
    }
    return res;
  }
}

/** What a registry's JSON error body says (`{"errors":[{"code":"MANIFEST_UNKNOWN","message":...}]}`), in one line. */
export async function registryError(res: HttpResponse): Promise<string> {
  let text = '';
  try {
    text = (await readBody(res, 64 * 1024)).toString('utf8');
    const parsed = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const errors = (parsed.errors ?? []).map((e) => e.message ?? e.code?.toLowerCase().replace(/_/g, ' ')).filter(Boolean);
    if (errors.length) return `HTTP ${res.status}, ${errors.join('; ')}`;
  } catch {
    /* not JSON: the status line will have to do */
  }
  const firstLine = text.split('\n')[0].trim().slice(0, 120);
  return `HTTP ${res.status}${firstLine ? `, ${firstLine}` : ''}`;
}
