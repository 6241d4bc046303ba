// A fake system-call layer for unit tests: it records what would have been asked of the
// kernel and keeps written files in memory, so logic above sys/ runs without root.
// Every behaviour tested against it is also tested on the real kernel (test/integration).
// Its spawn starts a fake box-init (fake-init.ts) that answers the plan as box-init would.

import fs from 'node:fs';
import { SysError } from '../../runtime/src/sys/errors.ts';
import { Trace } from '../../runtime/src/sys/trace.ts';
import type { NamespaceName } from '../../runtime/src/sys/constants.ts';
import { spawnText, type DeviceNumbers, type Sys } from '../../runtime/src/sys/sys.ts';
import { fakeInit, type FakeInit, type InitFaults } from './fake-init.ts';

export interface FakeSys extends Sys {
  /** Files "written" so far, by path: the last value wins, as in a cgroup file. */
  readonly files: Map<string, string>;
  /** Directories, device nodes and owners made so far, by path. */
  readonly made: Map<string, { kind: 'dir' | 'b' | 'c'; mode: number; dev?: [number, number]; owner?: [number, number] }>;
  readonly owners: Map<string, [number, number]>;
  /**
   * The device nodes the fake machine has, by path (statDevice answers from it): /dev/null,
   * /dev/zero, /dev/kvm, /dev/sda, and each loop device as attachLoop attaches it (b 7:N).
   */
  readonly devices: Map<string, DeviceNumbers>;
  /** eBPF device programs loaded (bpf BPF_PROG_LOAD), by the fd each got; closing one leaves it here. */
  readonly programs: Map<number, Buffer>;
  /** Programs attached to a cgroup (BPF_PROG_ATTACH, BPF_CGROUP_DEVICE), in order: the kernel would hold these. */
  readonly cgroupPrograms: { dir: string; insns: Buffer; allowMulti: boolean }[];
  /** Descriptors the Sys gave and not yet closed. */
  readonly openFds: Set<number>;
  /** Loop devices attached, device -> backing file. */
  readonly attached: Map<string, string>;
  /** The box-inits spawned, in order. */
  readonly inits: FakeInit[];
  /** Processes alive now (box-inits and their children): /proc/<pid>/ns/* links resolve for these. */
  readonly live: Set<number>;
  /** What getuid() answers (0: root). */
  uid: number;
  /** Make the next box-init report an error at its first op of this name (as box-init.c's ERR line). */
  initFails(call: string, errno: number): void;
  /** Make the next call named `call` fail with this errno: fail('kill', 3) for ESRCH, fail('write:PATH', 16) for EBUSY. */
  fail(call: string, errno: number): void;
}

export function fakeSys(initialFiles: Record<string, string> = {}): FakeSys {
  const trace = new Trace();
  const files = new Map(Object.entries(initialFiles));
  const failures = new Map<string, number>();
  const made: FakeSys['made'] = new Map();
  const owners: FakeSys['owners'] = new Map();
  const attached: FakeSys['attached'] = new Map();
  const backing = new Map<string, string>();
  const inits: FakeInit[] = [];
  const devices: FakeSys['devices'] = new Map([
    ['/dev/null', { type: 'c', major: 1, minor: 3 }], ['/dev/zero', { type: 'c', major: 1, minor: 5 }],
    ['/dev/kvm', { type: 'c', major: 10, minor: 232 }], ['/dev/sda', { type: 'b', major: 8, minor: 0 }],
  ]);
  const programs: FakeSys['programs'] = new Map();
  const cgroupPrograms: FakeSys['cgroupPrograms'] = [];
  const openFds = new Set<number>();
  let nextFd = 20;
  const live = new Set<number>();
  let faults: InitFaults = {};
  let nextPid = 40000;
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
    attached,
    devices,
    programs,
    cgroupPrograms,
    openFds,
    inits,
    live,
    uid: 0,
    fail: (name, errno) => void failures.set(name, errno),
    initFails: (name, errno) => void (faults = { failAt: { call: name, errno } }),
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
      if (made.has(path)) failures.set('mkdir', 17); // EEXIST, recorded as the kernel's answer
      call('mkdir', `"${path}", 0${mode.toString(8)}`);
      made.set(path, { kind: 'dir', mode });
    },
    chown(path, uid, gid) {
      call('lchown', `"${path}", ${uid}, ${gid}`);
      owners.set(path, [uid, gid]);
    },
    attachLoop(file) {
      call('attachLoop', `"${file}"`);
      const device = `/dev/loop${attached.size}`;
      attached.set(device, file);
      devices.set(device, { type: 'b', major: 7, minor: attached.size - 1 }); // the loop driver's major
      // The backing file's identity, as LOOP_GET_STATUS64 reports it (glibc's major/minor of st_dev, st_ino).
      const st = fs.statSync(file);
      const major = (Math.floor(st.dev / 256) & 0xfff) | (Math.floor(st.dev / 2 ** 32) & ~0xfff);
      const minor = (st.dev & 0xff) | (Math.floor(st.dev / 4096) & ~0xff);
      backing.set(device, `${major}:${minor}:${st.ino}`);
      return device;
    },
    loops: () => [...attached.keys()].map((device) => ({ device, backing: backing.get(device)! })),
    detachLoop(device) {
      call('detachLoop', `"${device}"`);
      attached.delete(device);
      backing.delete(device);
      devices.delete(device);
    },
    unmountDetached: (p) => call('umount2', `"${p}", MNT_DETACH`),
    getuid() {
      return this.uid;
    },
    readlink(p) {
      const m = /^\/proc\/(self|\d+)\/ns\/(\w+)$/.exec(p);
      const pid = Number(m?.[1]);
      if (m && m[1] === 'self') return `${m[2]}:[1]`; // the host's namespaces are [1]
      if (m && live.has(pid)) {
        // Those its box-init unshared are the container's own, [<box-init pid>]. A new PID
        // namespace holds only the children of whoever unshared it, not box-init itself.
        const init = inits.find((i) => i.pid === pid || i.commandPid === pid)!;
        const ns = m[2] as NamespaceName;
        const own = init.unshared.has(ns) && !(ns === 'pid' && pid === init.pid);
        return `${ns}:[${own ? init.pid : 1}]`;
      }
      throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    },
    statDevice(p) {
      const dev = devices.get(p);
      if (dev) return dev;
      // Anything else that exists (a test's files, /etc/hostname) is not a device node here.
      if (fs.existsSync(p)) return null;
      throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    },
    loadDeviceProgram(insns, license) {
      call('bpf', `BPF_PROG_LOAD, {prog_type=BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt=${insns.length / 8}, license="${license}", ...}, 128`);
      const fd = nextFd++;
      programs.set(fd, Buffer.from(insns));
      openFds.add(fd);
      return fd;
    },
    attachDeviceProgram(dir, progFd, allowMulti) {
      call('bpf', `BPF_PROG_ATTACH, {target_fd="${dir}", attach_bpf_fd=${progFd}, attach_type=BPF_CGROUP_DEVICE, attach_flags=${allowMulti ? 'BPF_F_ALLOW_MULTI' : '0'}}, 32`);
      const insns = programs.get(progFd);
      if (!insns || !openFds.has(progFd)) throw new SysError('bpf', 'BPF_PROG_ATTACH', 9 /* EBADF */);
      cgroupPrograms.push({ dir, insns, allowMulti });
    },
    close(fd) {
      call('close', String(fd));
      if (!openFds.delete(fd)) throw new SysError('close', String(fd), 9 /* EBADF */);
    },
    spawn(file, args, stdio) {
      const pid = nextPid += 10;
      trace.record({ kind: 'note', text: spawnText(file, args, pid) });
      const init = fakeInit(pid, stdio, faults, live, (p, sig) => call('kill', `${p}, ${sig}`));
      faults = {};
      inits.push(init);
      return init.child;
    },
    mknod(path, type, mode, major, minor) {
      call('mknod', `"${path}", ${type === 'b' ? 'S_IFBLK' : 'S_IFCHR'}|0${mode.toString(8)}, makedev(${major}, ${minor})`);
      made.set(path, { kind: type, mode, dev: [major, minor] });
    },
  };
}
