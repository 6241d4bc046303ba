// The browser's side of the terminal WebSocket protocol (see the contract): the URL, the
// session id, the JSON control frames, and the reconnection schedule. No DOM, no xterm here,
// so it can be unit-tested in Node.

export type ConnectionState =
  | 'connecting' // first attempt
  | 'connected'
  | 'reconnecting' // lost the socket; retrying with backoff to the same session
  | 'gone' // gave up: the server is not answering
  | 'unauthorized' // the server answers, but not to us (no/expired token)
  | 'exited' // the sandbox's shell ended; the reader may start a new one
  | 'full' // the lab has no room for another sandbox right now
  | 'failed' // the server could not start a sandbox (close 1011); its error says why
  | 'elsewhere'; // another tab with the same session took the terminal over (close 4001)

/** WebSocket close codes the lab server uses: the table both sides share. */
export { CLOSE } from '../../shared/close-codes.ts';

export type ServerFrame =
  | { type: 'hello'; session: string; sandbox: string; resumed: boolean; term?: number }
  | { type: 'exit'; code: number }
  | { type: 'check'; lesson?: string; exercise: string; pass: boolean; hint?: string; detail?: string }
  | { type: 'error'; message: string; lesson?: string; exercise?: string }
  | { type: 'full'; message?: string }
  // In a class: the instructor's request to type here, the student's grant, or its end.
  | { type: 'control'; state: 'asked' | 'allowed' | 'none'; by?: string }
  | { type: 'trace'; reset?: boolean; events: unknown[] }
  | { type: 'stats'; [key: string]: unknown }
  | { type: 'namespaces'; [key: string]: unknown };

export type ClientFrame =
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'ack'; bytes: number }
  | { type: 'check'; lesson: string; exercise: string }
  | { type: 'panel'; on: boolean; tab?: string }
  | { type: 'close' }
  | { type: 'control'; allow: boolean };

const KNOWN = new Set(['hello', 'exit', 'check', 'error', 'full', 'trace', 'stats', 'namespaces', 'control']);

/** A text frame from the server, or undefined if it is not one we understand. */
export function parseServerFrame(text: string): ServerFrame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!value || typeof value !== 'object' || !KNOWN.has((value as { type?: string }).type ?? '')) return undefined;
  return value as ServerFrame;
}

export const SESSION_KEY = 'isolab.session';

/** 128 random bits as hex: the id that lets a reload find its sandbox again. */
export function newSessionId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The sandbox's terminals a page may have open (the server's MAX_TERMINALS, src/server/panes.ts). */
export const MAX_TERMINALS = 4;

/** The session id for this tab: kept in sessionStorage so reloads and the next lesson reuse it. */
export function tabSessionId(storage: Pick<Storage, 'getItem' | 'setItem'> | undefined): string {
  try {
    const existing = storage?.getItem(SESSION_KEY);
    if (existing && /^[A-Za-z0-9_-]{8,64}$/.test(existing)) return existing;
    const id = newSessionId();
    storage?.setItem(SESSION_KEY, id);
    return id;
  } catch {
    return newSessionId();
  }
}

export function terminalUrl(location: { protocol: string; host: string }, session: string, cols: number, rows: number, term = 1): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = new URLSearchParams({ session, cols: String(cols), rows: String(rows) });
  // The sandbox's other terminals (the tabs, tabs.ts); the first is the one without `term`.
  if (term !== 1) q.set('term', String(term));
  return `${scheme}//${location.host}/ws/terminal?${q}`;
}

/**
 * The server takes messages up to 64 KiB; a big paste goes out in pieces of at most 8192
 * UTF-16 units (<= 24 KiB of UTF-8), never splitting a surrogate pair.
 */
export const MAX_CHUNK_UNITS = 8192;
export function chunkInput(data: string, max = MAX_CHUNK_UNITS): string[] {
  if (data.length <= max) return [data];
  const chunks: string[] = [];
  let i = 0;
  while (i < data.length) {
    let end = Math.min(i + max, data.length);
    const last = data.charCodeAt(end - 1);
    if (end < data.length && last >= 0xd800 && last <= 0xdbff) end--; // keep the pair together
    chunks.push(data.slice(i, end));
    i = end;
  }
  return chunks;
}

/**
 * Reconnection: quick retries for a blip (a laptop waking up, a server restart), then slower,
 * and give up after about a minute without an answer. Full jitter keeps a classroom of tabs
 * from reconnecting in lockstep when the server comes back.
 */
export const RECONNECT_BUDGET_MS = 60_000;
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(8_000, 250 * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Flow control: count bytes xterm has finished writing and report them in batches
 * (`{"type":"ack","bytes":N}`, N = bytes since the previous ack). The server pauses the pty
 * while too many bytes are unacknowledged, so a `yes` cannot flood the page.
 */
export class AckBatcher {
  pending = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly send: (bytes: number) => void;
  private readonly threshold: number;
  private readonly delayMs: number;

  constructor(send: (bytes: number) => void, threshold = 32 * 1024, delayMs = 20) {
    this.send = send;
    this.threshold = threshold;
    this.delayMs = delayMs;
  }

  written(bytes: number): void {
    this.pending += bytes;
    if (this.pending >= this.threshold) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.delayMs);
  }

  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending > 0) {
      const n = this.pending;
      this.pending = 0;
      this.send(n);
    }
  }

  /** A new socket starts a new count on the server too. */
  reset(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = 0;
  }
}
