// Who is on the other end of the engine's socket, and a copy of their stdin/stdout/stderr.
//
// The kernel tells a unix socket's owner who connected (SO_PEERCRED: the pid, uid and gid at
// connect time), so the engine does not take the client's word for it. With that pid,
// pidfd_getfd(2) (Linux 5.6) copies any of the client's file descriptors into the engine, as
// dup(2) would across processes; it needs ptrace rights over the client, which root has. The
// container then writes straight into the client's terminal or pipe, with no copying by us.

import type net from 'node:net';
import { libc, lastErrno } from '../sys/libc.ts';
import { SysError } from '../sys/errors.ts';

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const SYS_pidfd_open = 434;
const SYS_pidfd_getfd = 438;

export interface Peer {
  pid: number;
  uid: number;
  gid: number;
}

/** The credentials of the process at the other end of a connected unix socket. */
export function peerOf(socket: net.Socket): Peer {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the connection has no file descriptor');
  const cred = Buffer.alloc(12); // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
  const len = Buffer.alloc(4);
  len.writeUInt32LE(cred.length);
  if (libc().getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, len) !== 0) {
    throw new SysError('getsockopt', `${fd}, SOL_SOCKET, SO_PEERCRED`, lastErrno());
  }
  return { pid: cred.readInt32LE(0), uid: cred.readUInt32LE(4), gid: cred.readUInt32LE(8) };
}

/** Copies of file descriptors `fds` of process `pid`; close them when done. */
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
