// The lab server: the built site and the terminal WebSocket on one HTTP server.
// Every request must carry the token (cookie or ?token=); the WebSocket must also come
// from a page of this very server (Origin) before it is upgraded.

import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { authenticate, cookieHeader, hostAllowed, originAllowed } from './auth.ts';
import { isLoopback } from './options.ts';
import { serveStatic } from './static.ts';
import { MAX_MESSAGE_BYTES, SESSION_ID, initialSize } from './protocol.ts';
import { SessionManager } from './sessions.ts';
import { ExerciseCatalog } from './checks.ts';
import { handleTerminal } from './terminal.ts';
import type { SandboxDriver } from './sandbox.ts';

export const WS_PATH = '/ws/terminal';

export interface LabServerOptions {
  host: string;
  port: number;
  token: string;
  /** The built site. */
  dist: string;
  /** The repository (for content/lessons and astro's YAML parser). */
  repo: string;
  /** Where the lessons are (default <repo>/content/lessons). */
  lessonsDir?: string;
  driver: SandboxDriver;
  maxSandboxes: number;
  graceMs: number;
  idleMs: number;
  log?: (line: string) => void;
}

export interface LabServer {
  readonly port: number;
  /** The address to open, with the token: http://127.0.0.1:4321/?token=... */
  readonly url: string;
  readonly sessions: SessionManager;
  /** Stop listening, close every socket, remove every sandbox. */
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  // The Run buttons type into a root shell: no other site may frame these pages.
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
};

function page(res: ServerResponse, status: number, title: string, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', ...SECURITY_HEADERS });
  res.end(`<!doctype html><meta charset="utf-8"><title>${title}</title>
<body style="font-family:system-ui;max-width:40em;margin:4em auto;line-height:1.5">
<h1>${title}</h1>${body}</body>`);
}

const NEED_TOKEN = `<p>This lab needs its access token. Open the address that <code>npm start</code>
printed, the one ending in <code>?token=…</code>. If the server was restarted, it printed a new one.</p>`;

/** Refuse a WebSocket handshake with a plain HTTP answer and close the socket. */
function refuse(socket: Duplex, status: number, reason: string): void {
  const text = `${reason}\n`;
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\n`
    + `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
}

export async function startLabServer(opts: LabServerOptions): Promise<LabServer> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const loopbackOnly = isLoopback(opts.host);
  const sessions = new SessionManager({
    driver: opts.driver, maxSandboxes: opts.maxSandboxes, graceMs: opts.graceMs, idleMs: opts.idleMs, log,
  });
  const catalog = new ExerciseCatalog(opts.repo, opts.lessonsDir);
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });

  const server = http.createServer((req, res) => {
    try {
      if (!hostAllowed(req, loopbackOnly)) {
        page(res, 403, 'Forbidden', '<p>This server answers to 127.0.0.1 and localhost only.</p>');
        return;
      }
      const auth = authenticate(req, opts.token);
      if (!auth.ok) { page(res, 401, 'Access token needed', NEED_TOKEN); return; }
      if (auth.fromQuery) {
        // Trade the token in the URL for a cookie, and drop it from the address bar.
        res.writeHead(303, { 'Set-Cookie': cookieHeader(opts.token), Location: auth.cleanUrl, 'Cache-Control': 'no-store', ...SECURITY_HEADERS });
        res.end();
        return;
      }
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
      serveStatic(req, res, opts.dist);
    } catch (e) {
      log(`isolab: ${req.method} ${req.url}: ${(e as Error).message}`);
      if (!res.headersSent) page(res, 500, 'Server error', '<p>Something went wrong; the server log says what.</p>');
      else res.destroy();
    }
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== WS_PATH) { refuse(socket, 404, `no WebSocket here; the terminal is at ${WS_PATH}`); return; }
      if (!hostAllowed(req, loopbackOnly)) { refuse(socket, 403, 'this server answers to 127.0.0.1 and localhost only'); return; }
      if (!originAllowed(req)) { refuse(socket, 403, 'the WebSocket must come from a page of this server (Origin)'); return; }
      if (!authenticate(req, opts.token).ok) { refuse(socket, 401, 'the access token is missing or wrong'); return; }
      const sid = url.searchParams.get('session') ?? '';
      if (!SESSION_ID.test(sid)) { refuse(socket, 400, 'session must be 8-64 letters, digits, - or _'); return; }
      const size = initialSize(url.searchParams.get('cols'), url.searchParams.get('rows'));
      if (!size) { refuse(socket, 400, 'cols must be 1..500 and rows 1..200'); return; }
      wss.handleUpgrade(req, socket, head, (ws) => {
        try {
          handleTerminal(ws, sid, size.cols, size.rows, { sessions, catalog, log });
        } catch (e) {
          log(`isolab: terminal: ${(e as Error).message}`);
          ws.close(1011, 'server error');
        }
      });
    } catch (e) {
      log(`isolab: upgrade: ${(e as Error).message}`);
      refuse(socket, 500, 'server error');
    }
  });

  // Bad clients must not be able to bring the process down.
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => { server.off('error', reject); resolve(); });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const shownHost = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${shownHost}:${port}/?token=${encodeURIComponent(opts.token)}`;

  let closing: Promise<void> | undefined;
  return {
    port,
    url,
    sessions,
    close() {
      closing ??= (async () => {
        server.close();
        await sessions.close();      // tells every page, removes every sandbox
        for (const ws of wss.clients) ws.terminate();
        server.closeAllConnections();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      })();
      return closing;
    },
  };
}
