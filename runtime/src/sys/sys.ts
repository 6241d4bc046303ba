// The system-call layer. Everything above sys/ takes a `Sys` as a parameter: the real one
// calls libc through koffi, a fake one (fake.ts) lets unit tests run the same logic
// without root. Both record every call in the trace.

import fs from 'node:fs';
import os from 'node:os';
import { SysError } from './errors.ts';
import { cloneFlagNames, mountFlagNames } from './constants.ts';
import { q, type Trace } from './trace.ts';
import { libc, lastErrno } from './libc.ts';

export interface Sys {
  readonly trace: Trace;
  unshare(flags: number): void;
  setns(fd: number, nstype: number): void;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data?: string | null): void;
  umount2(target: string, flags: number): void;
  sethostname(name: string): void;
  kill(pid: number, sig: number): void;
  /** Write a kernel file (cgroup limit, uid_map...). Recorded as a write in the trace. */
  writeFile(path: string, value: string): void;
  readFile(path: string): string;
}

/** The real system calls, through koffi. Throws SysError naming the call on failure. */
export function realSys(trace: Trace): Sys {
  // koffi is loaded on the first call, not here: box run makes none from Node.
  let lib: ReturnType<typeof libc> | undefined;
  const C = new Proxy({} as ReturnType<typeof libc>, { get: (_t, name) => (lib ??= libc())[name as keyof typeof lib] });
  function check(call: string, args: string, rc: number): void {
    const errno = rc < 0 ? lastErrno() : 0;
    trace.record({ kind: 'syscall', call, args, result: rc, ...(rc < 0 ? { errno: new SysError(call, args, errno).code } : {}) });
    if (rc < 0) throw new SysError(call, args, errno);
  }
  return {
    trace,
    unshare(flags) {
      check('unshare', cloneFlagNames(flags), C.unshare(flags));
    },
    setns(fd, nstype) {
      check('setns', `${fd}, ${cloneFlagNames(nstype)}`, C.setns(fd, nstype));
    },
    mount(source, target, fstype, flags, data = null) {
      const args = `${q(source)}, ${q(target)}, ${q(fstype)}, ${mountFlagNames(flags)}, ${q(data)}`;
      check('mount', args, C.mount(source, target, fstype, flags, data));
    },
    umount2(target, flags) {
      check('umount2', `${q(target)}, ${flags === 2 ? 'MNT_DETACH' : flags}`, C.umount2(target, flags));
    },
    sethostname(name) {
      check('sethostname', `${q(name)}, ${Buffer.byteLength(name)}`, C.sethostname(name, Buffer.byteLength(name)));
    },
    kill(pid, sig) {
      // Node has kill(2) itself; going through it spares loading koffi when nothing else needs it.
      let rc = 0;
      let errno = 0;
      try {
        process.kill(pid, sig);
      } catch (err) {
        rc = -1;
        errno = os.constants.errno[(err as NodeJS.ErrnoException).code as keyof typeof os.constants.errno] ?? 0;
      }
      trace.record({ kind: 'syscall', call: 'kill', args: `${pid}, ${sig}`, result: rc, ...(rc ? { errno: new SysError('kill', '', errno).code } : {}) });
      if (rc) throw new SysError('kill', `${pid}, ${sig}`, errno);
    },
    writeFile(path, value) {
      try {
        fs.writeFileSync(path, value);
        trace.record({ kind: 'write', path, value });
      } catch (err) {
        trace.record({ kind: 'write', path, value, errno: (err as NodeJS.ErrnoException).code });
        throw err;
      }
    },
    readFile(path) {
      return fs.readFileSync(path, 'utf8');
    },
  };
}
