// The state directory: one folder per container under $BOX_ROOT/containers/<id>, holding
// state.json, the overlay's upper and work directories, the mount point and the log.
// Names are symlinks in $BOX_ROOT/names: creating one is atomic, so two `box run --name x`
// at once cannot both win.

import fs from 'node:fs';
import path from 'node:path';
import { ConflictError, NotFoundError, UserError } from '../sys/errors.ts';
import { kernelRandomBytes, randomHexId } from '../sys/random.ts';
import { boxRoot } from '../image/paths.ts';
import type { NetState } from '../net/endpoint.ts';
import type { MountRecord } from '../volume/spec.ts';
import type { Health } from './health.ts';

/** 'restarting': exited, and the engine starts it again after the back-off (container/restart.ts). */
export type Status = 'created' | 'running' | 'restarting' | 'exited';

export interface ContainerState {
  id: string;
  name: string;
  image: string;
  imageId: string;
  command: string[];
  created: string;
  status: Status;
  /** Host PID of the container's first process (the user's command, PID 1 inside). */
  pid: number | null;
  /** The box process that watches the container, and its start time (guards against PID reuse). */
  monitorPid: number;
  monitorStart: string;
  exitCode: number | null;
  oomKilled: boolean;
  finished: string | null;
  autoRemove: boolean;
  cgroup: string | null;
  /** --cgroup-parent: the directory below box's cgroup directory that holds `cgroup` (container/cgroup.ts). */
  cgroupParent?: string;
  /** A user-namespaced container's host ids: root inside is `base` outside (container/id-ranges.ts). */
  idRange?: { base: number; size: number };
  /** /proc/PID/ns links of the container, e.g. { pid: "pid:[4026532283]" }. */
  namespaces: Record<string, string>;
  /** When its command last started (a restart or `box start` starts it again). */
  started?: string;
  /** Frozen by `box pause` / docker pause (container/pause.ts); counts only while it runs. */
  paused?: boolean;
  /** Restarts by its policy since `box run` or the last `box start`. */
  restartCount?: number;
  /** With a health check: the engine's last probes (container/health.ts). */
  health?: Health;
  /** Everything `box exec` and `box inspect` need to know about how it was run. */
  config: Record<string, unknown>;
  /** Its networks, addresses, veths and published ports (net/endpoint.ts), to undo them. */
  network?: NetState;
  /** Its binds, volumes and tmpfs mounts, as `box inspect` shows them (Docker's Mounts). */
  mounts?: MountRecord[];
}

export { boxRoot };

export const containersDir = () => path.join(boxRoot(), 'containers');
const namesDir = () => path.join(boxRoot(), 'names');
export const containerDir = (id: string) => path.join(containersDir(), id);
const stateFile = (id: string) => path.join(containerDir(id), 'state.json');

export const newId = randomHexId;

const ADJECTIVES = ['brave', 'calm', 'eager', 'fond', 'keen', 'lucid', 'merry', 'nimble', 'quiet', 'swift', 'tidy', 'witty'];
const NAMES = ['babbage', 'cerf', 'dijkstra', 'hopper', 'kernighan', 'knuth', 'lamport', 'liskov', 'lovelace', 'ritchie', 'thompson', 'torvalds'];
function randomName(): string {
  const [x, y] = kernelRandomBytes(2);
  const pick = (a: string[], r: number) => a[r % a.length];
  return `${pick(ADJECTIVES, x)}_${pick(NAMES, y)}`;
}

/**
 * A generated name nobody has: 144 adjective_scientist pairs collide often enough between
 * containers started together, so try a few, then add a few hex digits of the id.
 */
export function claimRandomName(id: string): string {
  for (let attempt = 0; attempt < 8; attempt++) {
    const name = attempt < 6 ? randomName() : `${randomName()}_${id.slice(0, 6)}`;
    try {
      claimName(name, id);
      return name;
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
    }
  }
  const name = `box_${id.slice(0, 12)}`;
  claimName(name, id);
  return name;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/** Reserve a name for a container id; fails if another container has it. */
export function claimName(name: string, id: string): void {
  if (!NAME_RE.test(name)) {
    throw new UserError(`--name '${name}': use letters, digits, '_', '.' and '-' (up to 63), starting with a letter or digit`);
  }
  fs.mkdirSync(namesDir(), { recursive: true });
  try {
    fs.symlinkSync(id, path.join(namesDir(), name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ConflictError(`the name '${name}' is already in use; remove that container (box rm ${name}) or pick another`);
    }
    throw err;
  }
}

/** Does a container (of any status) have this name? */
export function nameClaimed(name: string): boolean {
  try {
    fs.lstatSync(path.join(namesDir(), name)); // a symlink to the container's id
    return true;
  } catch {
    return false;
  }
}

export function releaseName(name: string, id: string): void {
  const link = path.join(namesDir(), name);
  try {
    if (fs.readlinkSync(link) === id) fs.unlinkSync(link);
  } catch {
    /* already gone */
  }
}

/** Remove names whose container directory is gone (a box killed between the two). */
export function pruneNames(): void {
  let names: string[];
  try {
    names = fs.readdirSync(namesDir());
  } catch {
    return;
  }
  for (const name of names) {
    const link = path.join(namesDir(), name);
    try {
      const id = fs.readlinkSync(link);
      if (!fs.existsSync(containerDir(id))) {
        // Give a box that has just claimed the name time to make the directory.
        if (Date.now() - fs.lstatSync(link).mtimeMs > 10_000) fs.unlinkSync(link);
      }
    } catch {
      /* raced with another box */
    }
  }
}

export function writeState(s: ContainerState): void {
  const file = stateFile(s.id);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(s, null, 2));
  fs.renameSync(tmp, file); // atomic: a reader never sees half a file
}

export function readState(id: string): ContainerState | null {
  try {
    return JSON.parse(fs.readFileSync(stateFile(id), 'utf8')) as ContainerState;
  } catch {
    return null;
  }
}

export function updateState(id: string, change: Partial<ContainerState>): ContainerState | null {
  const s = readState(id);
  if (!s) return null;
  Object.assign(s, change);
  writeState(s);
  return s;
}

export function listIds(): string[] {
  try {
    return fs.readdirSync(containersDir()).filter((d) => /^[0-9a-f]{64}$/.test(d));
  } catch {
    return [];
  }
}

/** Find a container by name, full id or unique id prefix. */
export function lookup(ref: string): ContainerState {
  try {
    const id = fs.readlinkSync(path.join(namesDir(), ref));
    const s = readState(id);
    if (s) return s;
  } catch {
    /* not a name */
  }
  if (/^[0-9a-f]{3,64}$/.test(ref)) {
    const hits = listIds().filter((id) => id.startsWith(ref));
    if (hits.length === 1) {
      const s = readState(hits[0]);
      if (s) return s;
    }
    if (hits.length > 1) throw new UserError(`'${ref}' matches ${hits.length} containers; give more of the id`);
  }
  throw new NotFoundError(`no such container: '${ref}'; \`box ps -a\` lists them`);
}

/** The containers (running or stopped) whose mounts include this volume: it may not be removed. */
export function containersUsingVolume(volume: string): string[] {
  return listIds().map(readState).filter((s) => s?.mounts?.some((m) => m.Type === 'volume' && m.Name === volume))
    .map((s) => s!.name);
}

/** /proc/PID/stat field 22: when the process started, in clock ticks since boot. */
export function processStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return null; // dead, not yet reaped: not alive
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** Is the box process that watches this container still alive (and the same process)? */
export function monitorAlive(s: ContainerState): boolean {
  return processStart(s.monitorPid) === s.monitorStart;
}
