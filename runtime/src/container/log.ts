// A detached container's log: what it writes to stdout and to stderr, kept apart. The kernel
// gives a reader of a file no way to tell which fd wrote which bytes, so the container does
// not write to the file itself: its stdout and stderr are two pipes, and the process that
// keeps it (the engine, or box run -d's monitor) reads them and appends one record per line,
// in the format of Docker's json-file log driver:
//
//   {"log":"hello\n","stream":"stdout","time":"2026-12-07T03:40:00.000000000Z"}
//
// A chunk that does not end in a newline (a prompt) is written at once as a record of its own
// without one; joining the `log` fields in order gives back the bytes. Readers take only
// whole lines, so a record being appended is never read half-written.
//
// The keeper holds the pipes' read ends, as Docker's containerd-shim does: were it killed, the
// container's next write would fail with EPIPE (box's clean-up then finds what it left).
//
// Containers made before this kept one raw file, container.log (both streams in it): it is
// still read, as stdout.

import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { containerDir } from './state.ts';

export type LogStream = 'stdout' | 'stderr';

/** The json-file log; LEGACY_LOG is the raw one of containers made before it. */
export const JSON_LOG = 'container-json.log';
const LEGACY_LOG = 'container.log';

export interface LogEntry {
  stream: LogStream;
  data: Buffer;
  /** When it was written (RFC 3339, the json record's `time`); none in an old raw log. */
  time?: string;
}

/** The log file `box logs`, `docker logs` and attaches read: the json one, else an old raw one, else where the json one will be. */
export function logPathOf(id: string): string {
  const dir = containerDir(id);
  const json = path.join(dir, JSON_LOG);
  if (fs.existsSync(json)) return json;
  const legacy = path.join(dir, LEGACY_LOG);
  return fs.existsSync(legacy) ? legacy : json;
}

/** Does the container keep a log at all (only detached ones and the engine's do)? */
export function hasLog(id: string): boolean {
  return fs.existsSync(logPathOf(id));
}

/** Records for `data` written on `stream`: one per line, the last without a newline if it had none. */
export function records(stream: LogStream, data: Buffer, now = new Date()): string {
  const time = now.toISOString().replace('Z', '000000Z'); // json-file keeps nanoseconds
  return data.toString('utf8').split(/(?<=\n)/).filter((l) => l.length)
    .map((log) => `${JSON.stringify({ log, stream, time })}\n`).join('');
}

/** Append what `stream` wrote to the open log `fd` (one write: readers see whole records). */
export function appendLog(fd: number, stream: LogStream, data: Buffer): void {
  try {
    fs.writeSync(fd, records(stream, data));
  } catch {
    /* the container's files went (--rm) */
  }
}

/**
 * Copy the container's stdout and stderr pipes into its log until both end. Call it as soon
 * as the process is spawned: Node drops a child's unread pipes once it has exited.
 */
export function writeLog(id: string, stdout: Readable | null, stderr: Readable | null): Promise<void> {
  const fd = openLog(id);
  const copy = (s: Readable | null, stream: LogStream) => new Promise<void>((resolve) => {
    if (!s) return resolve();
    s.on('data', (d: Buffer) => appendLog(fd, stream, d));
    s.once('end', resolve);
    s.once('error', () => resolve());
  });
  return Promise.all([copy(stdout, 'stdout'), copy(stderr, 'stderr')]).then(() => fs.closeSync(fd));
}

/**
 * Open the json log for appending. An old container started again has its raw log turned
 * into records first (as stdout: which stream wrote what was not kept), so nothing is lost.
 */
export function openLog(id: string): number {
  const dir = containerDir(id);
  const json = path.join(dir, JSON_LOG);
  const legacy = path.join(dir, LEGACY_LOG);
  if (!fs.existsSync(json) && fs.existsSync(legacy)) {
    fs.writeFileSync(`${json}.tmp`, records('stdout', fs.readFileSync(legacy)), { mode: 0o600 });
    fs.renameSync(`${json}.tmp`, json);
    fs.rmSync(legacy);
  }
  return fs.openSync(json, 'a', 0o600);
}

/** Where a reader of `file` stands: the byte offset of the next whole line. */
export interface LogCursor {
  file: string;
  offset: number;
}

/** A cursor at the end of the log now (an attach without logs=1: only what comes next). */
export function endOf(id: string): LogCursor {
  const file = logPathOf(id);
  return { file, offset: fs.existsSync(file) ? fs.statSync(file).size : 0 };
}

/** A cursor `lines` lines before the end (docker logs --tail): json records, or raw lines in an old log. */
export function tailOf(id: string, lines: number): LogCursor {
  const file = logPathOf(id);
  if (!fs.existsSync(file)) return { file, offset: 0 };
  const text = fs.readFileSync(file);
  let offset = text.length;
  let count = 0;
  // The newline that ends the (lines+1)-th line from the end; the last byte ends the last line.
  for (let i = text.length - 2; i >= -1 && count < lines; i--) {
    if (i === -1 || text[i] === 0x0a) {
      count++;
      offset = i + 1;
    }
  }
  return { file, offset: lines <= 0 ? text.length : offset };
}

/** Read the whole entries written after the cursor, and move it past them. */
export function readLog(cursor: LogCursor, fd?: number): LogEntry[] {
  const own = fd === undefined;
  if (own && !fs.existsSync(cursor.file)) return [];
  const f = own ? fs.openSync(cursor.file, 'r') : fd;
  try {
    const chunks: Buffer[] = [];
    const buf = Buffer.alloc(65536);
    let n: number;
    let at = cursor.offset;
    while ((n = fs.readSync(f, buf, 0, buf.length, at)) > 0) {
      chunks.push(Buffer.from(buf.subarray(0, n)));
      at += n;
    }
    const got = Buffer.concat(chunks);
    if (!cursor.file.endsWith(JSON_LOG)) { // the old raw file: all of it, as stdout
      cursor.offset += got.length;
      return got.length ? [{ stream: 'stdout', data: got }] : [];
    }
    const end = got.lastIndexOf(0x0a) + 1; // whole records only
    cursor.offset += end;
    const entries: LogEntry[] = [];
    for (const line of got.subarray(0, end).toString('utf8').split('\n')) {
      if (!line) continue;
      try {
        const r = JSON.parse(line) as { log?: string; stream?: string; time?: string };
        entries.push({ stream: r.stream === 'stderr' ? 'stderr' : 'stdout', data: Buffer.from(r.log ?? '', 'utf8'), time: r.time });
      } catch {
        /* a damaged record: skipped, as docker logs does */
      }
    }
    return entries;
  } finally {
    if (own) fs.closeSync(f);
  }
}
