// The terminal of `box run -it`. box-init opens it inside the container, from the
// container's own devpts instance, so the container sees /dev/pts/0 as its tty; box then
// takes a copy of the master end out of box-init with pidfd_getfd(2) (Linux 5.6), and
// copies bytes between it and the user's own terminal. (runc does the same with a
// console socket and SCM_RIGHTS.)

import tty from 'node:tty';
import { libc } from '../sys/libc.ts';
import { invocation } from '../sys/invocation.ts';
import { copyFds } from '../sys/pidfd.ts';
import type { Sys } from '../sys/sys.ts';

const TIOCSWINSZ = 0x5414;

export interface Pty {
  masterFd: number;
  /** A stream over the master: read what the container writes, write what the user types. */
  master: tty.ReadStream;
  resize(cols: number, rows: number): void;
  close(): void;
}

/** Take a copy of file descriptor `fd` of process `pid`: the container's terminal master. */
export function adoptConsole(sys: Sys, pid: number, fd: number): Pty {
  const f = libc();
  const args = `pidfd_open(${pid}), ${fd}, 0`;
  let masterFd: number;
  try {
    [masterFd] = copyFds(pid, [fd]);
  } catch (err) {
    sys.trace.record({ kind: 'syscall', call: 'pidfd_getfd', args, result: -1, errno: (err as { code?: string }).code });
    throw err;
  }
  sys.trace.record({ kind: 'syscall', call: 'pidfd_getfd', args, result: masterFd });
  const master = new tty.ReadStream(masterFd);
  const pty: Pty = {
    masterFd,
    master,
    resize(cols, rows) {
      const ws = Buffer.alloc(8);
      ws.writeUInt16LE(rows, 0);
      ws.writeUInt16LE(cols, 2);
      f.ioctlPtr(masterFd, TIOCSWINSZ, ws);
    },
    close() {
      master.destroy();
    },
  };
  // Size it now, before the command starts and asks (stty size, a shell's line editor).
  const size = invocation().terminalSize();
  if (size) pty.resize(size.cols, size.rows);
  return pty;
}
