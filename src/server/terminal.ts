// One terminal WebSocket: binary frames carry terminal bytes both ways, text frames carry
// the JSON control messages of PROTOCOL.md. Nothing a client sends can throw out of here:
// bad frames get an error frame and the connection (and everyone else's) goes on; a bug of
// ours that a frame still finds closes that one socket (1011), never the server.
// What one socket can make the server do is bounded: frames are read at a budgeted rate
// (past it the socket is paused, so TCP slows the sender), checks and panel changes too.

import type { WebSocket, RawData } from 'ws';
import { FlowControl, TokenBucket } from './flow.ts';
import { parseClientMessage } from './protocol.ts';
import type { ServerMessage } from './protocol.ts';
import { runCheck } from './checks.ts';
import type { ExerciseCatalog } from './checks.ts';
import type { Attachment, Client, ExtraTerminal, Pane, Session, SessionManager } from './sessions.ts';
import type { PanelSink } from './panel.ts';
import type { PanelTab } from './protocol.ts';
import { CLOSE } from '../shared/close-codes.ts';
import { sayIn } from '../shared/server-sentences.ts';
import { answerControl } from './viewer.ts';


/**
 * Batching pty output into frames. A keystroke's echo goes out on the next event-loop turn.
 * While output streams (the previous frame was big and left under BUSY_MS ago), chunks are
 * gathered for BUSY_MS, or until BATCH_BYTES wait: the pty hands us ~4 KiB a read, and one frame per read
 * costs the server and the page far more than the few milliseconds of delay.
 */
const BATCH_BYTES = 64 * 1024;
const BUSY_MS = 4;
const BIG_FRAME = 1024;
const PING_MS = 30_000;
/** Panel samples are skipped, not queued, while this much is waiting to be sent. */
const PANEL_CONGESTED = 256 * 1024;

/**
 * What one socket may ask of the server. A page sends a few frames a second (keystrokes, an
 * ack per ~32 KiB drawn, resizes while a window is dragged): far below FRAMES. Past it the
 * socket is paused until the bucket refills, so a flood costs its sender, not the others.
 */
export const RATE = {
  frames: { burst: 1000, perSecond: 500 },
  /**
   * Bytes of frames. Input for a program that does not read it waits in node-pty's queue (in
   * our memory, retried on every turn of the event loop): 256 KiB/s bounds how fast a client
   * can grow that queue, and a paste of up to 1 MiB still goes through at once.
   */
  bytes: { burst: 1024 * 1024, perSecond: 256 * 1024 },
  /** A check runs a process in the sandbox: a few in a row, then one every 2 s. */
  checks: { burst: 5, perSecond: 0.5 },
  /** Showing the panel (again) sends its whole record: applied at most this often, the latest wins. */
  panelMs: 1000,
} as const;

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data as ArrayBuffer);
}

export interface TerminalContext {
  sessions: SessionManager;
  catalog: ExerciseCatalog;
  log: (line: string) => void;
  /** A check's answer, for the class's progress (class-http.ts); absent outside a class. */
  onCheckResult?: (lesson: string, exercise: string, pass: boolean, detail: string) => void;
}

/**
 * `index` is the terminal's number in the sandbox (PROTOCOL.md `term`): 1 is the sandbox's own
 * (it makes the sandbox), 2..MAX_TERMINALS more shells in the same one (the page's tabs).
 */
export function handleTerminal(ws: WebSocket, sid: string, cols: number, rows: number, client: Client, ctx: TerminalContext, index = 1): void {
  const send = (m: ServerMessage & Record<string, unknown>) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
  };

  // The terminal this socket drives: the session itself, or one of its extra terminals.
  let pane: Pane | null = null;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let flushScheduled = false;
  let lastFlush = 0;
  let lastFrameBytes = 0;
  let checking = false;

  // Only the session's current socket may pause or resume its pty.
  const flow = new FlowControl(
    () => { if (pane?.attachment === attachment) pane.setFlowPaused(true); },
    () => { if (pane?.attachment === attachment) pane.setFlowPaused(false); },
  );

  const flush = () => {
    flushScheduled = false;
    if (pendingBytes === 0) return;
    lastFlush = performance.now();
    lastFrameBytes = pendingBytes;
    const data = pending.length === 1 ? pending[0] : Buffer.concat(pending);
    pending = [];
    pendingBytes = 0;
    if (ws.readyState !== ws.OPEN) return;
    ws.send(data, { binary: true }, () => flow.drained(ws.bufferedAmount));
    flow.sent(data.length, ws.bufferedAmount);
  };

  const attachment: Attachment = {
    output(chunk) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= BATCH_BYTES) flush();
      else if (!flushScheduled) {
        flushScheduled = true;
        const streaming = lastFrameBytes >= BIG_FRAME && performance.now() - lastFlush < BUSY_MS;
        if (streaming) setTimeout(flush, BUSY_MS);
        else setImmediate(flush);
      }
    },
    ended(code, why) {
      flush();
      if (why) send({ type: 'error', ...sayIn('message', why) });
      send(why ? { type: 'exit', code, ...sayIn('reason', why) } : { type: 'exit', code });
      ws.close(CLOSE.normal, 'sandbox ended');
    },
    takenOver() {
      send({ type: 'error', ...sayIn('message', { code: 'srvTakenOver' }) });
      ws.close(CLOSE.takenOver, 'taken over');
    },
    control(frame) { send(frame); },
    shutdown() {
      flush();
      send({ type: 'error', ...sayIn('message', { code: 'srvShuttingDown' }) });
      ws.close(CLOSE.goingAway, 'server shutting down');
    },
  };

  let own: Session;
  let extra: ExtraTerminal | null = null;
  let resumed: boolean;
  if (index === 1) {
    const result = ctx.sessions.attach(sid, attachment, cols, rows, client);
    if (!result.ok) {
      if (result.full) {
        // The lab is full, or this reader has all the sandboxes one reader may have.
        send({ type: 'full', ...sayIn('message', result.said), ...(result.position ? { position: result.position } : {}) });
        ws.close(CLOSE.tryLater, 'lab is full');
      } else if (result.retry) {
        send({ type: 'error', ...sayIn('message', result.said) });
        ws.close(CLOSE.tryLater, 'too many reconnects');
      } else {
        send({ type: 'error', ...sayIn('message', result.said) });
        ws.close(CLOSE.failed, 'no sandbox');
      }
      return;
    }
    own = result.session;
    pane = own;
    resumed = result.resumed;
  } else {
    // Another terminal in the sandbox: never a sandbox of its own (no limits to count).
    const result = ctx.sessions.attachExtra(sid, index, attachment, cols, rows, client);
    if (!result.ok) {
      send({ type: 'error', ...sayIn('message', result.said) });
      ws.close(CLOSE.failed, 'no terminal');
      return;
    }
    own = result.session;
    extra = result.terminal;
    pane = extra;
    resumed = result.resumed;
  }
  const mine = pane;
  send({ type: 'hello', session: sid, sandbox: own.sandbox.name, resumed, term: index });
  if (resumed) {
    // Show the reader the screen they had: the last bytes of output, as they came.
    const replay = mine.scrollback.contents();
    if (replay.length > 0) attachment.output(replay);
  }

  const onCheck = async (lesson: string, exercise: string) => {
    const found = ctx.catalog.lookup(lesson, exercise);
    if (!found.ok) { send({ type: 'error', message: found.error, lesson, exercise }); return; }
    if (own.ended) { send({ type: 'error', ...sayIn('message', { code: 'srvSandboxEnded' }), lesson, exercise }); return; }
    if (checking) { send({ type: 'error', ...sayIn('message', { code: 'srvCheckRunning' }), lesson, exercise }); return; }
    checking = true;
    try {
      const r = await runCheck(own.sandbox, found.exercise);
      send({ type: 'check', lesson, exercise, pass: r.pass, hint: r.hint, detail: r.detail, ...(r.said ? { said: r.said } : {}) });
      ctx.onCheckResult?.(lesson, exercise, r.pass, r.detail);
    } catch (e) {
      send({ type: 'error', ...sayIn('message', { code: 'srvCheckFailed', s: (e as Error).message }), lesson, exercise });
    } finally {
      checking = false;
    }
  };

  // The kernel panel's frames go out on this socket while the page shows the panel.
  const panelSink: PanelSink = {
    send: (frame) => { if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame)); },
    congested: () => ws.bufferedAmount > PANEL_CONGESTED,
  };

  // Error frames are answers to a client's own mistakes: none while it is not reading them.
  // `about`: more of the frame (the sentence's code, the check it answers).
  const complain = (message: string, about: object = {}) => { if (ws.bufferedAmount <= PANEL_CONGESTED) send({ type: 'error', message, ...about }); };

  const checks = new TokenBucket(RATE.checks.burst, RATE.checks.perSecond);
  // The panel's state as the page last asked for it, applied at most every RATE.panelMs.
  let panelWanted: { on: boolean; tab?: PanelTab } | null = null;
  let panelApplied = -Infinity;
  let panelTimer: NodeJS.Timeout | undefined;
  const applyPanel = () => {
    panelTimer = undefined;
    const want = panelWanted;
    if (!want || mine.attachment !== attachment) return;
    panelWanted = null;
    panelApplied = performance.now();
    if (want.on) own.panel.show(panelSink, want.tab); else own.panel.hide(panelSink);
  };
  const onPanel = (want: { on: boolean; tab?: PanelTab }) => {
    panelWanted = want;
    if (panelTimer) return;
    const wait = panelApplied + RATE.panelMs - performance.now();
    if (wait <= 0) applyPanel();
    else panelTimer = setTimeout(applyPanel, wait);
  };

  const onMessage = (data: RawData, isBinary: boolean) => {
    if (mine.attachment !== attachment) return; // taken over or ended
    if (isBinary) { mine.input(toBuffer(data)); return; }
    const parsed = parseClientMessage(toBuffer(data).toString('utf8'));
    if (!parsed.ok) { complain(parsed.error); return; }
    const m = parsed.message;
    switch (m.type) {
      case 'resize': mine.resize(m.cols, m.rows); break;
      case 'ack': flow.acked(m.bytes, ws.bufferedAmount); break;
      case 'check':
        own.lastInput = Date.now();
        // Refused checks are answered as the exercise's: its box says to wait instead of "Checking…".
        if (!checks.take()) {
          const { message, said } = sayIn('message', { code: 'srvTooManyChecks', n: Math.ceil(checks.waitMs() / 1000) });
          complain(message, { said, lesson: m.lesson, exercise: m.exercise });
          break;
        }
        void onCheck(m.lesson, m.exercise);
        break;
      case 'panel':
        // One panel per sandbox, on its first terminal's socket (the page's other tabs share it).
        if (extra) { complain('the kernel panel is sent on the first terminal only (term=1)'); break; }
        onPanel(m.tab !== undefined ? { on: m.on, tab: m.tab } : { on: m.on });
        break;
      case 'close':
        // The reader closed this tab: its shell ends, the sandbox and its other terminals go on.
        if (!extra) { complain('the first terminal ends only with its sandbox (the page\'s Reset)'); break; }
        ctx.sessions.closeExtra(extra);
        break;
      case 'control':
        // The student's answer to the instructor's request to type: about the first terminal,
        // the one an instructor's view shows.
        if (extra) { complain('an instructor may only be let type into the first terminal (term=1)'); break; }
        answerControl(own, attachment, m.allow);
        break;
    }
  };

  const frames = new TokenBucket(RATE.frames.burst, RATE.frames.perSecond);
  const bytes = new TokenBucket(RATE.bytes.burst, RATE.bytes.perSecond);
  let resumeTimer: NodeJS.Timeout | undefined;
  ws.on('message', (data, isBinary) => {
    const size = Buffer.isBuffer(data) ? data.length : Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
    const overBudget = !frames.take() || !bytes.take(size);
    try {
      onMessage(data, isBinary);
    } catch (e) {
      // Our bug, found by this client's frame: end this socket only (its session is kept for a reload).
      ctx.log(`isolab: websocket of ${own.sandbox.name}: closed after an internal error: ${(e as Error).stack ?? e}`);
      ws.close(CLOSE.failed, 'server error');
      return;
    }
    if (overBudget && !resumeTimer && ws.readyState === ws.OPEN) {
      ws.pause();
      resumeTimer = setTimeout(() => { resumeTimer = undefined; if (ws.readyState === ws.OPEN) ws.resume(); }, Math.max(frames.waitMs(), bytes.waitMs()));
    }
  });

  // A connection that died without a FIN (laptop lid, network blip) is found by ping/pong
  // and closed, which starts the grace period instead of holding the session forever.
  let alive = true;
  ws.on('pong', () => { alive = true; });
  const pinger = setInterval(() => {
    if (!alive) { ws.terminate(); return; }
    alive = false;
    try { ws.ping(); } catch { /* closing */ }
  }, PING_MS);

  ws.on('close', () => {
    clearInterval(pinger);
    clearTimeout(panelTimer);
    clearTimeout(resumeTimer);
    pending = [];
    pendingBytes = 0;
    try {
      if (extra) ctx.sessions.detachExtra(extra, attachment);
      else {
        own.panel.hide(panelSink);
        ctx.sessions.detach(own, attachment);
      }
    } catch (e) {
      ctx.log(`isolab: websocket of ${own.sandbox.name}: on close: ${(e as Error).stack ?? e}`);
    }
  });
  ws.on('error', (e) => ctx.log(`isolab: websocket of ${own.sandbox.name}: ${e.message}`));
}
