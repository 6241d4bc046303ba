// Container output to a docker client: the multiplexed stream of the Engine API (stdcopy).
// Without a terminal, dockerd sends each chunk behind an 8-byte header: [stream, 0, 0, 0,
// size as big-endian uint32], stream 1 stdout and 2 stderr, so the client can split them.
// box keeps a detached container's output in one file (container.log; stdout and stderr
// share the fd the container writes to), so everything arrives as stream 1.

import fs from 'node:fs';
import path from 'node:path';
import type { Duplex, Writable } from 'node:stream';
import { containerDir, readState } from '../../container/state.ts';

export function frame(stream: 1 | 2, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(data.length, 4);
  return Buffer.concat([head, data]);
}

/**
 * Copy the container's log to `out` from `offset`: all of it, then, with `follow`, what is
 * written until the container stops for good (not while it restarts) or `out` closes.
 */
export async function pumpLog(id: string, out: Writable | Duplex, opts: { follow: boolean; tty: boolean; offset?: number; tail?: number }): Promise<void> {
  const file = path.join(containerDir(id), 'container.log');
  let offset = opts.offset ?? 0;
  let closed = false;
  out.on('close', () => { closed = true; });
  out.on('finish', () => { closed = true; });
  const write = (b: Buffer) => out.write(opts.tty ? b : frame(1, b));
  if (opts.tail !== undefined && fs.existsSync(file)) {
    const text = fs.readFileSync(file);
    const lines = text.toString('utf8').split(/(?<=\n)/);
    const keep = lines.slice(Math.max(0, lines.length - opts.tail)).join('');
    offset = text.length - Buffer.byteLength(keep);
  }
  // The file is held open: an --rm container's files go as it exits, and its last output
  // must still be read from the open file.
  let fd: number | null = null;
  const pump = () => {
    if (fd === null) {
      if (!fs.existsSync(file)) return;
      fd = fs.openSync(file, 'r');
    }
    const buf = Buffer.alloc(65536);
    let n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, offset)) > 0) {
      write(Buffer.from(buf.subarray(0, n)));
      offset += n;
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
  while (!closed && live()) {
    await new Promise((r) => setTimeout(r, 100));
    pump();
  }
  if (!closed) pump();
  if (fd !== null) fs.closeSync(fd);
}
