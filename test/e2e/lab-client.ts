// A terminal client that speaks the lab's WebSocket protocol the way the page does:
// it sends Origin and the token cookie, collects terminal bytes, and acks them like
// xterm.js (after "writing" them), or not at all when a test wants a slow reader.

import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';

export interface ControlMessage { type: string; [key: string]: unknown }

export interface ClientOptions {
  session?: string;
  cols?: number;
  rows?: number;
  /** Send the token as a cookie (default) / in the query / not at all. */
  token?: string | null;
  tokenIn?: 'cookie' | 'query';
  origin?: string | null;
  /** The browser's client id cookie (isolab_client), which the lab counts sandboxes by. */
  clientId?: string;
  /** More cookies, e.g. a class student's "isolab_student=…". */
  cookie?: string;
  /** The terminal's number in the sandbox (PROTOCOL.md `term`; absent: the first). */
  term?: number;
  /** 'auto' acks every binary frame at once; 'manual' leaves it to the test. */
  ack?: 'auto' | 'manual';
}

export function newSessionId(): string {
  return randomBytes(12).toString('base64url');
}

export class LabClient {
  readonly ws: WebSocket;
  readonly session: string;
  /** Every terminal byte received. */
  bytes: Buffer[] = [];
  received = 0;
  messages: ControlMessage[] = [];
  closed: { code: number; reason: string } | null = null;
  #waiters = new Set<() => void>();

  constructor(port: number, opts: ClientOptions = {}) {
    this.session = opts.session ?? newSessionId();
    const q = new URLSearchParams({ session: this.session, cols: String(opts.cols ?? 100), rows: String(opts.rows ?? 30) });
    if (opts.term !== undefined) q.set('term', String(opts.term));
    if (opts.token && opts.tokenIn === 'query') q.set('token', opts.token);
    const headers: Record<string, string> = {};
    if (opts.token && opts.tokenIn !== 'query') headers.Cookie = `isolab_token=${opts.token}`;
    if (opts.clientId) headers.Cookie = [headers.Cookie, `isolab_client=${opts.clientId}`].filter(Boolean).join('; ');
    if (opts.cookie) headers.Cookie = [headers.Cookie, opts.cookie].filter(Boolean).join('; ');
    const origin = opts.origin === undefined ? `http://127.0.0.1:${port}` : opts.origin;
    this.ws = new WebSocket(`ws://127.0.0.1:${port}/ws/terminal?${q}`, { headers, ...(origin ? { origin } : {}) });
    const ack = opts.ack ?? 'auto';
    this.ws.on('message', (data, isBinary) => {
      const buf = data as Buffer;
      if (isBinary) {
        this.bytes.push(buf);
        this.received += buf.length;
        if (ack === 'auto') this.ack(buf.length);
      } else {
        this.messages.push(JSON.parse(buf.toString()) as ControlMessage);
      }
      this.#wake();
    });
    this.ws.on('close', (code, reason) => { this.closed = { code, reason: reason.toString() }; this.#wake(); });
    this.ws.on('error', () => this.#wake());
  }

  #wake(): void { for (const w of this.#waiters) w(); }

  /** Wait until `cond()` holds, re-checking whenever something arrives. */
  until<T>(cond: () => T | undefined | false | null, timeoutMs = 15_000, what = 'condition'): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = cond();
        if (v) { done(); resolve(v); }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; screen tail: ${JSON.stringify(this.text().slice(-400))}; messages: ${JSON.stringify(this.messages).slice(-400)}`));
      }, timeoutMs);
      const done = () => { clearTimeout(timer); this.#waiters.delete(check); };
      this.#waiters.add(check);
      check();
    });
  }

  text(): string { return Buffer.concat(this.bytes).toString('utf8'); }

  /** Wait for the handshake: resolves on open, rejects with the HTTP status when refused. */
  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.ws.readyState === WebSocket.OPEN) { resolve(); return; }
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      this.ws.once('error', (e) => reject(e));
    });
  }

  message(type: string, timeoutMs = 15_000, from = 0): Promise<ControlMessage> {
    return this.until(() => this.messages.slice(from).find((m) => m.type === type), timeoutMs, `a "${type}" message`);
  }

  /** Wait for `pattern` in the terminal output after byte offset `from` (text length). */
  async waitFor(pattern: RegExp | string, timeoutMs = 15_000, from = 0): Promise<string> {
    const test = (s: string) => typeof pattern === 'string' ? s.includes(pattern) : pattern.test(s);
    await this.until(() => test(this.text().slice(from)), timeoutMs, `${pattern} in the terminal`);
    return this.text().slice(from);
  }

  type(text: string): void { this.ws.send(Buffer.from(text), { binary: true }); }

  /**
   * Run a command and return what it printed between two markers. The markers are built
   * from pieces ('__"S"__') so the echo of the typed line never matches them.
   */
  async run(command: string, timeoutMs = 15_000): Promise<string> {
    const id = randomBytes(4).toString('hex');
    const from = this.text().length;
    this.type(`echo "__S${id}""__"; ${command}; echo "__E${id}""__$?"\r`);
    const out = await this.waitFor(new RegExp(`__E${id}__\\d+`), timeoutMs, from);
    const start = out.indexOf(`__S${id}__`);
    const end = out.indexOf(`__E${id}__`);
    return out.slice(start + `__S${id}__`.length, end).replace(/\r/g, '').trim();
  }

  /** Like run(), also returning the command's exit status. */
  async runStatus(command: string, timeoutMs = 15_000): Promise<{ out: string; status: number }> {
    const id = randomBytes(4).toString('hex');
    const from = this.text().length;
    this.type(`echo "__S${id}""__"; ${command}; echo "__E${id}""__$?"\r`);
    const text = await this.waitFor(new RegExp(`__E${id}__\\d+`), timeoutMs, from);
    const start = text.indexOf(`__S${id}__`);
    const end = text.indexOf(`__E${id}__`);
    const status = Number(new RegExp(`__E${id}__(\\d+)`).exec(text)![1]);
    return { out: text.slice(start + `__S${id}__`.length, end).replace(/\r/g, '').trim(), status };
  }

  send(obj: unknown): void { this.ws.send(JSON.stringify(obj)); }
  ack(bytes: number): void { if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'ack', bytes })); }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) { resolve(); return; }
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}
