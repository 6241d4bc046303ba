// The terminals of API containers made with Tty (docker run -t). The engine adopts the
// container's pty master (container/pty.ts: box-init opens it from the container's devpts,
// the engine copies the fd out with pidfd_getfd) and keeps it: what the container writes
// goes to the container's log (container/log.ts) as stdout (a terminal merges stdout and
// stderr already), and goes to a client raw, with no stdcopy framing, so `docker logs` and every attach read it there; what an attached client types
// is written to the master. The client (docker's CLI) puts its own terminal in raw mode and
// watches for the detach keys itself; it then just closes the connection, and the
// container keeps running.

import fs from 'node:fs';
import type { Duplex } from 'node:stream';
import { appendLog, openLog } from '../../container/log.ts';
import type { Pty } from '../../container/pty.ts';

const terminals = new Map<string, Pty>();

/** Keep container `id`'s terminal: its output appended to its log until it closes. */
export function keepTerminal(id: string, pty: Pty, exited: Promise<unknown>): void {
  terminals.set(id, pty);
  const log = openLog(id);
  pty.master.on('data', (d: Buffer) => appendLog(log, 'stdout', d));
  // Reading the master fails with EIO once the last process holding the slave is gone.
  pty.master.on('error', () => {});
  const done = () => {
    if (terminals.get(id) !== pty) return;
    terminals.delete(id);
    pty.close();
    fs.closeSync(log);
  };
  pty.master.on('close', done);
  exited.finally(() => setTimeout(done, 200)); // let the last output drain first
}

export function hasTerminal(id: string): boolean {
  return terminals.has(id);
}

/** A client's keystrokes into the terminal (raw bytes on the hijacked connection). */
export function typeInto(id: string, socket: Duplex): void {
  const pty = terminals.get(id);
  if (!pty) return;
  socket.on('data', (d: Buffer) => {
    if (terminals.get(id) !== pty) return;
    try { fs.writeSync(pty.masterFd, d); } catch { /* it has exited */ }
  });
  socket.resume();
}

/** POST /containers/{id}/resize?h=&w=: TIOCSWINSZ on the master, the kernel sends SIGWINCH. */
export function resizeTerminal(id: string, cols: number, rows: number): boolean {
  const pty = terminals.get(id);
  if (!pty) return false;
  pty.resize(cols, rows);
  return true;
}
