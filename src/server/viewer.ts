// Views of a terminal: an instructor watching a student's terminal to help, and students
// following the instructor's terminal while the instructor demos (presenter mode).
//
//     GET /ws/view?student=<id>   the instructor only: that student's terminal
//     GET /ws/view?presenter      anyone in the class: the instructor's terminal
//
// The viewer gets what the terminal shows (the last 64 KiB first, then the live output). A
// view is read-only: what a viewer sends does not reach the sandbox. One exception, with the
// student's consent: the instructor's view of a student asks ({"type":"ask"}), the student's
// page shows "your instructor wants to type in your terminal: Allow / Deny", and only after
// Allow do the instructor's keystrokes (binary frames) reach that terminal. The student may
// take it back at any time; a reload of the student's page, the instructor closing the view or
// {"type":"release"} end it too. Presenter views never type. A viewer that cannot keep up
// misses output rather than slowing the student's terminal.

import type { RawData, WebSocket } from 'ws';
import { TokenBucket } from './flow.ts';
import type { Attachment, Session, SessionManager } from './sessions.ts';
import { CLOSE } from '../shared/close-codes.ts';
import { sayIn, type Said } from '../shared/server-sentences.ts';

export const VIEW_PATH = '/ws/view';
/** The class's presenter: the instructor's terminal (client.student is this id). */
export const PRESENTER = 0;
/** Past this many bytes waiting for the viewer, output is skipped until it drains. */
const VIEWER_BACKLOG = 1024 * 1024;
/** Keystroke frames of an allowed instructor: a typist's pace and a paste, not a flood. */
const TYPING = { burst: 200, perSecond: 100 } as const;
/** What one keystroke frame may hold (a paste is cut into frames by the page). */
const MAX_INPUT_FRAME = 16 * 1024;

/** Where an instructor's request to type stands, as the student's page and the view are told. */
export type ControlState = 'asked' | 'allowed' | 'none';

interface Viewer {
  output(chunk: Buffer): void;
  ended(code: number, why?: Said): void;
  /** A JSON frame to this viewer. */
  tell(frame: Record<string, unknown>): void;
}

/**
 * One request to type per terminal: which view asked, and which of the student's pages (the
 * attachment) answered. A grant belongs to that page: another page (a reload) has not given it.
 */
interface Control { state: 'asked' | 'allowed'; viewer: Viewer; page: Attachment; by: string }
const controls = new WeakMap<Session, Control>();

/** The terminal of `student` a viewer should see: the one a page is on, the latest typed-in first. */
export function terminalOf(sessions: SessionManager, student: number): Session | undefined {
  return sessions.all()
    .filter((s) => s.client.student === student)
    .sort((a, b) => Number(b.attachment !== null) - Number(a.attachment !== null) || b.lastInput - a.lastInput)[0];
}

function tellPage(page: Attachment, state: ControlState, by = ''): void {
  page.control?.({ type: 'control', state, ...(by ? { by } : {}) });
}

/** End any request or grant on this terminal, telling both sides. */
function endControl(session: Session): void {
  const c = controls.get(session);
  if (!c) return;
  controls.delete(session);
  c.viewer.tell({ type: 'control', state: 'none' });
  tellPage(c.page, 'none');
}

/** The grant, if it still stands: the same page of the student is on the terminal. */
function grantOf(session: Session): Control | undefined {
  const c = controls.get(session);
  if (c && (session.ended || session.attachment !== c.page)) { endControl(session); return undefined; }
  return c;
}

/** The student's page answered ({"type":"control","allow":…} on its terminal socket). */
export function answerControl(session: Session, page: Attachment, allow: boolean): void {
  const c = grantOf(session);
  if (!c || c.page !== page) { tellPage(page, 'none'); return; } // nothing asked of this page
  if (!allow) { endControl(session); return; }
  if (c.state === 'allowed') return;
  c.state = 'allowed';
  c.viewer.tell({ type: 'control', state: 'allowed' });
  tellPage(page, 'allowed', c.by);
}

export interface ViewerOptions {
  /** The instructor viewing a student: may ask to type; the student's page names the class `askerName`. */
  mayAsk?: boolean;
  askerName?: string;
}

export function handleViewer(ws: WebSocket, session: Session, log: (line: string) => void, opts: ViewerOptions = {}): void {
  const send = (m: Record<string, unknown>) => { if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m)); };
  let skipped = false;
  const viewer: Viewer = {
    output(chunk: Buffer) {
      if (ws.readyState !== ws.OPEN) return;
      if (ws.bufferedAmount > VIEWER_BACKLOG) { skipped = true; return; }
      if (skipped) { skipped = false; send({ type: 'skipped' }); }
      ws.send(chunk, { binary: true });
    },
    ended(code: number, why?: Said) {
      send({ type: 'exit', code, ...(why ? sayIn('reason', why) : {}) });
      ws.close(CLOSE.normal);
    },
    tell: send,
  };
  send({ type: 'hello', view: true, sandbox: session.sandbox.name, ...(opts.mayAsk ? { mayAsk: true } : {}) });
  const replay = session.scrollback.contents();
  if (replay.length > 0) viewer.output(replay);
  session.viewers.add(viewer);

  const typing = new TokenBucket(TYPING.burst, TYPING.perSecond);
  let refusedAt = -Infinity;
  const refuse = (message: string) => {
    // One answer a second, however fast the refused keys come.
    if (performance.now() - refusedAt < 1000) return;
    refusedAt = performance.now();
    send({ type: 'error', message });
  };
  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (!opts.mayAsk) return; // a presenter view: every frame is dropped unread
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (isBinary) {
      const c = grantOf(session);
      if (!c || c.viewer !== viewer || c.state !== 'allowed') { refuse('read-only: the student has not allowed you to type; ask first'); return; }
      if (bytes.length > MAX_INPUT_FRAME || !typing.take()) { refuse('too much typing at once; slow down'); return; }
      session.input(bytes);
      return;
    }
    let type: unknown;
    try { const m: unknown = JSON.parse(bytes.toString('utf8')); type = m && typeof m === 'object' && Object.hasOwn(m, 'type') ? (m as { type: unknown }).type : undefined; } catch { /* below */ }
    if (type === 'ask') {
      const page = session.attachment;
      if (!page || session.ended) { refuse('the student\'s page is not open; ask again when it is'); return; }
      const c = grantOf(session);
      if (c?.viewer === viewer && c.state === 'allowed') { send({ type: 'control', state: 'allowed' }); return; }
      if (c && c.viewer !== viewer) endControl(session); // the newest asking view wins
      controls.set(session, { state: 'asked', viewer, page, by: opts.askerName ?? '' });
      send({ type: 'control', state: 'asked' });
      tellPage(page, 'asked', opts.askerName);
    } else if (type === 'release') {
      if (controls.get(session)?.viewer === viewer) endControl(session);
    } else {
      refuse('a view understands {"type":"ask"}, {"type":"release"} and, once allowed, keystrokes');
    }
  });
  ws.on('close', () => {
    session.viewers.delete(viewer);
    if (controls.get(session)?.viewer === viewer) endControl(session);
  });
  ws.on('error', (e) => log(`isolab: viewer: ${e.message}`));
}
