import { describe, expect, it } from 'vitest';
import type { IncomingMessage } from 'node:http';
import { authenticate, cookieHeader, hostAllowed, originAllowed, parseCookies, tokenMatches } from '../../src/server/auth.ts';

const req = (url: string, headers: Record<string, string> = {}) => ({ url, headers } as unknown as IncomingMessage);
const TOKEN = 'f'.repeat(64);

describe('lab server auth', () => {
  it('matches only the exact token', () => {
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(tokenMatches(TOKEN, TOKEN.slice(1))).toBe(false);
    expect(tokenMatches(TOKEN, TOKEN + 'f')).toBe(false);
    expect(tokenMatches(TOKEN, '')).toBe(false);
    expect(tokenMatches(TOKEN, undefined)).toBe(false);
  });

  it('takes the token from the query, and gives the URL without it', () => {
    const r = authenticate(req(`/lessons/en/x/?a=1&token=${TOKEN}&b=2`), TOKEN);
    expect(r).toEqual({ ok: true, fromQuery: true, cleanUrl: '/lessons/en/x/?a=1&b=2' });
    expect(authenticate(req('/?token=wrong'), TOKEN)).toMatchObject({ ok: false, fromQuery: true });
  });

  it('takes the token from the cookie', () => {
    expect(authenticate(req('/', { cookie: `theme=dark; isolab_token=${TOKEN}` }), TOKEN).ok).toBe(true);
    expect(authenticate(req('/', { cookie: 'isolab_token=nope' }), TOKEN).ok).toBe(false);
    expect(authenticate(req('/'), TOKEN).ok).toBe(false);
  });

  it('sets an HttpOnly SameSite=Strict cookie for the whole site', () => {
    expect(cookieHeader(TOKEN)).toBe(`isolab_token=${TOKEN}; HttpOnly; SameSite=Strict; Path=/`);
  });

  it('parses cookie headers leniently', () => {
    expect([...parseCookies(' a=1; b="two" ;bad; c=3=3')]).toEqual([['a', '1'], ['b', 'two'], ['c', '3=3']]);
  });

  it('accepts only an Origin equal to this server', () => {
    expect(originAllowed(req('/', { host: '127.0.0.1:4321', origin: 'http://127.0.0.1:4321' }))).toBe(true);
    expect(originAllowed(req('/', { host: '127.0.0.1:4321', origin: 'http://evil.example' }))).toBe(false);
    expect(originAllowed(req('/', { host: '127.0.0.1:4321', origin: 'http://127.0.0.1:4322' }))).toBe(false);
    expect(originAllowed(req('/', { host: '127.0.0.1:4321' }))).toBe(false);
    expect(originAllowed(req('/', { host: '127.0.0.1:4321', origin: 'null' }))).toBe(false);
  });

  it('on loopback, accepts only loopback Host names (DNS rebinding)', () => {
    for (const h of ['127.0.0.1:4321', 'localhost:4321', '[::1]:4321', 'localhost']) expect(hostAllowed(req('/', { host: h }), true), h).toBe(true);
    for (const h of ['evil.example:4321', 'localhost.evil.example', '10.0.0.1:4321']) expect(hostAllowed(req('/', { host: h }), true), h).toBe(false);
    expect(hostAllowed(req('/', {}), true)).toBe(false);
    expect(hostAllowed(req('/', { host: 'lab.school.example' }), false)).toBe(true);
  });
});
