// Who is on the other end of the engine's socket.
//
// The kernel tells a unix socket's owner who connected (SO_PEERCRED: the pid, uid and gid at
// connect time), so the engine does not take the client's word for it. With that pid,
// sys/pidfd.ts copies the client's stdin, stdout and stderr into the engine, and the
// container then writes straight into the client's terminal or pipe, with no copying by us.

import type net from 'node:net';
import { libc, lastErrno } from '../sys/libc.ts';
import { SysError } from '../sys/errors.ts';

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

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
