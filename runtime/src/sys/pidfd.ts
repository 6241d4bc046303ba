// pidfd_getfd(2) (Linux 5.6): a copy of another process's file descriptor, as dup(2) would
// make within one process. It needs ptrace rights over that process, which root has. box
// takes a container's terminal master out of box-init this way, and the engine its client's
// stdin, stdout and stderr.

import { libc, lastErrno } from './libc.ts';
import { SysError } from './errors.ts';

const SYS_pidfd_open = 434;
const SYS_pidfd_getfd = 438;

/** Copies of file descriptors `fds` of process `pid` (close-on-exec); close them when done. */
export function copyFds(pid: number, fds: number[]): number[] {
  const f = libc();
  const pidfd = f.syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) throw new SysError('pidfd_open', `${pid}, 0`, lastErrno());
  const out: number[] = [];
  try {
    for (const fd of fds) {
      const copy = f.syscall(SYS_pidfd_getfd, pidfd, fd, 0);
      if (copy < 0) throw new SysError('pidfd_getfd', `pidfd_open(${pid}), ${fd}, 0`, lastErrno());
      out.push(copy);
    }
    return out;
  } catch (err) {
    for (const fd of out) f.close(fd);
    throw err;
  } finally {
    f.close(pidfd);
  }
}
