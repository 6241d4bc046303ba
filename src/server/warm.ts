// Warm sandboxes: a few sandboxes made ahead, so a reader who opens a lesson gets a prompt
// without waiting for `box run --lab` (its namespaces, mounts, cgroups and first shell take
// about half a second). The next reader who needs a new sandbox is handed one; another is
// made in the background. A sandbox is handed to one reader only: take() removes it from the
// pool before anyone sees it, and the pool keeps no reference to what it handed out.
//
// A warm sandbox counts against the lab's --max-sandboxes (it is a running sandbox): one is
// made only while `room()` says the lab has space for it beside the readers' sandboxes. The
// per-reader limits are the session manager's, checked before a sandbox (warm or new) is given.

import type { Sandbox, SandboxDriver } from './sandbox.ts';
import { sandboxName } from './sandbox.ts';

/**
 * What a warm sandbox wrote before its reader came (its prompt): kept up to this much, well
 * under a terminal frame (terminal.ts BATCH_BYTES), so it follows the reader's hello.
 */
const EARLY_BYTES = 16 * 1024;
/** After a warm sandbox failed to start, wait this long (doubling, at most MAX) before the next. */
const RETRY_MS = 1000;
const RETRY_MAX_MS = 60_000;

/** A sandbox from the pool, with what it printed so far waiting for its reader. */
export interface Prepared {
  readonly sandbox: Sandbox;
  /** When it was made (Date.now()): before the reader asked. */
  readonly madeAt: number;
  /** Give its output and its end to the reader's session (the output printed so far first). */
  hand(onData: (chunk: Buffer) => void, onExit: (code: number) => void): void;
}

interface Held extends Prepared {
  early: Buffer[];
  earlyBytes: number;
  onData: ((chunk: Buffer) => void) | null;
  onExit: ((code: number) => void) | null;
  exited: number | null;
}

export interface WarmOptions {
  driver: SandboxDriver;
  /** How many to keep ready (0: none, every sandbox is made when a reader asks). */
  size: number;
  /** True while the lab has space for one more sandbox beside the readers' and the pool's. */
  room: () => boolean;
  log: (line: string) => void;
}

export class WarmPool {
  readonly #opts: WarmOptions;
  readonly #ready: Held[] = [];
  readonly #removing = new Set<Promise<void>>();
  #failures = 0;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: WarmOptions) {
    this.#opts = opts;
  }

  /** How many are ready (or starting): they count as running sandboxes. */
  get size(): number { return this.#ready.length; }

  /** The names of the sandboxes waiting for a reader (`printed`: only those whose shell printed its prompt). */
  names(printed = false): string[] { return this.#ready.filter((h) => !printed || h.earlyBytes > 0).map((h) => h.sandbox.name); }

  /** A sandbox made ahead, now the caller's alone; another is made in the background. */
  take(): Prepared | undefined {
    const held = this.#ready.shift();
    if (held) setImmediate(() => this.fill());
    return held;
  }

  /** Make sandboxes until the pool has `size` of them, while the lab has room. */
  fill(): void {
    if (this.#closed || this.#retry) return;
    while (this.#ready.length < this.#opts.size && this.#opts.room()) {
      if (!this.#startOne()) return;
    }
  }

  #startOne(): boolean {
    let sandbox: Sandbox;
    try {
      sandbox = this.#opts.driver.start(sandboxName(), 80, 24);
    } catch (e) {
      this.#opts.log(`isolab: could not make a sandbox ahead: ${(e as Error).message}`);
      this.#later();
      return false;
    }
    const held: Held = {
      sandbox,
      madeAt: Date.now(),
      early: [],
      earlyBytes: 0,
      onData: null,
      onExit: null,
      exited: null,
      hand(onData, onExit) {
        held.onData = onData;
        held.onExit = onExit;
        for (const chunk of held.early.splice(0)) onData(chunk);
        if (held.exited !== null) onExit(held.exited);
      },
    };
    sandbox.onData((chunk) => {
      if (held.onData) { held.onData(chunk); return; }
      this.#failures = 0; // it came up: a shell that prints
      if (held.earlyBytes + chunk.length > EARLY_BYTES) return;
      held.early.push(chunk);
      held.earlyBytes += chunk.length;
    });
    sandbox.onExit((code) => {
      if (held.onExit) { held.onExit(code); return; }
      held.exited = code;
      // It ended before any reader had it: box could not make it. Drop it, try again later.
      const i = this.#ready.indexOf(held);
      if (i < 0) return;
      this.#ready.splice(i, 1);
      this.#opts.log(`isolab: sandbox ${sandbox.name}, made ahead, ended by itself (status ${code})`);
      this.#remove(sandbox);
      this.#later();
    });
    this.#ready.push(held);
    this.#opts.log(`isolab: sandbox ${sandbox.name} made ahead for the next reader`);
    return true;
  }

  /** Try again after a pause that doubles with each failure in a row. */
  #later(): void {
    if (this.#closed || this.#retry) return;
    const wait = Math.min(RETRY_MAX_MS, RETRY_MS * 2 ** this.#failures++);
    this.#retry = setTimeout(() => { this.#retry = undefined; this.fill(); }, wait);
    this.#retry.unref();
  }

  #remove(sandbox: Sandbox): void {
    const p = sandbox.destroy()
      .catch((e) => this.#opts.log(`isolab: removing ${sandbox.name}: ${(e as Error).message}`))
      .finally(() => this.#removing.delete(p));
    this.#removing.add(p);
  }

  /** Stop making them and remove those still waiting. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    for (const held of this.#ready.splice(0)) this.#remove(held.sandbox);
    await Promise.all([...this.#removing]);
  }
}
