// Which cgroup version to drive, decided from what the kernel has mounted. Three layouts
// exist in the wild: unified (v2 only, most distributions today), legacy (v1 only) and
// hybrid (v1 controllers, plus an empty v2 at /sys/fs/cgroup/unified for systemd; this is
// the lab host's). box drives whichever version holds the controllers it needs.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import type { Sys } from '../sys/sys.ts';
import { readWords } from './files.ts';
import { dirOf, mountsUnder, parseMountinfo, parseProcCgroup, type CgroupMount } from './mounts.ts';
import type { CgroupDriver } from './types.ts';
import { v1Driver, V1_CONTROLLERS, type V1Hierarchy } from './v1.ts';
import { v2Driver, V2_CONTROLLERS, type V2Layout } from './v2.ts';

export interface DetectOptions {
  /** Where the cgroup filesystems are mounted (default /sys/fs/cgroup). */
  root?: string;
  /** The text of /proc/self/cgroup (default: read it): which cgroup we are in. */
  procSelfCgroup?: string;
  /** The text of /proc/self/mountinfo (default: read it): what is mounted where. */
  mountinfo?: string;
  /** Use this version instead of detecting (tests, and for trying v2 on a hybrid host). */
  version?: 1 | 2;
  /**
   * The cgroup path under which box's cgroups live, e.g. "/box". Default: a `box` child of
   * our own cgroup. The BOX_CGROUP_PARENT environment variable sets it too.
   */
  parent?: string;
  /**
   * A path below box's parent, e.g. `cluster-3fa2c1/node-1` (a cluster node's cgroup): box's
   * cgroups go there, and its directories stay when their last cgroup goes (they carry the
   * node's own limits, and the node removes them). Docker's --cgroup-parent, relative.
   */
  sub?: string;
}

/** The name of the directory that holds box's cgroups under our own. */
export const BOX_DIR = 'box';

/** Pick the cgroup driver for this machine (see the layouts above). */
export function detectCgroups(sys: Sys, opts: DetectOptions = {}): CgroupDriver {
  const top = opts.root ?? '/sys/fs/cgroup';
  const mounts = mountsUnder(parseMountinfo(opts.mountinfo ?? fs.readFileSync('/proc/self/mountinfo', 'utf8')), top);
  const mine = parseProcCgroup(opts.procSelfCgroup ?? fs.readFileSync('/proc/self/cgroup', 'utf8'));
  const parentPath = opts.parent ?? process.env.BOX_CGROUP_PARENT;
  if (parentPath !== undefined && !/^\/[A-Za-z0-9_.\-/]*$/.test(parentPath)) {
    throw new UserError(`BOX_CGROUP_PARENT: '${parentPath}' is not an absolute cgroup path; use e.g. /box`);
  }

  if (opts.sub !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]*(\/[A-Za-z0-9][A-Za-z0-9_.-]*)*$/.test(opts.sub)) {
    throw new UserError(`--cgroup-parent: '${opts.sub}' is not a relative cgroup path; use e.g. cluster/node-1`);
  }
  const v2 = below(v2Layout(mounts, mine, parentPath), opts.sub);
  const v1 = v1Layout(mounts, mine, parentPath).map((h) => below(h, opts.sub)!);
  // How many of the controllers box needs each version would give it.
  const v2Count = v2 ? readWords(path.join(v2.owner, 'cgroup.controllers')).filter((c) => V2_CONTROLLERS.includes(c)).length : -1;
  const v1Count = v1.filter((h) => h.controllers.some((c) => V2_CONTROLLERS.includes(c))).length;

  const version = opts.version ?? (v2 && v2Count >= v1Count ? 2 : v1.length > 0 ? 1 : v2 ? 2 : null);
  if (version === 2) {
    if (!v2) throw new UserError(`cgroup v2 is not mounted under ${top}; mount it with 'mount -t cgroup2 none ${top}'`);
    return v2Driver(sys, v2);
  }
  if (version === 1 && v1.length > 0) return v1Driver(sys, v1);
  if (version === 1) throw new UserError(`no cgroup v1 controller is mounted under ${top} (box needs memory, cpu, pids)`);
  throw new UserError(`no cgroup filesystem is mounted under ${top}; mount one with 'mount -t cgroup2 none ${top}'`);
}

/**
 * Box's parent directory for a hierarchy: `<our cgroup>/box`, or the configured path. A
 * configured path is made level by level from the hierarchy's root (an OCI config's may be
 * several levels deep, /box-oci/testdir/cgrouptest), and its empty levels go with the last cgroup.
 */
function parentDir(mount: CgroupMount, ownPath: string, parentPath: string | undefined): { owner: string; parent: string } | null {
  if (parentPath === undefined) {
    const owner = dirOf(mount, ownPath);
    return owner === null ? null : { owner, parent: path.join(owner, BOX_DIR) };
  }
  const owner = dirOf(mount, '/') ?? dirOf(mount, path.dirname(parentPath));
  const parent = dirOf(mount, parentPath);
  return owner === null || parent === null ? null : { owner, parent };
}

/** The layout with its parent moved down to `sub`, kept when empty (see DetectOptions.sub). */
function below<T extends { parent: string }>(layout: T | null, sub: string | undefined): T | null {
  return layout && sub !== undefined ? { ...layout, parent: path.join(layout.parent, sub), keepParent: true } : layout;
}

function v2Layout(mounts: CgroupMount[], mine: Map<string, string>, parentPath: string | undefined): V2Layout | null {
  const mount = mounts.find((m) => m.version === 2);
  if (!mount) return null;
  const dirs = parentDir(mount, mine.get('') ?? '/', parentPath);
  return dirs && { mountpoint: mount.mountpoint, ...dirs };
}

function v1Layout(mounts: CgroupMount[], mine: Map<string, string>, parentPath: string | undefined): V1Hierarchy[] {
  const hierarchies: V1Hierarchy[] = [];
  for (const mount of mounts) {
    if (mount.version !== 1 || !mount.controllers.some((c) => V1_CONTROLLERS.includes(c))) continue;
    const ownPath = mine.get(mount.controllers[0]!);
    if (ownPath === undefined) continue;
    const dirs = parentDir(mount, ownPath, parentPath);
    if (dirs) hierarchies.push({ controllers: mount.controllers, mountpoint: mount.mountpoint, ...dirs });
  }
  return hierarchies;
}
