// A sandbox's terminals: its own (the Session, sessions.ts) and up to three more, each a shell
// on a pty of its own in the same sandbox (the page's tabs). What a terminal's socket drives
// (terminal.ts) is a Pane, whichever of them it is.

import { Scrollback } from './flow.ts';
import type { Shell } from './sandbox.ts';
import type { Attachment, Session } from './sessions.ts';

/**
 * Terminals one sandbox may have: its own (1) and up to three more (the page's tabs). Each
 * more is a `box exec` process on the host (a Node process relaying its pty) and a shell
 * in the sandbox: a bounded number, whatever a page asks.
 */
export const MAX_TERMINALS = 4;

/**
 * What a terminal's socket drives (terminal.ts): the sandbox's own terminal (the Session) or
 * another one in the same sandbox (an ExtraTerminal).
 */
export interface Pane {
  attachment: Attachment | null;
  readonly scrollback: Scrollback;
  readonly ended: boolean;
  input(data: Buffer): void;
  resize(cols: number, rows: number): void;
  setFlowPaused(paused: boolean): void;
}

/** A second (third, fourth) terminal in a session's sandbox: a shell of its own, same sandbox. */
export class ExtraTerminal implements Pane {
  readonly index: number;
  readonly shell: Shell;
  readonly session: Session;
  readonly scrollback = new Scrollback();
  attachment: Attachment | null = null;
  ended = false;
  graceTimer: NodeJS.Timeout | undefined;
  #flowPaused = false;

  constructor(session: Session, index: number, shell: Shell) {
    this.session = session;
    this.index = index;
    this.shell = shell;
  }

  setFlowPaused(paused: boolean): void {
    this.#flowPaused = paused;
    this.updateReading();
  }

  updateReading(): void {
    if (this.ended) return;
    if (this.attachment === null || this.#flowPaused) this.shell.pause();
    else this.shell.resume();
  }

  input(data: Buffer): void {
    // Typing in any terminal keeps the sandbox from being removed as idle.
    this.session.lastInput = Date.now();
    this.shell.write(data);
  }

  resize(cols: number, rows: number): void { this.shell.resize(cols, rows); }
}

