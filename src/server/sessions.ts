// Sessions: a page's session id (kept in the tab's sessionStorage) -> its sandbox.
// A session outlives its WebSocket for a grace period so that a reload, or the next
// lesson in the same tab, finds the same sandbox with the reader's files and processes.

import type { Said } from '../shared/server-sentences.ts';
import { Scrollback, TokenBucket } from './flow.ts';
import { KernelPanel } from './panel.ts';
import { sandboxName } from './sandbox.ts';
import type { Sandbox, SandboxDriver, Shell } from './sandbox.ts';
import { WaitQueue } from './queue.ts';
import { WarmPool } from './warm.ts';
import { ExtraTerminal, MAX_TERMINALS } from './panes.ts';
import type { Pane } from './panes.ts';

export { ExtraTerminal, MAX_TERMINALS };
export type { Pane };

/** A page in the line for a full lab retries every 10 s; a place unclaimed for 30 s is given up. */
export const QUEUE_EXPIRE_MS = 30_000;

/** What a session needs from the WebSocket currently showing it (see terminal.ts). */
export interface Attachment {
  /** Terminal bytes from the sandbox. */
  output(chunk: Buffer): void;
  /** The sandbox is gone (its shell exited, or we removed it); `why` says why when we did. */
  ended(code: number, why?: Said): void;
  /** Another WebSocket took this session over. */
  takenOver(): void;
  /** The server is stopping. */
  shutdown(): void;
  /** In a class: the instructor's request to type here, or its end (viewer.ts). */
  control?(frame: { type: 'control'; state: 'asked' | 'allowed' | 'none'; by?: string }): void;
}

/**
 * Who opened a session: the browser's client id (a cookie of its own, see auth.ts; null when
 * the client sent none) and the address it came from. Sandboxes are counted against both.
 */
export interface Client {
  id: string | null;
  address: string;
  /** In a class: the student (store.ts id) whose sandbox this is. */
  student?: number;
}

/** A session may be re-attached (reloads, blips) this often; a loop of sockets is refused. */
export const REATTACH = { burst: 10, perSecond: 0.5 } as const;

/** The status a shell reports when its terminal is hung up (128 + SIGHUP), as ours is. */
export const HUNG_UP = 129;

/** "45 seconds", "1 minute", "90 minutes". */
export function duration(ms: number): string {
  const [n, unit] = ms < 60_000 ? [Math.round(ms / 1000), 'second'] : [Math.round(ms / 60_000), 'minute'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

export class Session implements Pane {
  readonly id: string;
  readonly sandbox: Sandbox;
  readonly scrollback = new Scrollback();
  /** The kernel panel: the trace of box commands run inside, counters and namespaces. */
  readonly panel: KernelPanel;
  readonly client: Client;
  readonly reattach = new TokenBucket(REATTACH.burst, REATTACH.perSecond);
  attachment: Attachment | null = null;
  /** Read-only viewers (viewer.ts: an instructor helping, students following the presenter). */
  readonly viewers = new Set<Pick<Attachment, 'output' | 'ended'>>();
  /** The sandbox's other terminals, by their number (2..MAX_TERMINALS). */
  readonly extras = new Map<number, ExtraTerminal>();
  /** When its last page went away (meaningful while `attachment` is null). */
  detachedAt = 0;
  lastInput = Date.now();
  ended = false;
  graceTimer: NodeJS.Timeout | undefined;
  #flowPaused = false;

  /** When its sandbox was made; before the reader asked when it came from the warm pool. */
  readonly madeAt: number;
  /** Its sandbox was made ahead (warm.ts), not when its reader asked. */
  readonly madeAhead: boolean;

  constructor(id: string, sandbox: Sandbox, client: Client, log?: (line: string) => void, madeAt?: number) {
    this.id = id;
    this.sandbox = sandbox;
    this.madeAt = madeAt ?? Date.now();
    this.madeAhead = madeAt !== undefined;
    this.client = client;
    this.panel = new KernelPanel(sandbox.kernel, log);
  }

  /** Read the pty only while a page is attached and keeping up with it. */
  setFlowPaused(paused: boolean): void {
    this.#flowPaused = paused;
    this.updateReading();
  }

  updateReading(): void {
    if (this.ended) return;
    if (this.attachment === null || this.#flowPaused) this.sandbox.pause();
    else this.sandbox.resume();
  }

  input(data: Buffer): void {
    this.lastInput = Date.now();
    this.sandbox.write(data);
  }

  resize(cols: number, rows: number): void { this.sandbox.resize(cols, rows); }
}

export interface SessionOptions {
  driver: SandboxDriver;
  maxSandboxes: number;
  /** Most sandboxes of one browser (client id cookie) and of one remote address; default: no limit. */
  maxPerClient?: number;
  maxPerAddress?: number;
  /** In a class: most sandboxes of one student (all their tabs and devices together). */
  maxPerStudent?: number;
  graceMs: number;
  idleMs: number;
  /** Sandboxes kept made ahead for the next readers (warm.ts); default 0. They count against maxSandboxes. */
  warm?: number;
  log?: (line: string) => void;
}

export type ExtraAttachResult =
  | { ok: true; session: Session; terminal: ExtraTerminal; resumed: boolean }
  | { ok: false; said: Said };

export type AttachResult =
  | { ok: true; session: Session; resumed: boolean }
  | { ok: false; full: boolean; said: Said; retry?: boolean; position?: number };

export class SessionManager {
  readonly #sessions = new Map<string, Session>();
  readonly #opts: SessionOptions;
  readonly #log: (line: string) => void;
  readonly #sweeper: NodeJS.Timeout;
  readonly #destroying = new Set<Promise<void>>();
  readonly #queue = new WaitQueue(QUEUE_EXPIRE_MS);
  readonly #warm: WarmPool;
  #closed = false;

  constructor(opts: SessionOptions) {
    this.#opts = opts;
    this.#log = opts.log ?? ((line) => console.error(line));
    this.#warm = new WarmPool({
      driver: opts.driver,
      size: opts.warm ?? 0,
      room: () => this.#sessions.size + this.#warm.size < opts.maxSandboxes,
      log: this.#log,
    });
    this.#warm.fill();
    const every = Math.max(250, Math.min(30_000, opts.idleMs / 4));
    this.#sweeper = setInterval(() => this.#sweepIdle(), every);
    this.#sweeper.unref();
  }

  get size(): number { return this.#sessions.size; }
  /** The sandboxes made ahead and waiting for a reader (warm.ts); `printed`: those already at their prompt. */
  warmNames(printed = false): string[] { return this.#warm.names(printed); }
  get(id: string): Session | undefined { return this.#sessions.get(id); }

  /**
   * Attach a WebSocket to session `id`: resume its sandbox if it has one (taking it over
   * from another socket), or start a sandbox if there is room.
   */
  attach(id: string, attachment: Attachment, cols: number, rows: number, client: Client = { id: null, address: '' }): AttachResult {
    if (this.#closed) return { ok: false, full: false, said: { code: 'srvShutDown' } };
    const existing = this.#sessions.get(id);
    if (existing && !existing.ended) {
      // A session id is a capability only together with the browser that made it: anyone with
      // the lab's token who learned another reader's id must not get that reader's shell.
      const owner = existing.client;
      if (owner.id !== null ? owner.id !== client.id : owner.address !== client.address) {
        return { ok: false, full: false, said: { code: 'srvOtherBrowser' } };
      }
      if (!existing.reattach.take()) {
        return { ok: false, full: false, retry: true, said: { code: 'srvReconnects' } };
      }
      clearTimeout(existing.graceTimer);
      existing.graceTimer = undefined;
      const previous = existing.attachment;
      existing.attachment = attachment;
      // One socket per session: the newest wins and the older one is told why it was closed.
      if (previous) this.#tell(existing, () => previous.takenOver());
      existing.sandbox.resize(cols, rows);
      existing.setFlowPaused(false);
      return { ok: true, session: existing, resumed: true };
    }
    // A browser over its limit, or finding the lab full, first gives up the sandbox of a tab
    // it closed (kept for a reload within the grace period): a new tab replaces a closed one.
    if (this.#sessions.size >= this.#opts.maxSandboxes || this.#overClientLimit(client)) this.#reclaimClosedTab(client);
    // Full, or a free sandbox is owed to someone earlier in the line: take a place in it.
    if (this.#sessions.size >= this.#opts.maxSandboxes || this.#queue.ahead(id) >= this.#opts.maxSandboxes - this.#sessions.size) {
      const position = this.#queue.place(id);
      return { ok: false, full: true, position, said: { code: 'srvQueue', n: position } };
    }
    this.#queue.leave(id);
    const over = this.#overClientLimit(client);
    if (over) return { ok: false, full: true, said: over };
    // A sandbox made ahead when there is one (its prompt is already there), else a new one.
    const warm = this.#warm.take();
    let sandbox: Sandbox;
    if (warm) {
      sandbox = warm.sandbox;
      sandbox.resize(cols, rows);
    } else {
      try {
        sandbox = this.#opts.driver.start(sandboxName(), cols, rows);
      } catch (e) {
        this.#log(`isolab: could not start a sandbox: ${(e as Error).message}`);
        return { ok: false, full: false, said: { code: 'srvNoSandbox', s: (e as Error).message } };
      }
    }
    const session = new Session(id, sandbox, client, this.#log, warm?.madeAt);
    session.attachment = attachment;
    this.#sessions.set(id, session);
    const onData = (chunk: Buffer) => {
      session.scrollback.push(chunk);
      const a = session.attachment;
      if (a) this.#tell(session, () => a.output(chunk));
      for (const v of session.viewers) this.#tell(session, () => v.output(chunk));
    };
    const onExit = (code: number) => {
      // Read what the shell wrote last (node-pty can report the exit before the last data).
      session.sandbox.resume();
      setTimeout(() => this.#end(session, code), 100);
    };
    if (warm) warm.hand(onData, onExit);
    else {
      sandbox.onData(onData);
      sandbox.onExit(onExit);
    }
    this.#log(`isolab: sandbox ${sandbox.name} ${warm ? 'made ahead, given' : 'started'} to session ${id.slice(0, 8)}… (${this.#sessions.size}/${this.#opts.maxSandboxes})`);
    return { ok: true, session, resumed: false };
  }

  /**
   * Attach a WebSocket to terminal `index` (2..MAX_TERMINALS) of session `id`'s sandbox: the
   * one it had (a reload), or a new shell in that sandbox. It makes no sandbox: the session's
   * first terminal must be open, and the sandbox limits are not touched (same sandbox).
   */
  attachExtra(id: string, index: number, attachment: Attachment, cols: number, rows: number, client: Client = { id: null, address: '' }): ExtraAttachResult {
    if (this.#closed) return { ok: false, said: { code: 'srvShutDown' } };
    const session = this.#sessions.get(id);
    if (!session || session.ended) return { ok: false, said: { code: 'srvNoFirstTerminal' } };
    const owner = session.client;
    if (owner.id !== null ? owner.id !== client.id : owner.address !== client.address) {
      return { ok: false, said: { code: 'srvOtherBrowser' } };
    }
    if (!session.reattach.take()) return { ok: false, said: { code: 'srvReconnects' } };
    const existing = session.extras.get(index);
    if (existing && !existing.ended) {
      clearTimeout(existing.graceTimer);
      existing.graceTimer = undefined;
      const previous = existing.attachment;
      existing.attachment = attachment;
      if (previous) this.#tell(session, () => previous.takenOver());
      existing.resize(cols, rows);
      existing.setFlowPaused(false);
      return { ok: true, session, terminal: existing, resumed: true };
    }
    if (session.extras.size + 1 >= MAX_TERMINALS || index < 2 || index > MAX_TERMINALS) {
      return { ok: false, said: { code: 'srvTerminalLimit', n: MAX_TERMINALS } };
    }
    let shell: Shell;
    try {
      shell = session.sandbox.openShell(cols, rows);
    } catch (e) {
      this.#log(`isolab: sandbox ${session.sandbox.name}: could not open terminal ${index}: ${(e as Error).message}`);
      return { ok: false, said: { code: 'srvNoTerminal', s: (e as Error).message } };
    }
    const terminal = new ExtraTerminal(session, index, shell);
    terminal.attachment = attachment;
    session.extras.set(index, terminal);
    shell.onData((chunk) => {
      terminal.scrollback.push(chunk);
      const a = terminal.attachment;
      if (a) this.#tell(session, () => a.output(chunk));
    });
    shell.onExit((code) => {
      shell.resume();
      setTimeout(() => this.#endExtra(terminal, code), 100);
    });
    this.#log(`isolab: sandbox ${session.sandbox.name}: terminal ${index} opened (${session.extras.size + 1}/${MAX_TERMINALS})`);
    return { ok: true, session, terminal, resumed: false };
  }

  /** A terminal tab's socket went away: keep its shell for the grace period (a reload comes back to it). */
  detachExtra(terminal: ExtraTerminal, attachment: Attachment): void {
    if (terminal.attachment !== attachment) return;
    terminal.attachment = null;
    terminal.updateReading();
    if (terminal.ended) return;
    clearTimeout(terminal.graceTimer);
    terminal.graceTimer = setTimeout(() => this.#endExtra(terminal, HUNG_UP), this.#opts.graceMs);
  }

  /** The reader closed that tab: hang up its shell (the sandbox and its other terminals go on). */
  closeExtra(terminal: ExtraTerminal): void { this.#endExtra(terminal, HUNG_UP); }

  #endExtra(terminal: ExtraTerminal, code: number, why?: Said): void {
    if (terminal.ended) return;
    terminal.ended = true;
    clearTimeout(terminal.graceTimer);
    const { session } = terminal;
    if (session.extras.get(terminal.index) === terminal) session.extras.delete(terminal.index);
    const attachment = terminal.attachment;
    terminal.attachment = null;
    if (attachment) this.#tell(session, () => attachment.ended(code, why));
    const p = terminal.shell.destroy()
      .catch((e) => this.#log(`isolab: ${session.sandbox.name}: closing terminal ${terminal.index}: ${(e as Error).message}`))
      .finally(() => this.#destroying.delete(p));
    this.#destroying.add(p);
  }

  /**
   * Why `client` may not have another sandbox, or ''. One browser tab must not fill the lab:
   * a browser has its client id cookie, and every client its address (a class behind one NAT
   * shares an address, so that limit is the higher one). A client that sends no client id is
   * held to its address's limit only.
   */
  #overClientLimit(client: Client): Said | undefined {
    const { maxPerClient = Infinity, maxPerAddress = Infinity, maxPerStudent = Infinity } = this.#opts;
    let byClient = 0;
    let byAddress = 0;
    let byStudent = 0;
    for (const s of this.#sessions.values()) {
      if (client.id !== null && s.client.id === client.id) byClient++;
      if (s.client.address === client.address) byAddress++;
      if (client.student !== undefined && s.client.student === client.student) byStudent++;
    }
    if (client.student !== undefined && byStudent >= maxPerStudent) {
      return { code: 'srvStudentLimit', n: byStudent };
    }
    if (client.id !== null && byClient >= maxPerClient) {
      return { code: 'srvClientLimit', n: byClient };
    }
    if (byAddress >= maxPerAddress) {
      return { code: 'srvAddressLimit', n: byAddress };
    }
    return undefined;
  }

  /** End the sandbox this browser's tab left longest ago, if it has one without a page. */
  #reclaimClosedTab(client: Client): void {
    if (client.id === null) return; // without an id, nothing says the sandbox is this reader's
    let oldest: Session | undefined;
    for (const s of this.#sessions.values()) {
      if (s.client.id === client.id && s.attachment === null && !s.ended && (!oldest || s.detachedAt < oldest.detachedAt)) oldest = s;
    }
    if (!oldest) return;
    this.#log(`isolab: sandbox ${oldest.sandbox.name}: its tab was closed and the same browser opened another; removing it`);
    this.#end(oldest, HUNG_UP);
  }

  /** Call into a session's page; a bug there is logged, and ends nobody else's session. */
  #tell(session: Session, call: () => void): void {
    try {
      call();
    } catch (e) {
      this.#log(`isolab: sandbox ${session.sandbox.name}: ${(e as Error).stack ?? e}`);
    }
  }

  /** The socket went away: keep the sandbox for the grace period, reading nothing. */
  detach(session: Session, attachment: Attachment): void {
    if (session.attachment !== attachment) return; // already taken over
    session.attachment = null;
    session.detachedAt = Date.now();
    session.panel.hide();
    session.updateReading();
    if (session.ended) return;
    clearTimeout(session.graceTimer);
    session.graceTimer = setTimeout(() => {
      this.#log(`isolab: sandbox ${session.sandbox.name}: no page came back within ${this.#opts.graceMs / 1000} s`);
      this.#end(session, HUNG_UP);
    }, this.#opts.graceMs);
  }

  #sweepIdle(): void {
    try { this.#sweep(); } catch (e) { this.#log(`isolab: idle sweep: ${(e as Error).stack ?? e}`); }
  }

  #sweep(): void {
    const now = Date.now();
    for (const session of this.#sessions.values()) {
      if (!session.ended && now - session.lastInput > this.#opts.idleMs) {
        const idle = duration(this.#opts.idleMs);
        this.#log(`isolab: sandbox ${session.sandbox.name}: no input for ${idle}, removing it`);
        this.#end(session, HUNG_UP, { code: 'srvIdleRemoved', s: idle, n: Math.round(this.#opts.idleMs / 1000) });
      }
    }
  }

  /** Every live session (a class's roster looks for its students' ones, instructor.ts). */
  all(): Session[] { return [...this.#sessions.values()].filter((x) => !x.ended); }

  /** End the sandboxes `match` picks, telling their pages `why` (an instructor's reset or close). */
  endMatching(match: (s: Session) => boolean, why: Said): number {
    const picked = this.all().filter(match);
    for (const session of picked) this.#end(session, HUNG_UP, why);
    return picked.length;
  }

  /** Remove a session and its sandbox, telling its page (if any) with an exit frame. */
  #end(session: Session, code: number, why?: Said): void {
    if (session.ended) return;
    session.ended = true;
    clearTimeout(session.graceTimer);
    session.panel.close();
    if (this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
    const attachment = session.attachment;
    session.attachment = null;
    if (attachment) this.#tell(session, () => attachment.ended(code, why));
    for (const v of session.viewers) this.#tell(session, () => v.ended(code, why));
    session.viewers.clear();
    for (const extra of [...session.extras.values()]) this.#endExtra(extra, code, why);
    const p = session.sandbox.destroy()
      .catch((e) => this.#log(`isolab: removing ${session.sandbox.name}: ${(e as Error).message}`))
      .finally(() => this.#destroying.delete(p));
    this.#destroying.add(p);
    // Room again: the pool may make the sandbox it could not make while the lab was full.
    setImmediate(() => this.#warm.fill());
  }

  /** Stop: tell every page, remove every sandbox this server made, wait for that. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweeper);
    const warm = this.#warm.close(); // the sandboxes made ahead go too
    for (const session of [...this.#sessions.values()]) {
      for (const pane of [session, ...session.extras.values()]) {
        const attachment = pane.attachment;
        pane.attachment = null;
        if (attachment) this.#tell(session, () => attachment.shutdown());
      }
      this.#end(session, HUNG_UP);
    }
    await Promise.all([...this.#destroying, warm]);
  }
}
