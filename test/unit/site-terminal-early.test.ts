// The lesson page's early terminal socket (src/scripts/terminal/early.ts): the inline script's
// own text, run as the page runs it, asks for what terminal.ts's connect() would ask for, and
// what it received reaches the terminal's handlers in order. The real page and server:
// test/e2e/lab.test.ts ("opens its socket before the page's scripts run").
import vm from 'node:vm';
import { webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EARLY_SOCKET_SCRIPT, SIZE_KEY, replayEarly, takeEarlySocket, type EarlySocket } from '../../src/scripts/terminal/early.ts';
import { SESSION_KEY, tabSessionId, terminalUrl } from '../../src/scripts/terminal/protocol.ts';

class FakeSocket {
  static made: FakeSocket[] = [];
  binaryType = 'blob';
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  closedWith: number | undefined;
  readonly url: string;
  constructor(url: string) {
    this.url = url;
    FakeSocket.made.push(this);
  }
  close(code: number) {
    this.closedWith = code;
  }
}

function storage(initial: Record<string, string> = {}) {
  const data = new Map(Object.entries(initial));
  return { getItem: (k: string) => data.get(k) ?? null, setItem: (k: string, v: string) => void data.set(k, v), data };
}

/** Run the inline script exactly as the layout writes it into the page. */
function runScript(store: ReturnType<typeof storage>, protocol = 'http:') {
  FakeSocket.made = [];
  const win: Record<string, unknown> = {
    location: { protocol, host: '127.0.0.1:4321' },
    sessionStorage: store,
    crypto: webcrypto,
    WebSocket: FakeSocket,
  };
  win.window = win;
  vm.runInNewContext(EARLY_SOCKET_SCRIPT, { window: win, URLSearchParams, Uint8Array, Array });
  return { win: win as { isolabEarly?: EarlySocket }, sock: FakeSocket.made[0]! };
}

describe('the early socket script', () => {
  it('opens the URL terminal.ts would, for a new session it keeps for the tab', () => {
    const store = storage();
    const { win, sock } = runScript(store);
    const session = store.data.get(SESSION_KEY)!;
    expect(session).toMatch(/^[0-9a-f]{32}$/);
    // terminal.ts reads the same id back and would have asked for this very URL.
    expect(tabSessionId(store)).toBe(session);
    expect(sock.url).toBe(terminalUrl({ protocol: 'http:', host: '127.0.0.1:4321' }, session, 80, 24));
    expect(sock.binaryType).toBe('arraybuffer');
    expect(win.isolabEarly?.session).toBe(session);
  });

  it('reuses the tab session and the size the terminal had last; refuses a bad stored one', () => {
    const { sock } = runScript(storage({ [SESSION_KEY]: 'abcdef123456', [SIZE_KEY]: '132x41' }), 'https:');
    expect(sock.url).toBe(terminalUrl({ protocol: 'https:', host: '127.0.0.1:4321' }, 'abcdef123456', 132, 41));
    const bad = storage({ [SESSION_KEY]: 'bad id!', [SIZE_KEY]: '999x0' });
    const { sock: other } = runScript(bad);
    const session = bad.data.get(SESSION_KEY)!;
    expect(session).toMatch(/^[0-9a-f]{32}$/);
    expect(other.url).toBe(terminalUrl({ protocol: 'http:', host: '127.0.0.1:4321' }, session, 80, 24));
  });

  it('keeps what arrives until the terminal takes it, then replays it in order, the close last', () => {
    const { win, sock } = runScript(storage({ [SESSION_KEY]: 'abcdef123456' }));
    sock.onmessage!({ data: '{"type":"hello"}' });
    sock.onmessage!({ data: new ArrayBuffer(3) });
    sock.onclose!({ code: 4001, reason: 'taken over' });
    const early = takeEarlySocket(win, 'abcdef123456')!;
    expect(takeEarlySocket(win, 'abcdef123456')).toBeUndefined(); // taken once
    const seen: unknown[] = [];
    sock.onmessage = (ev) => seen.push(ev.data);
    sock.onclose = (ev) => seen.push(`close ${ev.code} ${ev.reason}`);
    replayEarly(early);
    expect(seen).toEqual(['{"type":"hello"}', new ArrayBuffer(3), 'close 4001 taken over']);
  });

  it('is closed when the page has another session by the time the terminal mounts', () => {
    const { win, sock } = runScript(storage({ [SESSION_KEY]: 'abcdef123456' }));
    expect(takeEarlySocket(win, 'another-session')).toBeUndefined();
    expect(sock.closedWith).toBe(1000);
  });
});
