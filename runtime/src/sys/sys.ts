// The system-call layer. Code above sys/ takes a `Sys` as a parameter: the real one makes
// the calls, a fake one (test/support/fake-sys.ts) lets unit tests run the same logic without
// root. Both record every call in the trace.
//
// Most of a container's kernel work (unshare, mount, pivot_root, capset, seccomp) is made by
// box-init, the single-threaded C stage, from a plan (container/build-plan.ts computes it,
// init/plan.ts writes it down). What box itself asks of the kernel while it starts, runs and
// removes a container is what this interface lists: who it runs as (getuid), file writes to
// cgroupfs and /proc, signals, the namespace links of a process (readlink), spawning box-init
// (fork + execve), and for a lab sandbox or a --device under --userns, a directory, a device
// node, their owners and a loop device (attached, listed, detached), what device a path is
// (stat), on cgroup v2 the device rules' eBPF program (loaded, attached to the container's
// cgroup), and at removal the unmount of a container's own filesystem (--storage-opt size).
// youki's Syscall trait
// has the same shape. What needs root but is not one call (a cgroup hierarchy, a network, the
// image store) sits behind container/host.ts, so `startContainer` and `execInContainer` run
// whole in unit tests with a fake of both (test/unit/start-container.test.ts).

import { execFileSync, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MNT_DETACH } from './constants.ts';
import { NotFoundError, SysError, UserError } from './errors.ts';
import { lastErrno, libc } from './libc.ts';
import { q, type Trace } from './trace.ts';

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

/** makedev(3): glibc's encoding of a device number (12+20 bits of major, 8+24 of minor). */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major), mi = BigInt(minor);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

export interface Sys {
  readonly trace: Trace;
  kill(pid: number, sig: number): void;
  /** Write a kernel file (cgroup limit, uid_map...). Recorded as a write in the trace. */
  writeFile(path: string, value: string): void;
  readFile(path: string): string;
  /** mkdir(2) with `mode` (before the umask). EEXIST is an error: the caller made the name unique. */
  mkdir(path: string, mode: number): void;
  /** chown(2) (lchown: a symlink itself, never where it points). */
  chown(path: string, uid: number, gid: number): void;
  /** mknod(2): a block ('b') or character ('c') device node with permission bits `mode`. */
  mknod(path: string, type: 'b' | 'c', mode: number, major: number, minor: number): void;
  /**
   * Attach a loop device over `file` (LOOP_CTL_GET_FREE on /dev/loop-control, then LOOP_SET_FD
   * on the device it names); its path, /dev/loopN. The real one runs `losetup --find --show`,
   * which retries when another attacher takes the same free device first.
   */
  attachLoop(file: string): string;
  /**
   * The loop devices attached now, each with its backing file's identity "major:minor:inode"
   * (LOOP_GET_STATUS64 on each; the real one reads `losetup --list`). Empty where none is.
   */
  loops(): { device: string; backing: string }[];
  /** LOOP_CLR_FD: detach a loop device (the real one runs `losetup -d`). Busy, the kernel detaches it on its last close. */
  detachLoop(device: string): void;
  /** umount2(2) with MNT_DETACH: the mount leaves the tree now, the kernel ends it when its last user goes (umount -l). */
  unmountDetached(path: string): void;
  /** getuid(2): box run refuses to start without root. */
  getuid(): number;
  /**
   * stat(2) of a device node: its type and numbers (a --device, a lab's /dev/loopN and
   * /dev/kvm); null when `path` is something else. ENOENT when it does not exist.
   */
  statDevice(path: string): DeviceNumbers | null;
  /**
   * bpf(2) BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program (`insns`, 8 bytes each);
   * its fd. The verifier's last word is in the error when the kernel refuses it.
   */
  loadDeviceProgram(insns: Buffer, license: string): number;
  /**
   * bpf(2) BPF_PROG_ATTACH of program `progFd` to the cgroup directory `dir` as its
   * BPF_CGROUP_DEVICE program; `allowMulti` (BPF_F_ALLOW_MULTI): the programs already there stay.
   */
  attachDeviceProgram(dir: string, progFd: number, allowMulti: boolean): void;
  /** close(2) of an fd the Sys gave (a program's: the attachment holds the program on). */
  close(fd: number): void;
  /** readlink(2): what a /proc/<pid>/ns/<type> link names ("pid:[4026532201]"); ENOENT once the process is gone. */
  readlink(path: string): string;
  /**
   * fork + execve of a helper (box-init) with exactly these descriptors (0, 1, 2, then the
   * plan and report pipes) and an empty environment: nothing of box's leaks into the container.
   */
  spawn(file: string, args: string[], stdio: StdioOptions): ChildProcess;
}

/** A device node's type and numbers, as stat(2)'s st_rdev says them. */
export interface DeviceNumbers {
  type: 'b' | 'c';
  major: number;
  minor: number;
}

/**
 * A --device's type and numbers (a rule for it, a node of the container's own), or a one-line
 * error naming the flag: no such path, or a path that is no device node.
 */
export function requireDevice(sys: Sys, device: string): DeviceNumbers {
  let dev: DeviceNumbers | null;
  try {
    dev = sys.statDevice(device);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`--device ${device}: no such device on this host`);
    throw err;
  }
  if (!dev) throw new UserError(`--device ${device}: not a device node`);
  return dev;
}

// bpf(2) commands and constants (linux/bpf.h).
const BPF_PROG_LOAD = 5;
const BPF_PROG_ATTACH = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
const BPF_CGROUP_DEVICE = 6;
const BPF_F_ALLOW_MULTI = 2;

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
    mkdir(path, mode) {
      traced(trace, 'mkdir', `${q(path)}, 0${mode.toString(8)}`, () => fs.mkdirSync(path, { mode }));
    },
    chown(path, uid, gid) {
      traced(trace, 'lchown', `${q(path)}, ${uid}, ${gid}`, () => fs.lchownSync(path, uid, gid));
    },
    attachLoop(file) {
      try {
        const device = execFileSync('losetup', ['--find', '--show', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
        trace.record({ kind: 'note', text: `losetup --find --show ${file}: ${device} (LOOP_CTL_GET_FREE, LOOP_SET_FD)` });
        return device;
      } catch (err) {
        const why = String((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n').pop();
        trace.record({ kind: 'note', text: `losetup --find --show ${file}: failed: ${why}` });
        throw new Error(why);
      }
    },
    loops() {
      try {
        const out = execFileSync('losetup', ['--list', '--json', '--output', 'NAME,BACK-MAJ:MIN,BACK-INO'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        if (!out.trim()) return []; // none attached
        const list = (JSON.parse(out) as { loopdevices: { name: string; 'back-maj:min': string; 'back-ino': number }[] }).loopdevices;
        return list.map((l) => ({ device: l.name, backing: `${String(l['back-maj:min']).trim()}:${l['back-ino']}` }));
      } catch {
        return []; // no losetup, or no loop driver: nothing box could have attached
      }
    },
    detachLoop(device) {
      try {
        execFileSync('losetup', ['-d', device], { stdio: 'ignore' });
        trace.record({ kind: 'note', text: `losetup -d ${device} (LOOP_CLR_FD)` });
      } catch {
        /* gone already; if busy, the kernel detaches it on the last close (autoclear) */
      }
    },
    unmountDetached(path) {
      const args = `${q(path)}, MNT_DETACH`;
      const rc = libc().umount2(path, MNT_DETACH);
      const errno = rc < 0 ? lastErrno() : 0;
      trace.record({ kind: 'syscall', call: 'umount2', args, result: rc, ...(errno ? { errno: new SysError('umount2', args, errno).code } : {}) });
      if (errno) throw new SysError('umount2', args, errno);
    },
    getuid() {
      return process.getuid?.() ?? -1;
    },
    readlink(path) {
      return fs.readlinkSync(path);
    },
    statDevice(path) {
      const st = fs.statSync(path);
      if (!st.isCharacterDevice() && !st.isBlockDevice()) return null;
      // glibc's major() and minor() of st_rdev (12+20 bits, 8+24 bits; see makedev).
      const rdev = st.rdev;
      return { type: st.isBlockDevice() ? 'b' : 'c', major: Math.floor(rdev / 256) & 0xfff, minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) };
    },
    loadDeviceProgram(insns, license) {
      const { bpf, address: addressOf } = libc();
      const lic = Buffer.from(`${license}\0`);
      const log = Buffer.alloc(64 * 1024);
      // union bpf_attr for BPF_PROG_LOAD: prog_type u32, insn_cnt u32, insns u64, license u64,
      // log_level u32, log_size u32, log_buf u64, kern_version u32, prog_flags u32, prog_name[16]...
      const load = Buffer.alloc(128);
      load.writeUInt32LE(BPF_PROG_TYPE_CGROUP_DEVICE, 0);
      load.writeUInt32LE(insns.length / 8, 4);
      load.writeBigUInt64LE(addressOf(insns), 8);
      load.writeBigUInt64LE(addressOf(lic), 16);
      load.writeUInt32LE(1, 24); // log_level: the verifier explains a refusal
      load.writeUInt32LE(log.length, 28);
      load.writeBigUInt64LE(addressOf(log), 32);
      load.write('box_devices', 48, 'latin1');
      const fd = bpf(BPF_PROG_LOAD, load);
      const errno = fd < 0 ? lastErrno() : 0;
      const args = `BPF_PROG_LOAD, {prog_type=BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt=${insns.length / 8}, license=${q(license)}, ...}, 128`;
      trace.record({ kind: 'syscall', call: 'bpf', args, result: fd, ...(errno ? { errno: new SysError('bpf', '', errno).code } : {}) });
      if (errno) {
        const why = log.toString('latin1', 0, log.indexOf(0)).trim().split('\n').pop();
        throw new SysError('bpf', `BPF_PROG_LOAD${why ? `: ${why}` : ''}`, errno);
      }
      return fd;
    },
    attachDeviceProgram(dir, progFd, allowMulti) {
      const cgroupFd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      try {
        // BPF_PROG_ATTACH: target_fd u32, attach_bpf_fd u32, attach_type u32, attach_flags u32
        const attach = Buffer.alloc(32);
        attach.writeUInt32LE(cgroupFd, 0);
        attach.writeUInt32LE(progFd, 4);
        attach.writeUInt32LE(BPF_CGROUP_DEVICE, 8);
        attach.writeUInt32LE(allowMulti ? BPF_F_ALLOW_MULTI : 0, 12);
        const rc = libc().bpf(BPF_PROG_ATTACH, attach);
        const errno = rc < 0 ? lastErrno() : 0;
        const args = `BPF_PROG_ATTACH, {target_fd=${q(dir)}, attach_bpf_fd=${progFd}, attach_type=BPF_CGROUP_DEVICE, attach_flags=${allowMulti ? 'BPF_F_ALLOW_MULTI' : '0'}}, 32`;
        trace.record({ kind: 'syscall', call: 'bpf', args, result: rc, ...(errno ? { errno: new SysError('bpf', '', errno).code } : {}) });
        if (errno) throw new SysError('bpf', 'BPF_PROG_ATTACH', errno);
      } finally {
        fs.closeSync(cgroupFd);
      }
    },
    close(fd) {
      traced(trace, 'close', String(fd), () => fs.closeSync(fd));
    },
    spawn(file, args, stdio) {
      const child = spawn(file, args, { stdio, env: {} });
      trace.record({ kind: 'note', text: spawnText(file, args, child.pid) });
      return child;
    },
    mknod(path, type, mode, major, minor) {
      const args = `${q(path)}, ${type === 'b' ? 'S_IFBLK' : 'S_IFCHR'}|0${mode.toString(8)}, makedev(${major}, ${minor})`;
      const rc = libc().mknod(path, (type === 'b' ? S_IFBLK : S_IFCHR) | mode, makedev(major, minor));
      const errno = rc < 0 ? lastErrno() : 0;
      trace.record({ kind: 'syscall', call: 'mknod', args, result: rc, ...(errno ? { errno: new SysError('mknod', args, errno).code } : {}) });
      if (errno) throw new SysError('mknod', args, errno);
    },
  };
}

/** How the trace tells a spawn (the fake Sys says it the same way). */
export function spawnText(file: string, args: string[], pid: number | undefined): string {
  return `spawn ${path.basename(file)}${args.map((a) => ` ${a}`).join('')} (fork + execve): pid ${pid ?? 'none'}`;
}

/** Run a call made through Node's fs, recording it (and its errno) in the trace. */
function traced(trace: Trace, call: string, args: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    trace.record({ kind: 'syscall', call, args, result: -1, errno: (err as NodeJS.ErrnoException).code });
    throw err;
  }
  trace.record({ kind: 'syscall', call, args, result: 0 });
}
