// Each user-namespaced container gets a host id range of its own, as rootless runtimes
// allocate subordinate ranges (/etc/subuid). Per-user kernel limits are counted by the uid
// outside: the inotify instances (fs.inotify.max_user_instances), the keys and their quota
// (kernel.keys.maxkeys, and /proc/keys lists the keys a uid may view), RLIMIT_NPROC, user
// namespaces, mqueue bytes. Two sandboxes that shared uid 100000 shared all of these: one
// could exhaust the other's, and read its key descriptions.
//
// Range N is 100000 + N*65536 .. +65535. The table /run/box/userns-ranges.json maps a range to
// the directory of the container that holds it. It is one table for the whole host, whatever
// BOX_ROOT says, as /etc/subuid is: the kernel's limits are per host uid, so two box roots
// (a test's, the lab's) must not hand out the same ids. It is read and written under flock(2)
// on userns-ranges.lock (the kernel drops the lock when a box dies). A range is free again
// once its container's directory is gone: `box rm`, --rm and the reaper (after a SIGKILLed
// box) all remove it, and only after every process of the container is dead.

import fs from 'node:fs';
import path from 'node:path';
import { flock, LOCK_EX } from '../image/native.ts';
import { UserError } from '../sys/errors.ts';
import { mapsEveryId, usernsRange, type IdRange } from './config.ts';
import { containerDir } from './state.ts';

export const FIRST_BASE = 100000;
export const RANGE_SIZE = 65536;
/** 16384 ranges end at 1,073,841,823: below 2^31, which some tools still take as signed. */
export const RANGES = 16384;

/** Where the table lives: one place for the whole host (a test may pass another). */
export const ID_TABLE_DIR = '/run/box';

/**
 * The range for container `id`'s user namespace. On a host (our uid_map maps every id) a
 * range of its own; inside a user namespace (box nested in a lab sandbox) the upper half of
 * the ids we have (config.ts usernsRange), shared by that sandbox's own containers.
 */
export function claimIdRange(id: string, uidMap: string, tableDir = ID_TABLE_DIR): IdRange {
  if (!mapsEveryId(uidMap)) return usernsRange(uidMap);
  return withRangesLocked(tableDir, (held) => {
    for (let n = 0; n < RANGES; n++) {
      const base = FIRST_BASE + n * RANGE_SIZE;
      if (held.has(base)) continue;
      held.set(base, path.resolve(containerDir(id)));
      return { base, size: RANGE_SIZE };
    }
    throw new UserError(`all ${RANGES} user-namespace id ranges are in use; remove stopped containers (box ps -a, box rm)`);
  });
}

/** The ranges held now: base -> the holder's container directory. */
export function heldIdRanges(tableDir = ID_TABLE_DIR): Map<number, string> {
  return withRangesLocked(tableDir, (held) => new Map(held));
}

/** Run `fn` on the table of held ranges (base -> container directory), under the lock; save what it leaves. */
function withRangesLocked<T>(dir: string, fn: (held: Map<number, string>) => T): T {
  const table = path.join(dir, 'userns-ranges.json');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const fd = fs.openSync(path.join(dir, 'userns-ranges.lock'), 'a', 0o600);
  try {
    flock(fd, LOCK_EX);
    const held = new Map<number, string>();
    try {
      for (const [base, dir] of Object.entries(JSON.parse(fs.readFileSync(table, 'utf8')) as Record<string, string>)) {
        // Free once the container's directory is gone: its processes are all dead by then.
        if (typeof dir === 'string' && path.isAbsolute(dir) && fs.existsSync(dir)) held.set(Number(base), dir);
      }
    } catch {
      /* no table yet */
    }
    const result = fn(held);
    const tmp = `${table}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(Object.fromEntries(held), null, 1));
    fs.renameSync(tmp, table);
    return result;
  } finally {
    fs.closeSync(fd);
  }
}
