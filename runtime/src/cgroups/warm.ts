// The first write to a cgroup.procs file in a while waits for an RCU grace period: the
// kernel switches cgroup_threadgroup_rwsem into writer mode (5 to 14 ms on this v1 host), and
// writes in the next ~10 ms are quick. Writing our own pid into the cgroup we are already in
// moves nothing but pays that wait, so box pays it first thing, on a libuv thread, while it
// resolves the image, builds the plan and spawns box-init: the container's own join is then
// fast. An optimisation only: if it fails, the real write still works.

import fs from 'node:fs';
import { dirOf, parseMountinfo, parseProcCgroup } from './mounts.ts';

export function warmCgroupMigration(): void {
  try {
    const mine = parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8'));
    for (const mount of parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'))) {
      const key = mount.version === 2 ? '' : mount.controllers[0];
      const own = mine.get(key);
      const dir = own === undefined ? null : dirOf(mount, own);
      if (!dir) continue;
      fs.promises.writeFile(`${dir}/cgroup.procs`, String(process.pid)).catch(() => {});
      return;
    }
  } catch {
    /* no cgroups here: nothing to warm */
  }
}
