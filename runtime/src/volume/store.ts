// Volumes on disk, laid out as Docker's local driver lays them out:
//   $BOX_ROOT/volumes/NAME/_data        the bytes a container sees at its mount point
//   $BOX_ROOT/volumes/NAME/volume.json  what box knows: labels, created, anonymous, filled
// A volume is created whole (in a temporary directory, then renamed: rename(2) is atomic),
// and every change is made holding $BOX_ROOT/volumes/.lock, so a `box run` that is about to
// use a volume and a `box volume rm` of it cannot both win.

import fs from 'node:fs';
import path from 'node:path';
import { boxRoot } from '../image/paths.ts';
import { flock, LOCK_EX } from '../image/native.ts';
import { ConflictError, NotFoundError, UserError } from '../sys/errors.ts';

export interface VolumeRecord {
  Name: string;
  Driver: 'local';
  CreatedAt: string;
  Labels: Record<string, string>;
  /** Made by `-v /path` (no name given): removed with its container by --rm and rm -v. */
  Anonymous: boolean;
  /** Mounted once already: an empty volume is filled from the image on its first mount only. */
  Filled: boolean;
}

export const volumesDir = () => path.join(boxRoot(), 'volumes');
export const dataDir = (name: string) => path.join(volumesDir(), name, '_data');
const recordFile = (name: string) => path.join(volumesDir(), name, 'volume.json');

let lockDepth = 0;

/** Run `fn` holding the volumes' lock (flock: the kernel drops it when box exits, however). */
export function withVolumeLock<T>(fn: () => T): T {
  if (lockDepth > 0) {
    lockDepth++;
    try {
      return fn();
    } finally {
      lockDepth--;
    }
  }
  ensureVolumesDir();
  const fd = fs.openSync(path.join(volumesDir(), '.lock'), 'a', 0o600);
  try {
    flock(fd, LOCK_EX);
    lockDepth = 1;
    return fn();
  } finally {
    lockDepth = 0;
    fs.closeSync(fd); // closing releases the lock
  }
}

/**
 * 0700: only root passes. A volume filled from an image may hold setuid programs, and a host
 * user who could reach _data could run them (CVE-2021-41091, Docker's overlay directories).
 * Containers do not need to pass: box binds _data as root before the container starts.
 */
function ensureVolumesDir(): void {
  fs.mkdirSync(volumesDir(), { recursive: true, mode: 0o700 });
  fs.chmodSync(volumesDir(), 0o700);
}

export function getVolume(name: string): VolumeRecord | null {
  try {
    return JSON.parse(fs.readFileSync(recordFile(name), 'utf8')) as VolumeRecord;
  } catch {
    return null;
  }
}

export function requireVolume(name: string): VolumeRecord {
  const v = getVolume(name);
  if (!v) throw new NotFoundError(`no such volume: '${name}'; \`box volume ls\` lists them`);
  return v;
}

export function listVolumes(): VolumeRecord[] {
  let names: string[];
  try {
    names = fs.readdirSync(volumesDir());
  } catch {
    return [];
  }
  return names.filter((n) => !n.startsWith('.')).map(getVolume).filter((v): v is VolumeRecord => v !== null)
    .sort((a, b) => a.Name.localeCompare(b.Name));
}

/** Create a volume, or return the one of that name (as `docker volume create` does). */
export function createVolume(name: string, opts: { labels?: Record<string, string>; anonymous?: boolean } = {}): VolumeRecord {
  return withVolumeLock(() => {
    const have = getVolume(name);
    if (have) return have;
    const record: VolumeRecord = {
      Name: name, Driver: 'local', CreatedAt: new Date().toISOString(), Labels: opts.labels ?? {},
      Anonymous: !!opts.anonymous, Filled: false,
    };
    const tmp = path.join(volumesDir(), `.new-${name}-${process.pid}`);
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(path.join(tmp, '_data'), { recursive: true, mode: 0o755 });
    fs.chmodSync(tmp, 0o700);
    fs.writeFileSync(path.join(tmp, 'volume.json'), JSON.stringify(record, null, 2));
    fs.rmSync(path.join(volumesDir(), name), { recursive: true, force: true }); // a directory without its record
    fs.renameSync(tmp, path.join(volumesDir(), name));
    return record;
  });
}

export function markFilled(name: string): void {
  const v = requireVolume(name);
  const file = recordFile(name);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify({ ...v, Filled: true }, null, 2));
  fs.renameSync(`${file}.tmp`, file);
}

/**
 * Remove a volume no container uses. `usedBy` names the containers (running or stopped)
 * whose mounts include it: Docker refuses those too, since a stopped container may start again.
 */
export function removeVolume(name: string, usedBy: (name: string) => string[]): void {
  withVolumeLock(() => {
    requireVolume(name);
    const users = usedBy(name);
    if (users.length) {
      throw new ConflictError(`volume '${name}' is in use by container${users.length > 1 ? 's' : ''} ${users.join(', ')}; remove ${users.length > 1 ? 'them' : 'it'} first (box rm ${users.join(' ')})`);
    }
    // Rename first: a half-removed volume never looks like a whole one.
    const gone = path.join(volumesDir(), `.rm-${name}-${process.pid}`);
    fs.renameSync(path.join(volumesDir(), name), gone);
    fs.rmSync(gone, { recursive: true, force: true });
  });
}

/** A random name for an anonymous volume: 64 hex digits, as Docker's. */
export { randomHexId as anonymousName } from '../sys/random.ts';

/** `box volume inspect`: Docker's fields. */
export function volumeView(v: VolumeRecord): Record<string, unknown> {
  return {
    CreatedAt: v.CreatedAt,
    Driver: v.Driver,
    Labels: v.Labels,
    Mountpoint: dataDir(v.Name),
    Name: v.Name,
    Options: {},
    Scope: 'local',
  };
}

/** Bytes used under a directory (du's apparent size), for `prune`'s total. */
export function diskUsage(dir: string): number {
  let total = 0;
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += fs.lstatSync(p).size;
    }
  };
  walk(dir);
  return total;
}
