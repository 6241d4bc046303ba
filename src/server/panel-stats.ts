// The kernel panel's "Resources" tab, server side: memory and CPU of a sandbox and of every
// cgroup made inside it (the containers its reader starts), read from the cgroup files a few
// times a second. Nothing here writes: these are the counters the kernel keeps anyway.
//
//   what              cgroup v2                         cgroup v1
//   memory in use     memory.current                    memory.usage_in_bytes
//   memory limit      memory.max ("max": none)          memory.limit_in_bytes (~2^63: none)
//   highest so far    memory.peak                       memory.max_usage_in_bytes
//   OOM kills         memory.events oom_kill            memory.oom_control oom_kill
//   CPU time used     cpu.stat usage_usec               cpuacct.usage (ns)
//   CPU quota         cpu.max "50000 100000"            cpu.cfs_quota_us (-1: none) / cpu.cfs_period_us
//   throttled         cpu.stat nr_throttled             cpu.stat nr_throttled
//   processes         pids.current / pids.max           pids.current / pids.max
//
// Usage is hierarchical on both versions: the sandbox's numbers include its containers'.

import fs from 'node:fs';
import path from 'node:path';
import { detectCgroups } from '../../runtime/src/cgroups/index.ts';
import { readKeyed, readNumber, readText, readPids } from '../../runtime/src/cgroups/files.ts';
import { dirOf, mountsUnder, parseMountinfo, parseProcCgroup } from '../../runtime/src/cgroups/mounts.ts';
import { realSys } from '../../runtime/src/sys/sys.ts';
import { Trace } from '../../runtime/src/sys/trace.ts';
import { readHead } from './panel-ns.ts';

/** The controllers the plots read. */
export type Controller = 'memory' | 'cpu' | 'cpuacct' | 'pids';
const CONTROLLERS: Controller[] = ['memory', 'cpu', 'cpuacct', 'pids'];

/** Where a sandbox's cgroup is: one directory (v2), or one per hierarchy (v1). */
export interface CgroupLayout {
  version: 1 | 2;
  /** The sandbox's directory for each controller (on v2 the same directory for all). */
  dirs: Partial<Record<Controller, string>>;
}

/** One cgroup's counters, as the files say (null: the file is not there, or "no limit"). */
export interface CgroupReading {
  memory: number | null;
  memoryMax: number | null;
  memoryPeak: number | null;
  oomKills: number | null;
  cpuUsec: number | null;
  /** The quota in CPUs (quota / period), null when unlimited. */
  cpuMax: number | null;
  nrPeriods: number | null;
  nrThrottled: number | null;
  pids: number | null;
  pidsMax: number | null;
}

/** What one cgroup looks like on the wire (a `stats` frame's `groups`). */
export interface GroupStats {
  /** The cgroup's path below the sandbox's: "" for the sandbox itself, "box/box-1a2b3c4d5e6f" for a container. */
  id: string;
  /** The command line of its first process (cut to 80 characters), "" when empty. */
  cmd: string;
  mem: number | null;
  memMax: number | null;
  memPeak: number | null;
  oom: number | null;
  /** CPUs used since the previous sample (1 = one CPU busy all the time). */
  cpu: number | null;
  cpuMax: number | null;
  throttled: number | null;
  periods: number | null;
  pids: number | null;
  pidsMax: number | null;
}

/** The limits of a cgroup: they change only when someone writes them, so they are read less often. */
export type CgroupLimits = Pick<CgroupReading, 'memoryMax' | 'cpuMax' | 'pidsMax'>;
/** The counters that move all the time. */
export type CgroupUsage = Omit<CgroupReading, keyof CgroupLimits>;

function reader(layout: CgroupLayout, rel: string) {
  const at = (c: Controller, file: string): string | null => {
    const dir = layout.dirs[c];
    return dir === undefined ? null : path.join(dir, rel, file);
  };
  return {
    at,
    n: (c: Controller, file: string) => { const p = at(c, file); return p === null ? null : safe(() => readNumber(p)); },
    k: (c: Controller, file: string) => { const p = at(c, file); return p === null ? null : safe(() => readKeyed(p)); },
  };
}

/** Read a cgroup's moving counters under `rel` (a path below the sandbox's cgroup, "" for itself). */
export function readUsage(layout: CgroupLayout, rel: string): CgroupUsage {
  const { n, k } = reader(layout, rel);
  const cpu = k('cpu', 'cpu.stat');
  if (layout.version === 2) {
    return {
      memory: n('memory', 'memory.current'),
      memoryPeak: n('memory', 'memory.peak'),
      oomKills: k('memory', 'memory.events')?.get('oom_kill') ?? null,
      cpuUsec: cpu?.get('usage_usec') ?? null,
      nrPeriods: cpu?.get('nr_periods') ?? null,
      nrThrottled: cpu?.get('nr_throttled') ?? null,
      pids: n('pids', 'pids.current'),
    };
  }
  const usageNs = n('cpuacct', 'cpuacct.usage');
  return {
    memory: n('memory', 'memory.usage_in_bytes'),
    memoryPeak: n('memory', 'memory.max_usage_in_bytes'),
    oomKills: k('memory', 'memory.oom_control')?.get('oom_kill') ?? null,
    cpuUsec: usageNs === null ? null : Math.round(usageNs / 1000),
    nrPeriods: cpu?.get('nr_periods') ?? null,
    nrThrottled: cpu?.get('nr_throttled') ?? null,
    pids: n('pids', 'pids.current'),
  };
}

/** Read a cgroup's limits under `rel`. */
export function readLimits(layout: CgroupLayout, rel: string): CgroupLimits {
  const { at, n } = reader(layout, rel);
  if (layout.version === 2) {
    return { memoryMax: n('memory', 'memory.max'), cpuMax: cpuMaxV2(at('cpu', 'cpu.max')), pidsMax: n('pids', 'pids.max') };
  }
  const quota = n('cpu', 'cpu.cfs_quota_us');
  const period = n('cpu', 'cpu.cfs_period_us');
  return {
    memoryMax: n('memory', 'memory.limit_in_bytes'),
    // v1 says "no quota" with -1.
    cpuMax: quota !== null && quota > 0 && period ? quota / period : null,
    pidsMax: n('pids', 'pids.max'),
  };
}

/** Everything about a cgroup under `rel`. */
export function readCgroup(layout: CgroupLayout, rel: string): CgroupReading {
  return { ...readUsage(layout, rel), ...readLimits(layout, rel) };
}

/** cpu.max reads "<quota> <period>" in µs, or "max <period>" for no quota. */
export function cpuMaxV2(file: string | null): number | null {
  if (file === null) return null;
  const text = safe(() => readText(file));
  const m = text ? /^(\d+)\s+(\d+)/.exec(text.trim()) : null;
  return m && Number(m[2]) > 0 ? Number(m[1]) / Number(m[2]) : null;
}

/** A read of a cgroup that vanished meanwhile (ENODEV, ENOENT...) is "not there", not an error. */
function safe<T>(read: () => T): T | null {
  try { return read(); } catch { return null; }
}

const MAX_DEPTH = 6;
const MAX_GROUPS = 24;

/**
 * How much of a sandbox's cgroup tree one sample may look at. A reader can make tens of
 * thousands of empty cgroups (mkdir is all it takes); reading them all, synchronously, every
 * sample froze the server for everyone (issue 12). So each walk reads at most `entries`
 * directory entries, asynchronously (the event loop serves others meanwhile), and says
 * when it stopped short: the panel then tells the reader it shows only part of the tree.
 */
export const WALK_LIMITS = { entries: 512 } as const;

/** A walk's budget: entries it may still read, and whether it ran out. */
export class WalkBudget {
  left: number;
  capped = false;
  constructor(entries: number = WALK_LIMITS.entries) { this.left = entries; }
  /** Take one entry; false (and capped) when none is left. */
  take(): boolean {
    if (this.left <= 0) { this.capped = true; return false; }
    this.left--;
    return true;
  }
}

/**
 * The subdirectories of `dir`, reading at most what `budget` allows (opendir hands entries
 * over in small batches; we stop when the budget does, however many there are). Sorted.
 */
export async function subdirectories(dir: string, budget: WalkBudget): Promise<string[]> {
  const names: string[] = [];
  if (!budget.take()) return names; // opening a directory counts too
  let handle: fs.Dir;
  try {
    handle = await fs.promises.opendir(dir, { bufferSize: 64 });
  } catch {
    return names; // removed meanwhile
  }
  try {
    for await (const e of handle) { // breaking out closes the handle
      if (!budget.take()) break;
      if (e.isDirectory()) names.push(e.name);
    }
  } catch { /* removed while we read it */ }
  return names.sort();
}

/** The result of a walk: what was found, and whether the budget stopped it before the end. */
export interface Walked<T> { found: T; capped: boolean }

/**
 * The cgroups made inside the sandbox, as paths below its own: the leaves of its subtree in
 * any of the plotted hierarchies (a reader may make a cgroup in one v1 hierarchy only).
 * The levels between (box's own `box` directory) hold no processes and are left out.
 */
export async function childCgroups(layout: CgroupLayout, budget = new WalkBudget()): Promise<Walked<string[]>> {
  const found = new Set<string>();
  const dirs = new Set(Object.values(layout.dirs));
  for (const top of dirs) {
    const walk = async (rel: string, depth: number): Promise<void> => {
      if (found.size >= MAX_GROUPS || budget.left <= 0) return;
      const children = depth >= MAX_DEPTH ? [] : await subdirectories(path.join(top, rel), budget);
      if (children.length === 0) {
        if (rel !== '') found.add(rel);
        return;
      }
      for (const c of children) await walk(rel ? `${rel}/${c}` : c, depth + 1);
    };
    await walk('', 0);
  }
  return { found: [...found].sort(), capped: budget.capped };
}

/** The processes of the sandbox's cgroup and every cgroup below it (host pids), within `budget`. */
export async function cgroupProcesses(layout: CgroupLayout, limit = 512, budget = new WalkBudget()): Promise<Walked<number[]>> {
  // Every process of the sandbox is in its subtree in every hierarchy: one hierarchy is enough.
  const top = layout.dirs.pids ?? layout.dirs.memory ?? Object.values(layout.dirs)[0];
  if (!top) return { found: [], capped: false };
  const pids: number[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (pids.length >= limit || !budget.take()) return;
    const text = await fs.promises.readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      const pid = Number(line);
      if (line !== '' && Number.isInteger(pid) && pid > 0 && pids.length < limit) pids.push(pid);
    }
    if (depth >= MAX_DEPTH) return;
    for (const c of await subdirectories(dir, budget)) await walk(path.join(dir, c), depth + 1);
  };
  await walk(top, 0);
  return { found: pids, capped: budget.capped };
}

/** The command line of `pid`, spaces between arguments, cut to `max` characters. */
export function commandOf(pid: number, max = 80): string {
  const raw = safe(() => readHead(`/proc/${pid}/cmdline`));
  if (!raw || raw.length === 0) return '';
  const text = raw.toString('utf8').replace(/\0+$/, '').replace(/\0/g, ' ').replace(/[\x00-\x1f\x7f]/g, '?');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * Samples a sandbox's cgroups: the counters of each, and CPU use as a rate between two
 * samples. What changes rarely is looked at less often: which cgroups exist every second
 * sample, limits and commands every `slowEvery` samples (and at once for a new cgroup).
 */
export class CgroupSampler {
  readonly layout: CgroupLayout;
  readonly slowEvery: number;
  readonly #now: () => number;
  readonly #prev = new Map<string, { at: number; usec: number }>();
  readonly #slow = new Map<string, { limits: CgroupLimits; cmd: string }>();
  /** OOM kills box noted in its trace for a cgroup it was about to remove (see noteOomKills). */
  readonly #oomNotes = new Map<string, number>();
  #last = new Map<string, GroupStats>();
  #ids: string[] = [];
  #count = 0;
  /** The last look at the tree stopped at WALK_LIMITS: there are cgroups the panel does not show. */
  capped = false;

  constructor(layout: CgroupLayout, now: () => number = () => performance.now(), slowEvery = 4) {
    this.layout = layout;
    this.#now = now;
    this.slowEvery = slowEvery;
  }

  async sample(): Promise<GroupStats[]> {
    const n = this.#count++;
    if (n % 2 === 0) {
      const walked = await childCgroups(this.layout);
      this.#ids = ['', ...walked.found];
      this.capped = walked.capped;
    }
    // Below, at most MAX_GROUPS + 1 cgroups, a few small files each: read at once.
    const now = this.#now();
    const refresh = n % this.slowEvery === 0;
    const out: GroupStats[] = [];
    const live = new Set<string>();
    for (const id of this.#ids) {
      const r = readUsage(this.layout, id);
      if (r.memory === null && r.cpuUsec === null && r.pids === null) continue; // gone meanwhile
      live.add(id);
      const prev = this.#prev.get(id);
      let cpu: number | null = null;
      if (r.cpuUsec !== null) {
        if (prev && now > prev.at && r.cpuUsec >= prev.usec) cpu = Math.round(((r.cpuUsec - prev.usec) / ((now - prev.at) * 1000)) * 1000) / 1000;
        this.#prev.set(id, { at: now, usec: r.cpuUsec });
      }
      let slow = this.#slow.get(id);
      // A container's first process is box-init for a moment, until it execs the command.
      if (!slow || refresh || (id !== '' && (slow.cmd === '' || slow.cmd.includes('box-init')))) {
        slow = { limits: readLimits(this.layout, id), cmd: id === '' ? '' : this.#firstCommand(id) };
        this.#slow.set(id, slow);
      }
      out.push({
        id, cmd: slow.cmd,
        mem: r.memory, memMax: slow.limits.memoryMax, memPeak: r.memoryPeak, oom: r.oomKills,
        cpu, cpuMax: slow.limits.cpuMax, throttled: r.nrThrottled, periods: r.nrPeriods,
        pids: r.pids, pidsMax: slow.limits.pidsMax,
      });
    }
    // A container killed by the OOM killer is gone within milliseconds (box removes its cgroup),
    // usually between two samples, with the counter that said why. box notes the kills in its
    // trace before it removes the cgroup; a cgroup that vanished with such a note is reported
    // once more, with the count, so the page can say "killed by the OOM killer".
    const current = new Map(out.map((g) => [g.id, g]));
    for (const [id, g] of this.#last) {
      const kills = this.#oomNotes.get(id);
      if (!live.has(id) && kills) out.push({ ...g, cpu: null, oom: Math.max(g.oom ?? 0, kills) });
    }
    for (const id of [...this.#oomNotes.keys()]) if (!live.has(id)) this.#oomNotes.delete(id);
    this.#last = current;
    // Forget cgroups that are gone: one that comes back under the same name starts afresh.
    for (const id of [...this.#prev.keys()]) if (!live.has(id)) this.#prev.delete(id);
    for (const id of [...this.#slow.keys()]) if (!live.has(id)) this.#slow.delete(id);
    this.#ids = this.#ids.filter((id) => live.has(id));
    return out;
  }

  /** box noted that the OOM killer killed `kills` processes in cgroup `id` (a path below the sandbox's). */
  noteOomKills(id: string, kills: number): void {
    if (this.#last.has(id)) this.#oomNotes.set(id, kills);
  }

  #firstCommand(id: string): string {
    for (const dir of new Set(Object.values(this.layout.dirs))) {
      const pids = safe(() => readPids(path.join(dir, id, 'cgroup.procs'))) ?? [];
      if (pids.length) return commandOf(Math.min(...pids));
    }
    return '';
  }
}

/**
 * The cgroup an OOM note of box's trace is about, as a path below the sandbox's cgroup, with
 * the count: `oom_kill 1 in /sys/fs/cgroup/memory/box/box-5d58dc480169` (v1, in the sandbox's
 * view) or `... in /sys/fs/cgroup/box/box-...` (v2) is ["box/box-5d58dc480169", 1]. The text
 * comes from the sandbox: anything that is not exactly such a note is null.
 */
export function parseOomNote(text: string): [string, number] | null {
  const m = /^oom_kill (\d{1,9}) in \/sys\/fs\/cgroup\/(?:memory\/)?([A-Za-z0-9_.@:-]+(?:\/[A-Za-z0-9_.@:-]+){0,7})$/.exec(text);
  return m && !m[2].split('/').includes('..') ? [m[2], Number(m[1])] : null;
}

/**
 * The layout of the cgroups a sandbox's first process `pid` is in, from /proc/PID/cgroup: right
 * whoever made the sandbox (this server's box, or a `box engine` whose cgroup is elsewhere: a
 * cgroup is found from its process, not from where we would have put it). Null when the
 * process is gone or sits in the root cgroup (a host shell).
 */
export function cgroupLayoutOfPid(pid: number, proc = '/proc', mountinfo = '/proc/self/mountinfo'): CgroupLayout | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(proc, String(pid), 'cgroup'), 'utf8');
  } catch {
    return null;
  }
  const paths = parseProcCgroup(text);
  const mounts = mountsUnder(parseMountinfo(fs.readFileSync(mountinfo, 'utf8')), '/sys/fs/cgroup');
  const v2 = mounts.find((m) => m.version === 2);
  const v1 = mounts.filter((m) => m.version === 1);
  if (v1.length === 0 && v2 && paths.has('')) {
    const dir = paths.get('') === '/' ? null : dirOf(v2, paths.get('')!);
    return dir ? { version: 2, dirs: { memory: dir, cpu: dir, cpuacct: dir, pids: dir } } : null;
  }
  const dirs: Partial<Record<Controller, string>> = {};
  for (const c of CONTROLLERS) {
    const mount = v1.find((m) => m.controllers.includes(c));
    const cg = paths.get(c);
    const dir = mount && cg && cg !== '/' ? dirOf(mount, cg) : null;
    if (dir) dirs[c] = dir;
  }
  return Object.keys(dirs).length ? { version: 1, dirs } : null;
}

/**
 * The layout of the box cgroup named `name` (a sandbox's, from `box inspect`), found the way
 * box finds it: the same detection, from this process, which box's own cgroup is a child of.
 */
export function sandboxCgroupLayout(name: string, mountinfo = '/proc/self/mountinfo'): CgroupLayout | null {
  const driver = detectCgroups(realSys(new Trace()));
  const cg = driver.open(name);
  if (!cg) return null;
  if (cg.version === 2) {
    const dir = cg.paths[0]!;
    return { version: 2, dirs: { memory: dir, cpu: dir, cpuacct: dir, pids: dir } };
  }
  // v1: which hierarchy each directory is in, by the mount it lies under.
  const mounts = mountsUnder(parseMountinfo(fs.readFileSync(mountinfo, 'utf8')), '/sys/fs/cgroup').filter((m) => m.version === 1);
  const dirs: Partial<Record<Controller, string>> = {};
  for (const dir of cg.paths) {
    const mount = mounts.find((m) => dir.startsWith(m.mountpoint + '/'));
    for (const c of mount?.controllers ?? []) if ((CONTROLLERS as string[]).includes(c)) dirs[c as Controller] = dir;
  }
  return { version: 1, dirs };
}
