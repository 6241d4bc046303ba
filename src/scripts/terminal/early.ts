// The terminal's WebSocket, opened by a small inline script at the top of a lesson page (the
// layout's <head>), so that the sandbox's hello and prompt travel while the page's module
// scripts (xterm.js alone is 336 KB to fetch, compile and run) are still on their way. Frames
// that come before the terminal is mounted are kept; mountTerminal adopts the socket and replays
// them in order, as if they had just arrived.
//
// The same URL, session id and cookies as terminal.ts's own connect() would use (the browser
// sends the token's HttpOnly cookie with any same-origin WebSocket, and its Origin): the server
// sees the same handshake, and checks it the same way (app.ts).

import { SESSION_KEY } from './protocol.ts';

/** The size the terminal had last, in this browser tab: the early socket asks for it. */
export const SIZE_KEY = 'isolab.size';

/** What the inline script leaves on `window.isolabEarly` for mountTerminal. */
export interface EarlySocket {
  sock: WebSocket;
  session: string;
  /** Frames received before the terminal took the socket, in order. */
  frames: (string | ArrayBuffer)[];
  /** The socket's close, when it came before the terminal took the socket. */
  closed: { code: number; reason: string } | null;
}

type EarlyWindow = Pick<Window, 'location' | 'sessionStorage' | 'crypto'> & { WebSocket: typeof WebSocket; isolabEarly?: EarlySocket };

/**
 * Runs in the page as an inline script, from its source text (EARLY_SOCKET_SCRIPT): no imports,
 * no names from this module, nothing newer than the page's other inline scripts use. The
 * session id follows protocol.ts's tabSessionId, the URL its terminalUrl (a unit test holds them
 * to it); the size is the one the terminal last had in this tab (it sends its real size on hello).
 */
export function openEarlySocket(win: EarlyWindow, sessionKey: string, sizeKey: string): void {
  let session = '';
  let size: RegExpExecArray | null = null;
  try {
    session = win.sessionStorage.getItem(sessionKey) || '';
    size = /^(\d{1,3})x(\d{1,3})$/.exec(win.sessionStorage.getItem(sizeKey) || '');
  } catch (e) {
    /* no storage: a session for this page alone */
  }
  if (!/^[A-Za-z0-9_-]{8,64}$/.test(session)) {
    const bytes = new Uint8Array(16);
    win.crypto.getRandomValues(bytes);
    session = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    try {
      win.sessionStorage.setItem(sessionKey, session);
    } catch (e) {
      /* as above */
    }
  }
  const cols = size && +size[1]! >= 1 && +size[1]! <= 500 ? size[1]! : '80';
  const rows = size && +size[2]! >= 1 && +size[2]! <= 200 ? size[2]! : '24';
  const q = new URLSearchParams({ session, cols, rows });
  const scheme = win.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const sock = new win.WebSocket(scheme + '//' + win.location.host + '/ws/terminal?' + q);
  sock.binaryType = 'arraybuffer';
  const early: EarlySocket = { sock, session, frames: [], closed: null };
  sock.onmessage = (ev: MessageEvent) => {
    early.frames.push(ev.data as string | ArrayBuffer);
  };
  sock.onclose = (ev: CloseEvent) => {
    early.closed = { code: ev.code, reason: ev.reason };
  };
  win.isolabEarly = early;
}

/** The inline script itself: the function above, called with this page's keys. */
export const EARLY_SOCKET_SCRIPT = `(${openEarlySocket.toString()})(window, ${JSON.stringify(SESSION_KEY)}, ${JSON.stringify(SIZE_KEY)});`;

/**
 * The early socket, for the terminal of `session` (taken once: a later call gets nothing). One
 * for another session (the page changed it since) is closed, and the terminal connects itself.
 */
export function takeEarlySocket(win: { isolabEarly?: EarlySocket }, session: string): EarlySocket | undefined {
  const early = win.isolabEarly;
  delete win.isolabEarly;
  if (!early) return undefined;
  if (early.session === session) return early;
  early.sock.close(1000, 'another session');
  return undefined;
}

/**
 * Hand what the early socket received to the terminal's own handlers (set on it just before):
 * its frames in order, then its close if it came. Called in the same task that set the
 * handlers, so nothing that arrives later can overtake them.
 */
export function replayEarly(early: EarlySocket): void {
  const { sock } = early;
  for (const data of early.frames.splice(0)) sock.onmessage?.(new MessageEvent('message', { data }));
  if (early.closed) sock.onclose?.(new CloseEvent('close', { code: early.closed.code, reason: early.closed.reason }));
}
