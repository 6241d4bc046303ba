// The kernel panel of one session: what the kernel was asked to do (the trace box writes in
// the sandbox), and what it is doing now (cgroup counters, namespaces), sent to the page
// over the terminal's WebSocket as `trace`, `stats` and `namespaces` frames.
//
// The trace is read for the whole life of the sandbox (inotify on its directory; nothing is
// read while nothing is written), so the record is there when the panel opens. Counters and
// namespaces are sampled only while a page shows the panel ({"type":"panel","on":true}).

import fs from 'node:fs';
import path from 'node:path';
import { parseTraceLine, TraceFileReader, TraceRecord } from './panel-trace.ts';
import type { PanelTraceEvent } from './panel-trace.ts';
import { CgroupSampler, cgroupLayoutOfPid, cgroupProcesses, parseOomNote, sandboxCgroupLayout, WALK_LIMITS } from './panel-stats.ts';
import type { CgroupLayout } from './panel-stats.ts';
import { namespaceSnapshot } from './panel-ns.ts';
import type { PanelTab } from './protocol.ts';

/** What a sandbox driver tells the panel (see sandbox.ts). */
export interface KernelView {
  /** The host path of the file box inside the sandbox appends its trace to (BOX_TRACE_FILE). */
  readonly traceFile: string;
  /** The sandbox's first process (a host pid) and its box cgroup's name, once it runs; null if it cannot be found. */
  locate(): Promise<{ pid: number; cgroup: string | null } | null>;
  /** The sandbox's processes (host pids), for a sandbox without a cgroup of its own (the host shell). */
  processes?(): number[];
}

/** Where the panel's frames go: the session's current WebSocket. */
export interface PanelSink {
  send(frame: Record<string, unknown> & { type: string }): void;
  /** True while the socket's send buffer is full: samples are skipped rather than queued. */
  congested(): boolean;
}

export const PANEL_TIMING = {
  /** Counters, four times a second: smooth enough to watch a hog climb. */
  statsMs: 250,
  /** Namespaces: twice a second, and a frame only when something changed. */
  namespacesMs: 500,
  /** Trace reads are at most this often, however fast the file changes. */
  traceMs: 50,
  /** When inotify is not available, look at the trace file this often. */
  tracePollMs: 1000,
} as const;

const TRACE_FRAME_EVENTS = 400;

interface Located {
  pid: number;
  layout: CgroupLayout | null;
  /** Why there are no counters, for the page. */
  why: string;
}

export class KernelPanel {
  readonly #view: KernelView | undefined;
  readonly #log: (line: string) => void;
  readonly #record = new TraceRecord();
  readonly #reader: TraceFileReader | undefined;
  #watcher: fs.FSWatcher | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #readTimer: NodeJS.Timeout | undefined;
  #lastRead = 0;
  #sink: PanelSink | null = null;
  #statsTimer: NodeJS.Timeout | undefined;
  #nsTimer: NodeJS.Timeout | undefined;
  #located: Promise<Located> | undefined;
  #sampler: CgroupSampler | undefined;
  #lastNs = '';
  #wantNs = true;
  #where: Located | undefined;
  #closed = false;
  /** The page must get the whole trace record (it is new, or missed events while congested). */
  #needReset = false;
  #resetTimer: NodeJS.Timeout | undefined;

  constructor(view: KernelView | undefined, log: (line: string) => void = () => {}) {
    this.#view = view;
    this.#log = log;
    if (!view) return;
    this.#reader = new TraceFileReader(view.traceFile);
    this.#watch(path.dirname(view.traceFile));
  }

  /**
   * The page shows the panel (on view `tab`). A new page, or one that was hidden, gets the
   * record so far; sampling starts. Counters are sampled on every view (the plots keep
   * their history for when the reader turns to them), namespaces only on their own.
   */
  show(sink: PanelSink, tab?: PanelTab): void {
    if (this.#closed) return;
    const wantNs = tab === undefined || tab === 'namespaces';
    if (this.#sink === sink) {
      // The same page changed views: only the namespace sampling may change.
      if (wantNs !== this.#wantNs) {
        this.#wantNs = wantNs;
        this.#lastNs = '';
        if (this.#where) this.#startSampling(sink, this.#where);
      }
      return;
    }
    this.hide(); // another page (or this one again after hiding): start afresh
    this.#wantNs = wantNs;
    this.#readTrace(); // what is new goes into the record, not out on its own
    this.#sink = sink;
    this.#sendTrace(this.#record.events(), true);
    if (!this.#view) {
      sink.send({ type: 'stats', unavailable: 'this terminal has no kernel panel' });
      return;
    }
    this.#lastNs = '';
    void this.#locate().then((where) => {
      if (this.#sink !== sink || this.#closed) return;
      this.#where = where;
      if (!where.layout) sink.send({ type: 'stats', unavailable: where.why });
      if (where.pid <= 0) sink.send({ type: 'namespaces', unavailable: where.why });
      this.#startSampling(sink, where);
    }).catch((e) => this.#log(`isolab: panel: ${(e as Error).stack ?? e}`));
  }

  /** The page hid the panel, or its socket went away: stop sampling (the trace is still read). */
  hide(sink?: PanelSink): void {
    if (sink && this.#sink !== sink) return;
    this.#sink = null;
    this.#needReset = false;
    clearTimeout(this.#resetTimer);
    this.#resetTimer = undefined;
    clearInterval(this.#statsTimer);
    clearInterval(this.#nsTimer);
    this.#statsTimer = this.#nsTimer = undefined;
  }

  get showing(): boolean { return this.#sink !== null; }

  close(): void {
    this.#closed = true;
    this.hide();
    this.#watcher?.close();
    clearInterval(this.#pollTimer);
    clearTimeout(this.#readTimer);
  }

  // ---- the trace ----

  #watch(dir: string): void {
    try {
      this.#watcher = fs.watch(dir, { persistent: false }, () => this.#traceChanged());
      this.#watcher.on('error', () => this.#pollInstead());
    } catch {
      this.#pollInstead();
    }
  }

  #pollInstead(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    if (this.#closed || this.#pollTimer) return;
    this.#pollTimer = setInterval(() => this.#traceChanged(), PANEL_TIMING.tracePollMs);
    this.#pollTimer.unref();
  }

  /** Something in the trace directory changed: read, but not more often than every traceMs. */
  #traceChanged(): void {
    if (this.#readTimer || this.#closed) return;
    const wait = Math.max(0, this.#lastRead + PANEL_TIMING.traceMs - performance.now());
    this.#readTimer = setTimeout(() => {
      this.#readTimer = undefined;
      try {
        if (this.#readTrace()) this.#traceChanged(); // the rest of a big append, next turn
      } catch (e) {
        this.#log(`isolab: panel: trace: ${(e as Error).stack ?? e}`);
      }
    }, wait);
    this.#readTimer.unref();
  }

  /** Read what is new; send it if the panel is showing. True when more is waiting. */
  #readTrace(): boolean {
    if (!this.#reader) return false;
    this.#lastRead = performance.now();
    const { lines, more } = this.#reader.read();
    const fresh: PanelTraceEvent[] = [];
    for (const line of lines) {
      const e = parseTraceLine(line);
      if (e && this.#record.add(e)) fresh.push(e);
      const oom = e?.kind === 'note' ? parseOomNote(e.text) : null;
      if (oom) this.#sampler?.noteOomKills(...oom);
    }
    if (fresh.length) this.#sendTrace(fresh, false);
    return more;
  }

  /**
   * Send trace events, or the whole record (`reset`). Nothing is queued for a socket that is
   * not reading (a page that never reads, or one that turns the panel on and off in a loop,
   * would make us buffer without end): while it is congested the page gets the whole record
   * once it reads again.
   */
  #sendTrace(events: PanelTraceEvent[], reset: boolean): void {
    const sink = this.#sink;
    if (!sink) return;
    if (reset || this.#needReset || sink.congested()) {
      this.#needReset = true;
      this.#flushReset();
      return;
    }
    for (let i = 0; i < events.length; i += TRACE_FRAME_EVENTS) {
      sink.send({ type: 'trace', reset: false, events: events.slice(i, i + TRACE_FRAME_EVENTS) });
    }
  }

  #flushReset(): void {
    const sink = this.#sink;
    if (!sink || !this.#needReset || this.#resetTimer) return;
    if (sink.congested()) {
      this.#resetTimer = setTimeout(() => { this.#resetTimer = undefined; this.#flushReset(); }, PANEL_TIMING.statsMs);
      return;
    }
    this.#needReset = false;
    const events = this.#record.events();
    if (events.length === 0) sink.send({ type: 'trace', reset: true, events: [] });
    for (let i = 0; i < events.length; i += TRACE_FRAME_EVENTS) {
      sink.send({ type: 'trace', reset: i === 0, events: events.slice(i, i + TRACE_FRAME_EVENTS) });
    }
  }

  // ---- counters and namespaces ----

  #locate(): Promise<Located> {
    this.#located ??= (async (): Promise<Located> => {
      const found = await this.#view!.locate().catch(() => null);
      if (!found) return { pid: 0, layout: null, why: 'the sandbox could not be found' };
      if (!found.cgroup) return { pid: found.pid, layout: null, why: 'this terminal has no cgroup of its own (a plain host shell)' };
      let layout: CgroupLayout | null = null;
      try {
        // From the sandbox's own process first: a sandbox made through a `box engine` has its
        // cgroup under the engine's, not under this server's.
        layout = cgroupLayoutOfPid(found.pid) ?? sandboxCgroupLayout(found.cgroup);
      } catch (e) {
        this.#log(`isolab: panel: cgroups of ${found.cgroup}: ${(e as Error).message}`);
      }
      return { pid: found.pid, layout, why: layout ? '' : `the cgroup ${found.cgroup} was not found` };
    })();
    return this.#located;
  }

  #startSampling(sink: PanelSink, where: Located): void {
    clearInterval(this.#nsTimer);
    this.#nsTimer = undefined;
    if (where.layout && !this.#statsTimer) {
      this.#sampler ??= new CgroupSampler(where.layout);
      const sampler = this.#sampler;
      const version = where.layout.version;
      // One sample at a time: a slow one (a big tree) makes the next tick skip, never pile up.
      const tick = this.#oneAtATime(async () => {
        // Read the trace first: box notes a container's OOM kills there before it removes
        // the cgroup, so a cgroup found gone now has its note read already.
        this.#readTrace();
        const groups = await sampler.sample();
        if (this.#sink !== sink || sink.congested()) return;
        sink.send({ type: 'stats', t: Date.now(), version, groups, ...(sampler.capped ? { capped: WALK_LIMITS.entries } : {}) });
      }, sink);
      tick();
      this.#statsTimer = setInterval(tick, PANEL_TIMING.statsMs);
    }
    if (where.pid > 0 && this.#wantNs) {
      const tick = this.#oneAtATime(async () => {
        const { found, capped } = await this.#processes(where);
        if (this.#sink !== sink || !this.#wantNs) return;
        const snap = { ...namespaceSnapshot(found, where.pid), ...(capped ? { capped: WALK_LIMITS.entries } : {}) };
        const key = JSON.stringify(snap);
        if (key === this.#lastNs) return; // changes only
        this.#lastNs = key;
        sink.send({ type: 'namespaces', ...snap });
      }, sink);
      tick();
      this.#nsTimer = setInterval(tick, PANEL_TIMING.namespacesMs);
    }
  }

  /**
   * A sampling tick: skipped while the previous one still runs or the socket is congested;
   * a failure is logged and ends only this tick (a reader's data must not end the server).
   */
  #oneAtATime(run: () => Promise<void>, sink: PanelSink): () => void {
    let busy = false;
    return () => {
      if (busy || this.#sink !== sink || sink.congested()) return;
      busy = true;
      run().catch((e) => this.#log(`isolab: panel: ${(e as Error).stack ?? e}`)).finally(() => { busy = false; });
    };
  }

  async #processes(where: Located): Promise<{ found: number[]; capped: boolean }> {
    if (this.#view?.processes) return { found: this.#view.processes(), capped: false };
    if (where.layout) return cgroupProcesses(where.layout);
    return { found: [where.pid], capped: false };
  }
}
