// The registry token flow (the distribution spec's "token authentication", which Docker Hub
// uses for anonymous pulls too):
//
//   GET /v2/library/busybox/manifests/latest                 -> 401
//       WWW-Authenticate: Bearer realm="https://auth.docker.io/token",
//                         service="registry.docker.io",scope="repository:library/busybox:pull"
//   GET https://auth.docker.io/token?service=...&scope=...   -> {"token": "..."}
//   GET /v2/library/busybox/manifests/latest                 -> 200
//       Authorization: Bearer <token>
//
// The header's grammar is RFC 7235's: challenges separated by commas, each a scheme then
// name=value parameters (values quoted when they hold commas, as scopes do).

import { UserError } from '../../sys/errors.ts';
import { readBody, request } from './http.ts';

export interface Challenge {
  /** Lowercased: "bearer", "basic". */
  scheme: string;
  /** Parameter names lowercased: realm, service, scope, error. */
  params: Record<string, string>;
}

/** Every challenge in a WWW-Authenticate header. */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const skip = (re: RegExp) => {
    while (i < header.length && re.test(header[i])) i++;
  };
  const token = () => {
    const start = i;
    while (i < header.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(header[i])) i++;
    return header.slice(start, i);
  };
  while (i < header.length) {
    skip(/[\s,]/);
    const scheme = token();
    if (!scheme) break;
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    for (;;) {
      skip(/\s/);
      const mark = i;
      if (header[i] === ',') {
        i++;
        skip(/\s/);
      }
      const name = token();
      skip(/\s/);
      if (!name || header[i] !== '=') {
        i = mark; // not a parameter: the next challenge starts here
        break;
      }
      i++;
      skip(/\s/);
      challenge.params[name.toLowerCase()] = header[i] === '"' ? quoted() : bare();
    }
    if (i < header.length && header[i] !== ',' && !/\s/.test(header[i])) break; // malformed: keep what was read
  }
  return challenges;

  /** An unquoted value. RFC 7235 allows only a token; servers send unquoted URLs too, so: up to a comma or space. */
  function bare(): string {
    const start = i;
    while (i < header.length && !/[\s,]/.test(header[i])) i++;
    return header.slice(start, i);
  }

  function quoted(): string {
    let value = '';
    for (i++; i < header.length && header[i] !== '"'; i++) {
      if (header[i] === '\\' && i + 1 < header.length) i++;
      value += header[i];
    }
    i++; // the closing quote
    return value;
  }
}

/** The scope a request needs: `repository:team/app:pull` or `...:pull,push`. */
export function repositoryScope(repo: string, actions: 'pull' | 'pull,push'): string {
  return `repository:${repo}:${actions}`;
}

/**
 * Answer a 401: get a token for the challenge from its realm, anonymously. Returns the value
 * of the Authorization header to retry with.
 */
export async function fetchToken(registryHost: string, header: string | undefined, fallbackScope: string): Promise<string> {
  const challenges = parseWwwAuthenticate(header ?? '');
  const bearer = challenges.find((c) => c.scheme === 'bearer');
  if (!bearer) {
    if (challenges.some((c) => c.scheme === 'basic')) {
      throw new UserError(`registry ${registryHost} asks for a user name and password (Basic auth); box pulls and pushes anonymously only`);
    }
    throw new UserError(`registry ${registryHost} refused the request (401) without saying how to authenticate`);
  }
  const { realm, service, scope } = bearer.params;
  let url: URL;
  try {
    url = new URL(realm ?? '');
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http');
  } catch {
    throw new UserError(`registry ${registryHost} names a token server box cannot use (realm ${JSON.stringify(realm ?? '')})`);
  }
  if (service) url.searchParams.set('service', service);
  url.searchParams.set('scope', scope ?? fallbackScope);
  const res = await request(url, { method: 'GET', headers: { accept: 'application/json' } });
  const body = await readBody(res, 1 << 20);
  if (res.status !== 200) {
    throw new UserError(`the token server ${url.host} refused an anonymous token for ${scope ?? fallbackScope} (HTTP ${res.status}); the repository may not exist or may need a login`);
  }
  let parsed: { token?: unknown; access_token?: unknown };
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new UserError(`the token server ${url.host} answered with something that is not JSON`);
  }
  // Docker's token servers send `token`; OAuth2-style ones `access_token`. Either will do.
  const token = typeof parsed.token === 'string' ? parsed.token : parsed.access_token;
  if (typeof token !== 'string' || token === '') throw new UserError(`the token server ${url.host} gave no token`);
  return `Bearer ${token}`;
}
