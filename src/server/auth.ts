// Who may use the lab: whoever holds the token printed at start (as Jupyter does).
// The first visit brings it in the URL (?token=...); we trade it for an HttpOnly cookie
// and redirect to the same URL without it, so it does not linger in the address bar,
// history or Referer headers. After that, pages and the WebSocket authenticate by cookie.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const COOKIE_NAME = 'isolab_token';
/**
 * Everyone holds the same token, so the token cookie cannot tell readers apart. Each browser
 * also gets a random client id of its own, which the lab counts sandboxes by (sessions.ts).
 * A client may send any value here: it limits honest tabs, and the per-address limit the rest.
 */
export const CLIENT_COOKIE = 'isolab_client';
const CLIENT_ID = /^[A-Za-z0-9_-]{16,64}$/;

/**
 * Compare in constant time. timingSafeEqual needs equal lengths, so compare SHA-256
 * digests: the time taken then says nothing about how many leading characters matched.
 */
export function tokenMatches(expected: string, given: string | null | undefined): boolean {
  if (typeof given !== 'string' || given.length === 0) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

/** Parse a Cookie header into name -> value (the first of duplicate names wins). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (name && !out.has(name)) out.set(name, value);
  }
  return out;
}

export interface AuthResult {
  ok: boolean;
  /** The token came in the query string: set the cookie and redirect to `cleanUrl`. */
  fromQuery: boolean;
  /** The request path and query without the token parameter. */
  cleanUrl: string;
}

/**
 * The request target as a URL on this server. Node hands over what the client wrote, which
 * may be "//evil.example/x" (a path, not a host) or absolute-form "http://h/x": only the
 * path and query are kept, so they can never name another host. null: not a request target.
 */
export function requestUrl(raw: string | undefined): URL | null {
  const target = raw ?? '/';
  try {
    if (target.startsWith('/')) return new URL(`http://x${target}`);
    const abs = new URL(target);
    return new URL(`http://x${abs.pathname}${abs.search}`);
  } catch {
    return null;
  }
}

/**
 * A Location that stays on this server. A browser reads "//evil.example/" and "/\evil.example/"
 * as another host (the WHATWG URL parser takes "\" for "/" in http URLs) and drops tabs and
 * newlines inside them: keep one leading "/" and percent-encode every backslash and control
 * character, so what is left is always a path here.
 */
export function localLocation(pathAndQuery: string): string {
  const encoded = pathAndQuery.replace(/[\\\x00-\x20\x7f]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`);
  return '/' + encoded.replace(/^\/+/, '');
}

/** Does this request carry the token, by ?token= or by cookie? */
export function authenticate(req: IncomingMessage, token: string): AuthResult {
  const url = requestUrl(req.url);
  if (!url) return { ok: false, fromQuery: false, cleanUrl: '/' };
  const queryToken = url.searchParams.get('token');
  url.searchParams.delete('token');
  const cleanUrl = localLocation(url.pathname + url.search);
  if (queryToken !== null) {
    return { ok: tokenMatches(token, queryToken), fromQuery: true, cleanUrl };
  }
  const cookie = parseCookies(req.headers.cookie).get(COOKIE_NAME);
  return { ok: tokenMatches(token, cookie), fromQuery: false, cleanUrl };
}

/** The browser's client id from its cookie, or null when it has none (or a malformed one). */
export function clientId(req: IncomingMessage): string | null {
  const id = parseCookies(req.headers.cookie).get(CLIENT_COOKIE);
  return id !== undefined && CLIENT_ID.test(id) ? id : null;
}

/** A new client id cookie, for a browser that has none. */
export function clientCookieHeader(): string {
  return `${CLIENT_COOKIE}=${randomBytes(16).toString('base64url')}; HttpOnly; SameSite=Strict; Path=/`;
}

export function cookieHeader(token: string): string {
  // No Max-Age: a session cookie, gone when the browser closes; the printed URL brings it back.
  return `${COOKIE_NAME}=${token}; HttpOnly; SameSite=Strict; Path=/`;
}

/**
 * The WebSocket's Origin must be this very server. Browsers always send Origin on a
 * WebSocket handshake, and a page on another site cannot forge it, so this stops
 * cross-site WebSocket hijacking even if a cookie were ever sent along.
 */
export function originAllowed(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  const host = req.headers.host;
  if (!origin || !host) return false;
  return origin === `http://${host}` || origin === `https://${host}`;
}

/**
 * When we listen on loopback only, the Host header must name loopback too. A page on
 * evil.example whose DNS name is re-pointed at 127.0.0.1 (DNS rebinding) sends
 * "Host: evil.example"; refusing it means such a page never even reaches the token check.
 */
export function hostAllowed(req: IncomingMessage, loopbackOnly: boolean): boolean {
  if (!loopbackOnly) return true;
  const host = req.headers.host;
  if (!host) return false;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}
