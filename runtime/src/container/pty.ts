// The terminal of `box run -it`. box-init opens it inside the container, from the
// container's own devpts instance, so the container sees /dev/pts/0 as its tty; box then
// takes a copy of the master end out of box-init with pidfd_getfd(2) (Linux 5.6), and
// copies bytes between it and the user's own terminal. (runc does the same with a
// console socket and SCM_RIGHTS.)

import tty from 'node:tty';
import { koffi } from '../sys/libc.ts';
import { SysError } from '../sys/errors.ts';
import type { Sys } from '../sys/sys.ts';

const SYS_pidfd_open = 434;
const SYS_pidfd_getfd = 438;
const TIOCSWINSZ = 0x5414;

export interface Pty {
  masterFd: number;
  /** A stream over the master: read what the container writes, write what the user types. */
  master: tty.ReadStream;
  resize(cols: number, rows: number): void;
  close(): void;
}

let fns: any;
function libcFns() {
  if (fns) return fns;
  const lib = koffi().load('libc.so.6');
  fns = {
    syscall: lib.func('long syscall(long number, ...)'),
    ioctl: lib.func('int ioctl(int fd, unsigned long request, ...)'),
    close: lib.func('int close(int fd)'),
  };
  return fns;
}

/** Take a copy of file descriptor `fd` of process `pid`: the container's terminal master. */
export function adoptConsole(sys: Sys, pid: number, fd: number): Pty {
  const f = libcFns();
  const pidfd = Number(f.syscall(SYS_pidfd_open, 'int', pid, 'int', 0));
  if (pidfd < 0) throw new SysError('pidfd_open', `${pid}, 0`, koffi().errno());
  const masterFd = Number(f.syscall(SYS_pidfd_getfd, 'int', pidfd, 'int', fd, 'int', 0));
  const errno = koffi().errno();
  f.close(pidfd);
  sys.trace.record({ kind: 'syscall', call: 'pidfd_getfd', args: `pidfd_open(${pid}), ${fd}, 0`, result: masterFd });
  if (masterFd < 0) throw new SysError('pidfd_getfd', `${pid}, ${fd}`, errno);
  const master = new tty.ReadStream(masterFd);
  const pty: Pty = {
    masterFd,
    master,
    resize(cols, rows) {
      const ws = Buffer.alloc(8);
      ws.writeUInt16LE(rows, 0);
      ws.writeUInt16LE(cols, 2);
      f.ioctl(masterFd, TIOCSWINSZ, 'void *', ws);
    },
    close() {
      master.destroy();
    },
  };
  // Size it now, before the command starts and asks (stty size, a shell's line editor).
  if (process.stdout.isTTY) pty.resize(process.stdout.columns, process.stdout.rows);
  return pty;
}
