// The kernel panel's "Namespaces" tab, server side: which processes of a sandbox share which
// namespace. The kernel names a namespace by an inode: `readlink /proc/PID/ns/pid` reads
// `pid:[4026532712]`, and two processes are in the same PID namespace exactly when they
// read the same number. A new namespace appears as a new number the moment it is made.

import fs from 'node:fs';

/** The namespace types /proc/PID/ns shows (time since Linux 5.6). */
export const NS_TYPES = ['mnt', 'pid', 'net', 'ipc', 'uts', 'user', 'cgroup', 'time'] as const;
export type NsType = (typeof NS_TYPES)[number];

/** One process as the page sees it. */
export interface NsProcess {
  /** Its pid as the sandbox numbers it (the second NSpid field; the host's when there is none). */
  pid: number;
  /** Its pid in its own, innermost PID namespace: 1 for a container's first process. */
  innerPid: number;
  /** Its parent's pid in the sandbox's numbering (0 when the parent is outside). */
  ppid: number;
  /** The kernel's name for it (comm, at most 15 characters). */
  comm: string;
  /** The inode of each of its namespaces, by type. */
  ns: Partial<Record<NsType, number>>;
}

/** A `namespaces` frame's body: the processes and, by type, each namespace's members. */
export interface NsSnapshot {
  processes: NsProcess[];
  /** The sandbox's own namespaces (those of its first process): the panel's baseline. */
  sandbox: Partial<Record<NsType, number>>;
  groups: Record<NsType, { inode: number; pids: number[] }[]>;
  /** Processes left out past the limit. */
  more: number;
}

/** `pid:[4026532712]` -> 4026532712 */
export function parseNsLink(link: string): number | null {
  const m = /^[a-z_]+:\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : null;
}

/** The NSpid, PPid and Name lines of /proc/PID/status. */
export function parseStatus(text: string): { nspid: number[]; ppid: number; comm: string } {
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1] ?? '';
  const nspid = field('NSpid').split(/\s+/).filter(Boolean).map(Number).filter(Number.isInteger);
  return {
    nspid,
    ppid: Number(field('PPid')) || 0,
    // The kernel escapes nothing here; a name may hold control characters: show them as '?'.
    comm: field('Name').replace(/[\x00-\x1f\x7f]/g, '?').slice(0, 64),
  };
}

/** What /proc says about one process, or null if it is gone. */
export function readProcess(hostPid: number, root = '/proc'): { hostPid: number; nspid: number[]; ppid: number; comm: string; ns: Partial<Record<NsType, number>> } | null {
  let status: string;
  try {
    status = fs.readFileSync(`${root}/${hostPid}/status`, 'utf8');
  } catch {
    return null;
  }
  const ns: Partial<Record<NsType, number>> = {};
  for (const type of NS_TYPES) {
    try {
      const inode = parseNsLink(fs.readlinkSync(`${root}/${hostPid}/ns/${type}`));
      if (inode !== null) ns[type] = inode;
    } catch { /* exited meanwhile, or a kernel without this type */ }
  }
  const info = parseStatus(status);
  // Node names its main thread "MainThread": show the script it runs instead (box, for box).
  if (info.comm === 'MainThread') info.comm = scriptName(hostPid, root) ?? info.comm;
  return { hostPid, ...info, ns };
}

/**
 * The first `max` bytes of a file, read through one bounded read. A process's command line
 * is whatever its owner made it (up to ARG_MAX, megabytes): the panel needs its start only.
 */
export function readHead(file: string, max = 4096): Buffer {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(max);
    return buf.subarray(0, fs.readSync(fd, buf, 0, max, null));
  } finally {
    fs.closeSync(fd);
  }
}

/** `node /opt/box/runtime/build/box.cjs run ...` -> "box". */
function scriptName(pid: number, root: string): string | null {
  try {
    const args = readHead(`${root}/${pid}/cmdline`).toString('utf8').split('\0');
    const script = args.slice(1).find((a) => !a.startsWith('-'));
    if (!script) return null;
    if (script.endsWith('/runtime/src/cli/main.ts')) return 'box'; // box run from its sources
    return script.split('/').pop()!.replace(/\.(c?js|mjs|ts)$/, '').slice(0, 32);
  } catch {
    return null;
  }
}

/** For each namespace type, its distinct namespaces (the sandbox's first, then by first member) and their members. */
export function groupNamespaces(processes: NsProcess[], sandbox: Partial<Record<NsType, number>>): NsSnapshot['groups'] {
  const groups = {} as NsSnapshot['groups'];
  for (const type of NS_TYPES) {
    const byInode = new Map<number, number[]>();
    const base = sandbox[type];
    if (base !== undefined) byInode.set(base, []);
    for (const p of processes) {
      const inode = p.ns[type];
      if (inode === undefined) continue;
      const list = byInode.get(inode) ?? [];
      list.push(p.pid);
      byInode.set(inode, list);
    }
    groups[type] = [...byInode].filter(([inode, pids]) => pids.length > 0 || inode === base).map(([inode, pids]) => ({ inode, pids }));
  }
  return groups;
}

/**
 * A snapshot of the sandbox's processes: `hostPids` as the host numbers them, `firstPid`
 * the sandbox's first process, whose namespaces are the baseline and whose place in the
 * nesting of PID namespaces (the last field of its NSpid) gives the sandbox's numbering.
 */
export function namespaceSnapshot(hostPids: number[], firstPid: number, limit = 64, root = '/proc'): NsSnapshot {
  const first = readProcess(firstPid, root);
  const level = first ? Math.max(0, first.nspid.length - 1) : 0;
  const sorted = [...new Set(hostPids)].sort((a, b) => a - b);
  // Only what the sandbox can see: a process outside its PID namespace (box's init stage,
  // which stays behind to wait for the sandbox's PID 1) has no number there.
  const raw = sorted.slice(0, limit).map((pid) => readProcess(pid, root)).filter((p): p is NonNullable<typeof p> => p !== null && p.nspid.length > level);
  const sandboxPid = (nspid: number[], host: number) => nspid[level] ?? nspid[nspid.length - 1] ?? host;
  const byHost = new Map(raw.map((p) => [p.hostPid, sandboxPid(p.nspid, p.hostPid)]));
  const processes: NsProcess[] = raw.map((p) => ({
    pid: sandboxPid(p.nspid, p.hostPid),
    innerPid: p.nspid[p.nspid.length - 1] ?? p.hostPid,
    ppid: byHost.get(p.ppid) ?? 0,
    comm: p.comm,
    ns: p.ns,
  })).sort((a, b) => a.pid - b.pid);
  const sandbox = first?.ns ?? {};
  return { processes, sandbox, groups: groupNamespaces(processes, sandbox), more: Math.max(0, sorted.length - limit) };
}
