// The system-call layer. Code above sys/ takes a `Sys` as a parameter: the real one makes
// the calls, a fake one (test/support/fake-sys.ts) lets unit tests run the same logic without
// root. Both record every call in the trace.
//
// Most of a container's kernel work (unshare, mount, pivot_root, capset, seccomp) is made by
// box-init, the single-threaded C stage, from a plan (container/build-plan.ts computes it,
// init/plan.ts writes it down); what box itself
// asks of the kernel is mostly file writes to cgroupfs and /proc, and signals.

import fs from 'node:fs';
import os from 'node:os';
import { SysError } from './errors.ts';
import type { Trace } from './trace.ts';

export interface Sys {
  readonly trace: Trace;
  kill(pid: number, sig: number): void;
  /** Write a kernel file (cgroup limit, uid_map...). Recorded as a write in the trace. */
  writeFile(path: string, value: string): void;
  readFile(path: string): string;
}

/** The real calls. Throws SysError naming the call on failure. */
export function realSys(trace: Trace): Sys {
  return {
    trace,
    kill(pid, sig) {
      // Node has kill(2) itself: no need for koffi here.
      let errno = 0;
      try {
        process.kill(pid, sig);
      } catch (err) {
        errno = os.constants.errno[(err as NodeJS.ErrnoException).code as keyof typeof os.constants.errno] ?? 0;
      }
      const rc = errno ? -1 : 0;
      trace.record({ kind: 'syscall', call: 'kill', args: `${pid}, ${sig}`, result: rc, ...(errno ? { errno: new SysError('kill', '', errno).code } : {}) });
      if (errno) throw new SysError('kill', `${pid}, ${sig}`, errno);
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
