// Read-only views of a terminal: an instructor watching a student's terminal to help, and
// students following the instructor's terminal while the instructor demos (presenter mode).
//
//     GET /ws/view?student=<id>   the instructor only: that student's terminal
//     GET /ws/view?presenter      anyone in the class: the instructor's terminal
//
// The viewer gets what the terminal shows (the last 64 KiB first, then the live output) and
// nothing it sends reaches the sandbox: every frame from a viewer is dropped unread. A viewer
// that cannot keep up misses output rather than slowing the student's terminal.

import type { WebSocket } from 'ws';
import type { Session, SessionManager } from './sessions.ts';
import { CLOSE } from '../shared/close-codes.ts';

export const VIEW_PATH = '/ws/view';
/** The class's presenter: the instructor's terminal (client.student is this id). */
export const PRESENTER = 0;
/** Past this many bytes waiting for the viewer, output is skipped until it drains. */
const VIEWER_BACKLOG = 1024 * 1024;

/** The terminal of `student` a viewer should see: the one a page is on, the latest typed-in first. */
export function terminalOf(sessions: SessionManager, student: number): Session | undefined {
  return sessions.all()
    .filter((s) => s.client.student === student)
    .sort((a, b) => Number(b.attachment !== null) - Number(a.attachment !== null) || b.lastInput - a.lastInput)[0];
}

export function handleViewer(ws: WebSocket, session: Session, log: (line: string) => void): void {
  const send = (m: Record<string, unknown>) => { if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m)); };
  let skipped = false;
  const viewer = {
    output(chunk: Buffer) {
      if (ws.readyState !== ws.OPEN) return;
      if (ws.bufferedAmount > VIEWER_BACKLOG) { skipped = true; return; }
      if (skipped) { skipped = false; send({ type: 'skipped' }); }
      ws.send(chunk, { binary: true });
    },
    ended(code: number, why?: string) {
      send({ type: 'exit', code, ...(why ? { reason: why } : {}) });
      ws.close(CLOSE.normal);
    },
  };
  send({ type: 'hello', view: true, sandbox: session.sandbox.name });
  const replay = session.scrollback.contents();
  if (replay.length > 0) viewer.output(replay);
  session.viewers.add(viewer);
  // Read-only: whatever the viewer sends (keystrokes, resizes, checks) is dropped here.
  ws.on('message', () => {});
  ws.on('close', () => session.viewers.delete(viewer));
  ws.on('error', (e) => log(`isolab: viewer: ${e.message}`));
}
