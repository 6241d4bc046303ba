// A pseudo-terminal for `box run -it`, made the way runc's console socket does: box opens
// the pty pair, gives the container the slave end as stdin/stdout/stderr (box-init makes it
// the controlling terminal after setsid), and keeps the master to copy bytes to and from
// the user's own terminal.

import fs from 'node:fs';
import tty from 'node:tty';
import { koffi } from '../sys/libc.ts';
import { SysError } from '../sys/errors.ts';
import { O_RDWR } from '../sys/constants.ts';
import type { Sys } from '../sys/sys.ts';

const O_NOCTTY = 0o400;
const TIOCSWINSZ = 0x5414;

export interface Pty {
  masterFd: number;
  slaveFd: number;
  /** A stream over the master: read what the container writes, write what the user types. */
  master: tty.ReadStream;
  resize(cols: number, rows: number): void;
  closeSlave(): void;
  close(): void;
}

let fns: any;
function ptyFns() {
  if (fns) return fns;
  const lib = koffi().load('libc.so.6');
  fns = {
    posix_openpt: lib.func('int posix_openpt(int flags)'),
    grantpt: lib.func('int grantpt(int fd)'),
    unlockpt: lib.func('int unlockpt(int fd)'),
    ptsname_r: lib.func('int ptsname_r(int fd, _Out_ char *buf, size_t len)'),
    ioctl: lib.func('int ioctl(int fd, unsigned long request, ...)'),
  };
  return fns;
}

export function openPty(sys: Sys): Pty {
  const f = ptyFns();
  const masterFd: number = f.posix_openpt(O_RDWR | O_NOCTTY);
  if (masterFd < 0) throw new SysError('posix_openpt', 'O_RDWR|O_NOCTTY', koffi().errno());
  if (f.grantpt(masterFd) < 0 || f.unlockpt(masterFd) < 0) throw new SysError('unlockpt', String(masterFd), koffi().errno());
  const buf = Buffer.alloc(128);
  if (f.ptsname_r(masterFd, buf, buf.length) !== 0) throw new SysError('ptsname_r', String(masterFd), koffi().errno());
  const slavePath = buf.toString('utf8', 0, buf.indexOf(0));
  const slaveFd = fs.openSync(slavePath, O_RDWR | O_NOCTTY);
  sys.trace.record({ kind: 'note', text: `pty: master fd ${masterFd}, slave ${slavePath}` });
  const master = new tty.ReadStream(masterFd);
  let slaveOpen = true;
  return {
    masterFd,
    slaveFd,
    master,
    resize(cols, rows) {
      const ws = Buffer.alloc(8);
      ws.writeUInt16LE(rows, 0);
      ws.writeUInt16LE(cols, 2);
      f.ioctl(masterFd, TIOCSWINSZ, 'void *', ws);
    },
    closeSlave() {
      if (slaveOpen) fs.closeSync(slaveFd);
      slaveOpen = false;
    },
    close() {
      this.closeSlave();
      master.destroy();
    },
  };
}
