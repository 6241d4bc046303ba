// Container output to a docker client: the multiplexed stream of the Engine API (stdcopy).
// Without a terminal, dockerd sends each chunk behind an 8-byte header: [stream, 0, 0, 0,
// size as big-endian uint32], stream 1 stdout and 2 stderr, so the client can split them.
// box's log keeps each line tagged by the stream that wrote it (container/log.ts), so
// `docker logs CTR 2>/dev/null` shows only stdout. With a terminal, the bytes go raw.

import fs from 'node:fs';
import type { Duplex, Writable } from 'node:stream';
import { logPathOf, readLog, tailOf, type LogCursor, type LogStream } from '../../container/log.ts';
import { readState } from '../../container/state.ts';

export function frame(stream: 1 | 2, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(data.length, 4);
  return Buffer.concat([head, data]);
}

/**
 * Copy the container's log to `out` from `cursor` (or its start, or its last `tail` lines):
 * all of it, then, with `follow`, what is written until the container stops for good (not
 * while it restarts) or `out` closes; with `waitStart`, a stopped container's next run too. `streams` picks stdout, stderr or both (the default).
 */
export interface LogWindow {
  /** Only entries written at or after / before these times (ms since the epoch): --since, --until. */
  since?: number;
  until?: number;
  /** Each entry behind its time, as `docker logs -t` prints it. */
  timestamps?: boolean;
}

export async function pumpLog(id: string, out: Writable | Duplex, opts: { follow: boolean; tty: boolean; cursor?: LogCursor; tail?: number; streams?: LogStream[]; waitStart?: boolean } & LogWindow): Promise<void> {
  const cursor = opts.cursor ?? (opts.tail !== undefined ? tailOf(id, opts.tail) : { file: logPathOf(id), offset: 0 });
  const streams = opts.streams ?? ['stdout', 'stderr'];
  let closed = false;
  out.on('close', () => { closed = true; });
  out.on('finish', () => { closed = true; });
  // The file is held open: an --rm container's files go as it exits, and its last output
  // must still be read from the open file.
  let fd: number | null = null;
  const pump = () => {
    if (fd === null) {
      if (!fs.existsSync(cursor.file)) return;
      fd = fs.openSync(cursor.file, 'r');
    }
    for (const e of readLog(cursor, fd)) {
      if (!streams.includes(e.stream)) continue;
      const at = e.time ? Date.parse(e.time) : NaN;
      if (opts.since !== undefined && !(at >= opts.since)) continue;
      if (opts.until !== undefined && !(at < opts.until)) continue;
      const data = opts.timestamps && e.time ? Buffer.concat([Buffer.from(`${e.time} `), e.data]) : e.data;
      out.write(opts.tty ? data : frame(e.stream === 'stderr' ? 2 : 1, data));
    }
  };
  pump();
  if (!opts.follow) {
    if (fd !== null) fs.closeSync(fd);
    return;
  }
  const live = () => {
    const s = readState(id);
    return !!s && ['running', 'restarting', 'created'].includes(s.status);
  };
  // An attach before a start (`docker start -a`, docker-compose up of a stopped service) waits
  // for that start: for a new `started`, since a quick command may have run and exited between
  // two looks at its status.
  if (opts.waitStart) {
    const before = readState(id)?.started;
    const begun = () => { const s = readState(id); return !s || s.started !== before || s.status !== 'exited'; };
    while (!closed && !begun()) await new Promise((r) => setTimeout(r, 50));
  }
  while (!closed && live()) {
    await new Promise((r) => setTimeout(r, 100));
    pump();
  }
  if (!closed) pump();
  if (fd !== null) fs.closeSync(fd);
}
