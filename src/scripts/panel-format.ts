// The kernel panel's pure parts (no DOM): grouping trace events into commands, the words
// that explain a system call, numbers in human units, and the time series the plots draw.
// Unit-tested in Node (test/unit/panel-client.test.ts).

import type { RelayedTraceEvent } from '../../runtime/src/sys/trace-event.ts';

/** One event of box's trace as the lab server relays it (the runtime's type, with its invocation). */
export type TraceEvent = RelayedTraceEvent;

/** One box command and what it asked of the kernel. */
export interface Command {
  inv: string;
  /** The command line, or null when its first line was not seen (the record began later). */
  argv: string[] | null;
  events: TraceEvent[];
  /** Events other than the command line itself: system calls, writes, notes. */
  kernelEvents: number;
  /** The order in which its first event arrived (newer commands have larger numbers). */
  seq: number;
}

function isEvent(e: unknown): e is TraceEvent {
  if (!e || typeof e !== 'object') return false;
  const o = e as Record<string, unknown>;
  return typeof o.inv === 'string' && typeof o.kind === 'string' && typeof o.who === 'string';
}

/** Trace events grouped by the box process (invocation) that wrote them, bounded. */
export class CommandLog {
  readonly #byInv = new Map<string, Command>();
  #seq = 0;
  readonly max: number;

  constructor(max = 12) {
    this.max = max;
  }

  clear(): void {
    this.#byInv.clear();
  }

  /** Add events; returns the commands that changed. Anything that is not an event is ignored. */
  add(events: unknown[]): Set<Command> {
    const changed = new Set<Command>();
    for (const e of events) {
      if (!isEvent(e)) continue;
      let cmd = this.#byInv.get(e.inv);
      if (!cmd) {
        cmd = { inv: e.inv, argv: null, events: [], kernelEvents: 0, seq: this.#seq++ };
        this.#byInv.set(e.inv, cmd);
      }
      if (e.kind === 'command') cmd.argv = Array.isArray(e.argv) ? e.argv.map(String) : null;
      else cmd.kernelEvents++;
      cmd.events.push(e);
      changed.add(cmd);
    }
    while (this.#byInv.size > this.max) {
      const oldest = [...this.#byInv.values()].sort((a, b) => a.seq - b.seq)[0]!;
      this.#byInv.delete(oldest.inv);
    }
    return changed;
  }

  /** Newest first. */
  list(): Command[] {
    return [...this.#byInv.values()].sort((a, b) => b.seq - a.seq);
  }

  get(inv: string): Command | undefined {
    return this.#byInv.get(inv);
  }

  /** The command the panel shows by default: the newest one that asked the kernel for something. */
  latest(): Command | undefined {
    return this.list().find((c) => c.kernelEvents > 0);
  }
}

/** `box run --rm -e 'A=b c' busybox true`: argv as a reader would type it. */
export function commandLine(argv: string[] | null): string {
  if (!argv) return '(an earlier box command)';
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** What each system call box makes is for, in a line (shown when the reader points at it). */
export const SYSCALL_HELP: Record<string, string> = {
  unshare: 'moves the calling process into new namespaces (a new PID namespace applies to its next child)',
  setns: 'joins an existing namespace, given a file of /proc/PID/ns',
  clone: 'makes a new process, optionally in new namespaces',
  mount: 'attaches a filesystem (or a bind of a directory) at a path, in this mount namespace only',
  umount2: 'detaches a filesystem from a path',
  pivot_root: "makes the container's root the process's root and moves the old root aside",
  chroot: "changes the process's root directory (no isolation by itself)",
  chdir: "changes the process's working directory",
  sethostname: 'sets the hostname, in this UTS namespace only',
  setdomainname: 'sets the NIS domain name, in this UTS namespace only',
  prctl: 'sets a property of the process (no_new_privs, the parent-death signal, capabilities)',
  capset: "sets the process's capability sets",
  seccomp: 'installs a system call filter (BPF) the kernel runs on every call',
  execve: 'replaces the program of the process: the container command starts',
  setuid: "sets the process's user id",
  setgid: "sets the process's group id",
  setgroups: 'sets the supplementary groups',
  setresuid: 'sets the real, effective and saved user ids',
  setresgid: 'sets the real, effective and saved group ids',
  kill: 'sends a signal to a process',
  ioctl: 'a device-specific request (a terminal, a network interface, /dev/kvm)',
  close_range: 'closes every file descriptor in a range, so none leaks into the container',
  mknod: 'makes a device node',
  symlink: 'makes a symbolic link',
  setrlimit: 'sets a resource limit of the process',
  sync: 'a step box-init reports back to box',
};

/** What the common cgroup files do, by file name. */
export const CGROUP_FILE_HELP: Record<string, string> = {
  'memory.max': 'cgroup v2 memory limit: past it, the kernel reclaims, then OOM-kills',
  'memory.limit_in_bytes': 'cgroup v1 memory limit: past it, the kernel reclaims, then OOM-kills',
  'memory.memsw.limit_in_bytes': 'cgroup v1 limit of memory + swap (equal to the memory limit: no swap)',
  'memory.swap.max': 'cgroup v2 swap limit (0: no swap)',
  'cpu.max': 'cgroup v2 CPU quota: "<quota> <period>" in µs',
  'cpu.cfs_quota_us': 'cgroup v1 CPU quota per period, µs (-1: none)',
  'cpu.cfs_period_us': 'cgroup v1 CPU period, µs',
  'cpu.weight': 'cgroup v2 relative CPU share (1..10000, default 100)',
  'cpu.shares': 'cgroup v1 relative CPU share (default 1024)',
  'pids.max': 'the most processes and threads the cgroup may hold',
  'cgroup.procs': 'writing a pid here moves that process into the cgroup',
  'cgroup.subtree_control': 'cgroup v2: which controllers the children get',
  'cgroup.kill': 'cgroup v2: writing 1 kills every process in the cgroup',
  'cgroup.freeze': 'cgroup v2: 1 stops every process where it stands, 0 thaws',
  'freezer.state': 'cgroup v1: FROZEN stops every process, THAWED resumes them',
  'cpuset.cpus': 'which CPUs the processes may run on',
  'cpuset.mems': 'which memory nodes the processes may use',
  uid_map: 'maps user ids inside the user namespace to ids outside',
  gid_map: 'maps group ids inside the user namespace to ids outside',
  setgroups: '"deny" before gid_map: an unprivileged map may not allow setgroups',
};

/** Values written to memory limit files, in units a reader can picture. */
export function valueNote(file: string, value: string): string {
  if (/^memory\.(max|limit_in_bytes|memsw\.limit_in_bytes|high|low|min)$/.test(file) && /^\d+$/.test(value)) return bytes(Number(value));
  if (file === 'cpu.max') {
    const m = /^(\d+) (\d+)$/.exec(value);
    if (m) return `${round(Number(m[1]) / Number(m[2]))} CPU`;
  }
  return '';
}

/** 33554432 -> "32 MiB"; 1536 -> "1.5 KiB". */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : round(v)} ${units[i]}`;
}

/** Up to three significant digits, no trailing zeros: 0.5, 12.3, 512. */
export function round(v: number): string {
  if (v === 0) return '0';
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return String(Number(v.toFixed(digits)));
}

/** Container ids and digests (64 hex digits) cut to their first 12, as `box ps` shows them. */
export function shortIds(text: string): string {
  return text.replace(/\b([0-9a-f]{12})[0-9a-f]{52}\b/g, '$1…');
}

/** The directory and the file of a kernel path, to show the file name prominently. */
export function splitPath(p: string): { dir: string; file: string } {
  const i = p.lastIndexOf('/');
  return i < 0 ? { dir: '', file: p } : { dir: p.slice(0, i + 1), file: p.slice(i + 1) };
}

// ---- time series for the plots ----

export interface Sample {
  /** Milliseconds (the server's clock). */
  t: number;
  mem: number | null;
  cpu: number | null;
  /** The cgroup's count of throttled periods at that moment. */
  throttled: number | null;
}

/** One cgroup's recent samples and what the plots need beside them. */
export interface Series {
  id: string;
  cmd: string;
  samples: Sample[];
  memMax: number | null;
  cpuMax: number | null;
  memPeak: number | null;
  /** The highest memory this page has plotted for the group. */
  memHigh: number;
  oom: number | null;
  throttled: number | null;
  pids: number | null;
  pidsMax: number | null;
  /** When it was last in a frame; a group not seen in the latest frame has ended. */
  lastSeen: number;
  ended: boolean;
  /** The order the page first saw it in (the plots keep that order). */
  order: number;
}

export interface GroupFrame {
  id: string; cmd?: string;
  mem: number | null; memMax: number | null; memPeak?: number | null; oom?: number | null;
  cpu: number | null; cpuMax: number | null; throttled?: number | null;
  pids?: number | null; pidsMax?: number | null;
}

/** The plotted window. */
export const WINDOW_MS = 30_000;

/** All the series of one panel: fed `stats` frames, keeps WINDOW_MS of each. */
export class SeriesSet {
  readonly byId = new Map<string, Series>();
  #order = 0;
  /** The time of the newest frame. */
  now = 0;

  add(t: number, groups: GroupFrame[]): void {
    this.now = t;
    const seen = new Set<string>();
    for (const g of groups) {
      if (!g || typeof g.id !== 'string') continue;
      seen.add(g.id);
      let s = this.byId.get(g.id);
      if (!s) {
        s = { id: g.id, cmd: '', samples: [], memMax: null, cpuMax: null, memPeak: null, memHigh: 0, oom: null, throttled: null, pids: null, pidsMax: null, lastSeen: t, ended: false, order: this.#order++ };
        this.byId.set(g.id, s);
      }
      const mem = num(g.mem);
      s.samples.push({ t, mem, cpu: num(g.cpu), throttled: num(g.throttled) });
      s.cmd = typeof g.cmd === 'string' && g.cmd ? g.cmd : s.cmd;
      s.memMax = num(g.memMax);
      s.cpuMax = num(g.cpuMax);
      s.memPeak = num(g.memPeak) ?? s.memPeak;
      s.memHigh = Math.max(s.memHigh, mem ?? 0);
      s.oom = num(g.oom) ?? s.oom;
      s.throttled = num(g.throttled) ?? s.throttled;
      s.pids = num(g.pids);
      s.pidsMax = num(g.pidsMax);
      s.lastSeen = t;
      s.ended = false;
    }
    for (const s of this.byId.values()) {
      if (!seen.has(s.id)) s.ended = true;
      while (s.samples.length && s.samples[0]!.t < t - WINDOW_MS) s.samples.shift();
      if (s.ended && s.lastSeen < t - WINDOW_MS) this.byId.delete(s.id);
    }
  }

  /** In the order first seen: the sandbox first, then its containers as they came. */
  list(): Series[] {
    return [...this.byId.values()].sort((a, b) => a.order - b.order);
  }

  clear(): void {
    this.byId.clear();
  }
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The top of a plot's scale: the limit when there is one (so the line is the top), else a round number above the data. */
export function scaleTop(values: number[], limit: number | null, floor: number): number {
  const high = Math.max(floor, ...values);
  if (limit !== null && limit > 0 && limit < high * 50) return Math.max(limit * 1.08, high * 1.08);
  return niceCeil(high * 1.15);
}

/** 1, 2 or 5 times a power of ten (or of 1024 for bytes) at or above v. */
export function niceCeil(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * An SVG path ("M x y L x y ...") of `points` in a width x height box, time from `t0` to
 * `t1` left to right and value 0..top bottom to top. Gaps (null) break the line.
 */
export function linePath(points: { t: number; v: number | null }[], t0: number, t1: number, top: number, width: number, height: number): string {
  const span = Math.max(1, t1 - t0);
  let d = '';
  let pen = false;
  for (const p of points) {
    if (p.v === null) {
      pen = false;
      continue;
    }
    const x = ((p.t - t0) / span) * width;
    const y = height - (Math.min(p.v, top) / top) * height;
    d += `${pen ? 'L' : 'M'}${x.toFixed(1)} ${y.toFixed(1)}`;
    pen = true;
  }
  return d;
}

/** The same line closed down to the baseline, for the shaded area under it. */
export function areaPath(points: { t: number; v: number | null }[], t0: number, t1: number, top: number, width: number, height: number): string {
  const span = Math.max(1, t1 - t0);
  const parts: string[] = [];
  let run: string[] = [];
  let firstX = 0;
  let lastX = 0;
  const close = () => {
    if (run.length > 1) parts.push(`M${firstX.toFixed(1)} ${height}${run.join('')}L${lastX.toFixed(1)} ${height}Z`);
    run = [];
  };
  for (const p of points) {
    if (p.v === null) {
      close();
      continue;
    }
    const x = ((p.t - t0) / span) * width;
    const y = height - (Math.min(p.v, top) / top) * height;
    if (run.length === 0) firstX = x;
    run.push(`L${x.toFixed(1)} ${y.toFixed(1)}`);
    lastX = x;
  }
  close();
  return parts.join('');
}

// ---- namespaces ----

export const NS_HELP: Record<string, string> = {
  mnt: 'mount: the list of mounts, so the filesystem tree',
  pid: 'process ids: the first process in a new one is PID 1',
  net: 'network: interfaces, addresses, routes, ports',
  ipc: 'System V IPC and POSIX message queues',
  uts: 'hostname and domain name',
  user: 'user and group ids, and what root may do',
  cgroup: 'which cgroup /proc/self/cgroup calls the root',
  time: 'offsets of the boot-time and monotonic clocks',
};

/** A short, stable label for a namespace inode: its last five digits. */
export function shortInode(inode: number): string {
  const s = String(inode);
  return s.length > 5 ? `…${s.slice(-5)}` : s;
}
