// The lab server: the built site and the terminal WebSocket on one HTTP server.
// Every request must carry the token (cookie or ?token=); the WebSocket must also come
// from a page of this very server (Origin) before it is upgraded.

import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { authenticate, clientCookieHeader, clientId, cookieHeader, hostAllowed, originAllowed, requestUrl } from './auth.ts';
import { isLoopback } from './options.ts';
import { serveStatic } from './static.ts';
import { MAX_MESSAGE_BYTES, SESSION_ID, initialSize, terminalIndex } from './protocol.ts';
import { SessionManager } from './sessions.ts';
import { ExerciseCatalog } from './checks.ts';
import { handleTerminal } from './terminal.ts';
import { CLOSE } from '../shared/close-codes.ts';
import { PORT_PREFIX, proxyPortRequest, proxyPortUpgrade } from './port-proxy.ts';
import type { SandboxDriver } from './sandbox.ts';
import type { Classroom } from './class.ts';
import { CLASS_API, handleClassApi, openInClass, requestStudent } from './class-http.ts';
import { TEACH_API, handleTeach, isTeacher, isTeachPage, readCourse } from './instructor.ts';
import { PRESENTER, VIEW_PATH, handleViewer, terminalOf } from './viewer.ts';
import path from 'node:path';

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
  /** Most sandboxes of one browser (its client id cookie) / of one remote address; default: no limit. */
  maxPerClient?: number;
  maxPerAddress?: number;
  /** In a class: most sandboxes of one student. */
  maxPerStudent?: number;
  /** Sandboxes kept made ahead for the next readers (warm.ts); default 0. */
  warmSandboxes?: number;
  graceMs: number;
  idleMs: number;
  log?: (line: string) => void;
  /** A class (--class): students join with its code instead of holding the token. */
  classroom?: Classroom;
}

/**
 * Slow clients (slowloris): a request's headers must arrive within `headersMs` and the whole
 * request within `requestMs` (Node looks every `checkMs`), or it is answered 408 and its
 * socket closed. An idle keep-alive connection goes after `keepAliveMs`. Connections past
 * `maxConnections` are refused, so file descriptors are left for the sandboxes' ptys.
 */
export const HTTP_LIMITS = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, checkMs: 2_000, maxConnections: 4096 } as const;

/** How long close() waits for the sandboxes to be removed before it returns anyway. */
export const CLOSE_DEADLINE_MS = 45_000;
/** How long the pages get to receive the goodbye (error frame and close 1001) before their sockets are cut. */
const SOCKET_GOODBYE_MS = 1000;

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
    driver: opts.driver, maxSandboxes: opts.maxSandboxes, maxPerClient: opts.maxPerClient, maxPerAddress: opts.maxPerAddress, maxPerStudent: opts.maxPerStudent,
    graceMs: opts.graceMs, idleMs: opts.idleMs, warm: opts.warmSandboxes, log,
  });
  const catalog = new ExerciseCatalog(opts.repo, opts.lessonsDir);
  const course = opts.classroom ? readCourse(opts.repo, opts.lessonsDir ?? path.join(opts.repo, 'content', 'lessons')) : [];
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });

  // Node looks for requests past headersTimeout/requestTimeout every connectionsCheckingInterval.
  const server = http.createServer({ connectionsCheckingInterval: HTTP_LIMITS.checkMs }, (req, res) => {
    try {
      if (!hostAllowed(req, loopbackOnly)) {
        page(res, 403, 'Forbidden', '<p>This server answers to 127.0.0.1 and localhost only.</p>');
        return;
      }
      const url = requestUrl(req.url);
      const classroom = opts.classroom;
      if (classroom && url?.pathname.startsWith(CLASS_API)) {
        for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
        handleClassApi(req, res, url.pathname, classroom).catch((e: Error) => {
          log(`isolab: class: ${e.message}`);
          if (!res.headersSent) page(res, 500, 'Server error', '<p>Something went wrong; the server log says what.</p>');
          else res.destroy();
        });
        return;
      }
      if (classroom && url && (url.pathname.startsWith(TEACH_API) || isTeachPage(url.pathname) || url.searchParams.has('teacher'))) {
        // The instructor's page and API: its own token, nothing else (instructor.ts).
        for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
        handleTeach(req, res, { classroom, sessions, course, log }, () => serveStatic(req, res, opts.dist)).then((mine) => {
          if (!mine && !res.headersSent) page(res, 401, 'Instructor token needed', '<p>Open the instructor\'s address that <code>npm start -- --class</code> printed, the one ending in <code>?teacher=…</code>.</p>');
        }, (e: Error) => {
          log(`isolab: teach: ${e.message}`);
          if (!res.headersSent) page(res, 500, 'Server error', '<p>Something went wrong; the server log says what.</p>');
          else res.destroy();
        });
        return;
      }
      const auth = authenticate(req, opts.token);
      // In a class, a student's cookie stands in for the token (class.ts), and so does the
      // instructor's: the course's pages and a sandbox of their own to present from.
      if (!auth.ok && !requestStudent(req, classroom) && !(classroom && isTeacher(req, classroom))) {
        if (classroom && !auth.fromQuery && url && openInClass(url.pathname)) {
          for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
          serveStatic(req, res, opts.dist);
          return;
        }
        if (classroom && !auth.fromQuery && (req.method === 'GET' || req.method === 'HEAD')) {
          const lang = /^\/([a-z]{2})\//.exec(url?.pathname ?? '')?.[1];
          res.writeHead(303, { Location: lang && lang !== 'en' ? `/${lang}/join/` : '/join/', 'Cache-Control': 'no-store', ...SECURITY_HEADERS });
          res.end();
          return;
        }
        page(res, 401, 'Access token needed', NEED_TOKEN);
        return;
      }
      // A browser without a client id gets one (sandboxes are counted by it, see sessions.ts).
      const cookies = clientId(req) === null ? [clientCookieHeader()] : [];
      if (auth.fromQuery) {
        // Trade the token in the URL for a cookie, and drop it from the address bar. The
        // Location is a path on this server whatever the request said (auth.ts localLocation).
        res.writeHead(303, { 'Set-Cookie': [cookieHeader(opts.token), ...cookies], Location: auth.cleanUrl, 'Cache-Control': 'no-store', ...SECURITY_HEADERS });
        res.end();
        return;
      }
      if (cookies.length) res.setHeader('Set-Cookie', cookies);
      // A reader's published port (port-proxy.ts): only for the browser whose sandbox it is.
      if (url?.pathname.startsWith(PORT_PREFIX)) {
        proxyPortRequest(req, res, url, { sessions, log }).catch((e: Error) => {
          log(`isolab: port proxy: ${e.message}`);
          if (!res.headersSent) page(res, 500, 'Server error', '<p>Something went wrong; the server log says what.</p>');
          else res.destroy();
        });
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

  // Upgraded sockets leave the HTTP server's books: closeAllConnections() no longer sees them.
  const upgrading = new Set<Duplex>();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    upgrading.add(socket);
    socket.once('close', () => upgrading.delete(socket));
    try {
      const url = requestUrl(req.url);
      if (url?.pathname.startsWith(PORT_PREFIX)) {
        // A WebSocket of the reader's own server: the same Host, Origin and token rules.
        if (!hostAllowed(req, loopbackOnly)) { refuse(socket, 403, 'this server answers to 127.0.0.1 and localhost only'); return; }
        if (!originAllowed(req)) { refuse(socket, 403, 'the WebSocket must come from a page of this server (Origin)'); return; }
        if (!authenticate(req, opts.token).ok) { refuse(socket, 401, 'the access token is missing or wrong'); return; }
        proxyPortUpgrade(req, socket, head, url, { sessions, log }, (status, reason) => refuse(socket, status, reason)).catch((e: Error) => {
          log(`isolab: port proxy: ${e.message}`);
          refuse(socket, 500, 'server error');
        });
        return;
      }
      if (opts.classroom && url?.pathname === VIEW_PATH) { upgradeViewer(req, socket, head, url, opts.classroom); return; }
      if (!url || url.pathname !== WS_PATH) { refuse(socket, 404, `no WebSocket here; the terminal is at ${WS_PATH}`); return; }
      if (!hostAllowed(req, loopbackOnly)) { refuse(socket, 403, 'this server answers to 127.0.0.1 and localhost only'); return; }
      if (!originAllowed(req)) { refuse(socket, 403, 'the WebSocket must come from a page of this server (Origin)'); return; }
      const student = requestStudent(req, opts.classroom);
      const presenter = !student && opts.classroom !== undefined && isTeacher(req, opts.classroom);
      if (!authenticate(req, opts.token).ok && !student && !presenter) { refuse(socket, 401, 'the access token is missing or wrong'); return; }
      const sid = url.searchParams.get('session') ?? '';
      if (!SESSION_ID.test(sid)) { refuse(socket, 400, 'session must be 8-64 letters, digits, - or _'); return; }
      const size = initialSize(url.searchParams.get('cols'), url.searchParams.get('rows'));
      if (!size) { refuse(socket, 400, 'cols must be 1..500 and rows 1..200'); return; }
      // Past the most terminals a sandbox may have, the socket opens and says why (sessions.ts).
      const term = terminalIndex(url.searchParams.get('term'));
      if (term === null) { refuse(socket, 400, 'term must be a number 1..99'); return; }
      const client = { id: clientId(req), address: req.socket.remoteAddress ?? '', student: presenter ? PRESENTER : student?.id };
      // A student's sandbox is that student's alone, whoever learns its session id.
      const existing = sessions.get(sid);
      if (existing && !existing.ended && existing.client.student !== client.student) { refuse(socket, 403, 'this terminal belongs to someone else'); return; }
      const classroom = opts.classroom;
      const onCheckResult = student && classroom ? (lesson: string, exercise: string, pass: boolean, detail: string) => {
        classroom.store.recordCheck(student.id, lesson, exercise, pass, detail).then(
          () => classroom.changed(student.id),
          (e: Error) => log(`isolab: class: recording a check: ${e.message}`),
        );
      } : undefined;
      wss.handleUpgrade(req, socket, head, (ws) => {
        try {
          handleTerminal(ws, sid, size.cols, size.rows, client, { sessions, catalog, log, onCheckResult }, term);
        } catch (e) {
          log(`isolab: terminal: ${(e as Error).message}`);
          ws.close(CLOSE.failed, 'server error');
        }
      });
    } catch (e) {
      log(`isolab: upgrade: ${(e as Error).message}`);
      refuse(socket, 500, 'server error');
    }
  });

  /** /ws/view: a read-only view of a student's terminal (the instructor) or of the presenter's (viewer.ts). */
  function upgradeViewer(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, classroom: Classroom): void {
    if (!hostAllowed(req, loopbackOnly)) { refuse(socket, 403, 'this server answers to 127.0.0.1 and localhost only'); return; }
    if (!originAllowed(req)) { refuse(socket, 403, 'the WebSocket must come from a page of this server (Origin)'); return; }
    const teacher = isTeacher(req, classroom);
    const wanted = url.searchParams.get('student');
    let target: number;
    if (wanted !== null) {
      // A student's terminal: for the instructor only, and only a student of this class.
      if (!teacher) { refuse(socket, 401, 'only the instructor may view a student\'s terminal'); return; }
      const id = /^\d{1,12}$/.test(wanted) ? Number(wanted) : -1;
      if (!classroom.knows(id)) { refuse(socket, 404, 'no such student in this class'); return; }
      target = id;
    } else if (url.searchParams.has('presenter')) {
      if (!teacher && !requestStudent(req, classroom) && !authenticate(req, opts.token).ok) { refuse(socket, 401, 'join the class first'); return; }
      target = PRESENTER;
    } else { refuse(socket, 400, 'say ?student=<id> or ?presenter'); return; }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session = terminalOf(sessions, target);
      if (!session) {
        ws.send(JSON.stringify({ type: 'error', message: target === PRESENTER ? 'the instructor has no terminal open yet' : 'this student has no terminal open' }));
        ws.close(CLOSE.tryLater, 'nothing to view yet');
        return;
      }
      const asker = target === PRESENTER ? {} : { mayAsk: true, askerName: classroom.cls.name };
      try { handleViewer(ws, session, log, asker); } catch (e) { log(`isolab: viewer: ${(e as Error).message}`); ws.close(CLOSE.failed, 'server error'); }
    });
  }

  // Bad clients must not be able to bring the process down.
  // The answer goes out, then the socket is destroyed: end() alone would leave it half open
  // for as long as a slow client keeps writing.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    if (socket.writable) {
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`, () => socket.destroy());
      setTimeout(() => socket.destroy(), 1000).unref();
    } else socket.destroy();
  });

  server.headersTimeout = HTTP_LIMITS.headersMs;
  server.requestTimeout = HTTP_LIMITS.requestMs;
  server.keepAliveTimeout = HTTP_LIMITS.keepAliveMs;
  server.maxConnections = HTTP_LIMITS.maxConnections;

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
      // Bounded whatever the clients do: sockets are destroyed, not waited for (a socket whose
      // frames once threw inside ws may never report its close, and ws's close would wait
      // for it forever), and the sandboxes get CLOSE_DEADLINE_MS to be removed.
      closing ??= (async () => {
        server.close();
        const removed = sessions.close();      // tells every page, removes every sandbox
        wss.close();
        // The pages were told (an error frame, close 1001): a moment for that to go out.
        await Promise.race([
          Promise.all([...wss.clients].map((ws) => new Promise((resolve) => ws.once('close', resolve)))),
          new Promise((resolve) => setTimeout(resolve, SOCKET_GOODBYE_MS)),
        ]);
        for (const ws of wss.clients) ws.terminate();
        server.closeAllConnections();
        for (const socket of upgrading) socket.destroy();
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), CLOSE_DEADLINE_MS); });
        if (await Promise.race([removed, late]) === 'late') log(`isolab: sandboxes were still being removed after ${CLOSE_DEADLINE_MS / 1000} s; stopping anyway`);
        clearTimeout(timer);
      })();
      return closing;
    },
  };
}
