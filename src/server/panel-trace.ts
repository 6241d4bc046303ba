// The kernel panel's "System calls" tab, server side: box inside a sandbox appends every
// system call and cgroup write it makes to a file (BOX_TRACE_FILE, one JSON object a line,
// see runtime/src/sys/trace.ts). We read what is new in it and keep the last few commands.
//
// The file sits in a directory the sandbox's root owns, so its reader may put anything
// there: junk, a line of a gigabyte, a symlink to /etc/shadow, a FIFO. This side opens it
// without following symlinks and without blocking, reads regular files only, reads a
// bounded amount per turn, and turns each line into a known, bounded shape or drops it.

import fs from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { RelayedTraceEvent } from '../../runtime/src/sys/trace-event.ts';

/** One event as the page gets it: the runtime's TraceEvent with its invocation, checked and bounded here. */
export type PanelTraceEvent = RelayedTraceEvent;

export const LIMITS = {
  /** Bytes read per turn; the rest waits for the next turn. */
  readBytes: 256 * 1024,
  /** A file larger than this is emptied (its writers append with O_APPEND, so they go on). */
  fileBytes: 4 * 1024 * 1024,
  /** Longer lines are not box's: dropped whole. */
  lineBytes: 16 * 1024,
  /** Strings in an event are cut to this many characters. */
  text: 2000,
  argv: 64,
  argvItem: 400,
} as const;

const WHO = /^[a-z][a-z0-9-]{0,15}$/;
const INVOCATION = /^[A-Za-z0-9_.-]{1,40}$/;
const CALL = /^[a-z_][a-z0-9_]{0,31}$/;
const ERRNO = /^E[A-Z0-9]{1,15}$/;

function str(v: unknown, max: number = LIMITS.text): string | null {
  if (typeof v !== 'string') return null;
  return v.length > max ? `${v.slice(0, max - 1)}…` : v;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** One line of the file as an event, or null when it is not one of box's. Never throws. */
export function parseTraceLine(line: string): PanelTraceEvent | null {
  const text = line.trim();
  // Cheap test first: a reader's junk is mostly not JSON objects at all.
  if (text.length < 2 || text.length > LIMITS.lineBytes || text[0] !== '{' || text[text.length - 1] !== '}') return null;
  let v: unknown;
  try { v = JSON.parse(text); } catch { return null; }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  const who = typeof o.who === 'string' && WHO.test(o.who) ? o.who : 'box';
  const inv = typeof o.invocation === 'string' && INVOCATION.test(o.invocation) ? o.invocation : '';
  const t = Math.max(0, Math.round((num(o.t) ?? 0) * 1000) / 1000);
  const errno = typeof o.errno === 'string' && ERRNO.test(o.errno) ? { errno: o.errno } : {};
  switch (o.kind) {
    case 'command': {
      if (!Array.isArray(o.argv) || o.argv.length === 0) return null;
      const argv = o.argv.slice(0, LIMITS.argv).map((a) => str(a, LIMITS.argvItem));
      if (argv.some((a) => a === null)) return null;
      return { inv, kind: 'command', who, t, argv: argv as string[] };
    }
    case 'syscall': {
      const call = typeof o.call === 'string' && CALL.test(o.call) ? o.call : null;
      const args = str(o.args);
      const result = num(o.result);
      if (call === null || args === null || result === null) return null;
      return { inv, kind: 'syscall', who, t, call, args, result, ...errno };
    }
    case 'write': {
      const path = str(o.path);
      const value = str(o.value);
      if (path === null || value === null) return null;
      return { inv, kind: 'write', who, t, path, value, ...errno };
    }
    case 'note': {
      const note = str(o.text);
      if (note === null) return null;
      return { inv, kind: 'note', who, t, text: note };
    }
    default:
      return null;
  }
}

/**
 * Reads what was appended to one file since the last read, a bounded amount at a time, and
 * hands back whole lines. A line cut by the end of the data waits for the rest; a file that
 * shrank or was replaced is read again from its start.
 */
export class TraceFileReader {
  readonly file: string;
  #offset = 0;
  #ino = -1;
  #partial = '';
  #skipping = false;
  /** A character cut in two by the end of a read is completed by the next one. */
  #decoder = new StringDecoder('utf8');
  /** Bytes skipped: overlong lines, a file emptied because it grew past the limit. */
  dropped = 0;

  constructor(file: string) {
    this.file = file;
  }

  /** New complete lines, and whether more is waiting (read again soon). Never throws. */
  read(): { lines: string[]; more: boolean } {
    let fd: number;
    try {
      // O_NOFOLLOW: a symlink put here by the sandbox's root must not make us read host files.
      // O_NONBLOCK: a FIFO put here must not hang the server on open.
      fd = fs.openSync(this.file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    } catch {
      return { lines: [], more: false }; // not there (yet), or a symlink
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) return { lines: [], more: false };
      if (st.ino !== this.#ino || st.size < this.#offset) this.#restart(st.ino);
      if (st.size > LIMITS.fileBytes) {
        // Too big to be box's few hundred lines a command: empty it, and drop what was in it.
        this.dropped += st.size - this.#offset;
        this.#truncate(st);
        this.#restart(st.ino);
        return { lines: [], more: false };
      }
      const want = Math.min(st.size - this.#offset, LIMITS.readBytes);
      if (want <= 0) return { lines: [], more: false };
      const buf = Buffer.allocUnsafe(want);
      const got = fs.readSync(fd, buf, 0, want, this.#offset);
      this.#offset += got;
      return { lines: this.#split(this.#decoder.write(buf.subarray(0, got))), more: this.#offset < st.size };
    } catch {
      return { lines: [], more: false };
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Empty the file we just looked at. Opened again for writing, without following a symlink,
   * and emptied only if it is still that same file with no other name (a hard link made in
   * the sandbox's directory must not let us empty anything else).
   */
  #truncate(checked: fs.Stats): void {
    let fd: number | undefined;
    try {
      fd = fs.openSync(this.file, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
      const st = fs.fstatSync(fd);
      if (st.isFile() && st.ino === checked.ino && st.dev === checked.dev && st.nlink === 1) fs.ftruncateSync(fd, 0);
    } catch {
      /* replaced meanwhile: the next read looks again */
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }

  #restart(ino: number): void {
    this.#ino = ino;
    this.#offset = 0;
    this.#partial = '';
    this.#skipping = false;
    this.#decoder = new StringDecoder('utf8');
  }

  #split(chunk: string): string[] {
    let text = chunk;
    if (this.#skipping) {
      // The rest of an overlong line, up to its newline, is dropped too.
      const nl = text.indexOf('\n');
      if (nl < 0) { this.dropped += text.length; return []; }
      this.dropped += nl;
      text = text.slice(nl + 1);
      this.#skipping = false;
    }
    const lines = (this.#partial + text).split('\n');
    this.#partial = lines.pop() ?? '';
    if (this.#partial.length > LIMITS.lineBytes) {
      this.dropped += this.#partial.length;
      this.#partial = '';
      this.#skipping = true;
    }
    return lines.filter((l) => l.length > 0);
  }
}

/** A command's record as the server keeps it. */
interface Invocation {
  id: string;
  events: PanelTraceEvent[];
  /** Events past the per-command limit, counted but not kept. */
  dropped: number;
}

/**
 * The last few commands' events, in the order they arrived, bounded: at most
 * `maxInvocations` commands and `maxEvents` events (oldest commands go first), and at most
 * `maxPerInvocation` events of one command.
 */
export class TraceRecord {
  readonly #byId = new Map<string, Invocation>();
  #total = 0;
  readonly maxInvocations: number;
  readonly maxEvents: number;
  readonly maxPerInvocation: number;

  constructor(limits: { maxInvocations?: number; maxEvents?: number; maxPerInvocation?: number } = {}) {
    this.maxInvocations = limits.maxInvocations ?? 12;
    this.maxEvents = limits.maxEvents ?? 5000;
    this.maxPerInvocation = limits.maxPerInvocation ?? 2000;
  }

  /** Keep `e`; false when it was dropped (its command is over the limit). */
  add(e: PanelTraceEvent): boolean {
    let inv = this.#byId.get(e.inv);
    if (!inv) {
      inv = { id: e.inv, events: [], dropped: 0 };
      this.#byId.set(e.inv, inv);
    }
    if (inv.events.length >= this.maxPerInvocation) {
      inv.dropped++;
      return false;
    }
    inv.events.push(e);
    this.#total++;
    // Evict whole commands, oldest first, but never the one just written to.
    for (const [id, old] of this.#byId) {
      if (this.#byId.size <= this.maxInvocations && this.#total <= this.maxEvents) break;
      if (id === e.inv) continue;
      this.#total -= old.events.length;
      this.#byId.delete(id);
    }
    return true;
  }

  /** Every kept event, command by command (oldest command first). */
  events(): PanelTraceEvent[] {
    return [...this.#byId.values()].flatMap((i) => i.events);
  }

  get size(): number { return this.#total; }
  get invocations(): number { return this.#byId.size; }
}
