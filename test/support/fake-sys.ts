// A fake system-call layer for unit tests: it records what would have been asked of the
// kernel and keeps written files in memory, so logic above sys/ runs without root.
// Every behaviour tested against it is also tested on the real kernel (test/integration).

import { SysError } from '../../runtime/src/sys/errors.ts';
import { Trace } from '../../runtime/src/sys/trace.ts';
import type { Sys } from '../../runtime/src/sys/sys.ts';

export interface FakeSys extends Sys {
  /** Files "written" so far, by path: the last value wins, as in a cgroup file. */
  readonly files: Map<string, string>;
  /** Directories, device nodes and owners made so far, by path. */
  readonly made: Map<string, { kind: 'dir' | 'b' | 'c'; mode: number; dev?: [number, number]; owner?: [number, number] }>;
  readonly owners: Map<string, [number, number]>;
  /** Loop devices attached, device -> backing file. */
  readonly loops: Map<string, string>;
  /** Make the next call named `call` fail with this errno: fail('kill', 3) for ESRCH, fail('write:PATH', 16) for EBUSY. */
  fail(call: string, errno: number): void;
}

export function fakeSys(initialFiles: Record<string, string> = {}): FakeSys {
  const trace = new Trace();
  const files = new Map(Object.entries(initialFiles));
  const failures = new Map<string, number>();
  const made: FakeSys['made'] = new Map();
  const owners: FakeSys['owners'] = new Map();
  const loops: FakeSys['loops'] = new Map();
  function call(name: string, args: string): void {
    const errno = failures.get(name);
    if (errno !== undefined) {
      failures.delete(name);
      trace.record({ kind: 'syscall', call: name, args, result: -1, errno: new SysError(name, args, errno).code });
      throw new SysError(name, args, errno);
    }
    trace.record({ kind: 'syscall', call: name, args, result: 0 });
  }
  return {
    trace,
    files,
    made,
    owners,
    loops,
    fail: (name, errno) => void failures.set(name, errno),
    kill: (pid, sig) => call('kill', `${pid}, ${sig}`),
    writeFile(path, value) {
      const errno = failures.get(`write:${path}`);
      if (errno !== undefined) {
        failures.delete(`write:${path}`);
        trace.record({ kind: 'write', path, value, errno: new SysError('write', path, errno).code });
        throw Object.assign(new Error(`write ${path}: errno ${errno}`), { code: new SysError('write', path, errno).code });
      }
      files.set(path, value);
      trace.record({ kind: 'write', path, value });
    },
    readFile(path) {
      const v = files.get(path);
      if (v === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return v;
    },
    mkdir(path, mode) {
      call('mkdir', `"${path}", 0${mode.toString(8)}`);
      if (made.has(path)) throw new SysError('mkdir', path, 17 /* EEXIST */);
      made.set(path, { kind: 'dir', mode });
    },
    chown(path, uid, gid) {
      call('lchown', `"${path}", ${uid}, ${gid}`);
      owners.set(path, [uid, gid]);
    },
    attachLoop(file) {
      call('attachLoop', `"${file}"`);
      const device = `/dev/loop${loops.size}`;
      loops.set(device, file);
      return device;
    },
    mknod(path, type, mode, major, minor) {
      call('mknod', `"${path}", ${type === 'b' ? 'S_IFBLK' : 'S_IFCHR'}|0${mode.toString(8)}, makedev(${major}, ${minor})`);
      made.set(path, { kind: type, mode, dev: [major, minor] });
    },
  };
}
