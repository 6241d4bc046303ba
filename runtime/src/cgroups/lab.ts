// A lab sandbox's cgroup: handed to the sandbox's root (delegation), a leaf for its processes
// so that it may hand controllers down, and where its directories appear inside, so that box
// inside the sandbox makes its containers' cgroups below the sandbox's own. The lesson:
// cgroups-pids-io-devices.mdx; container/run.ts calls these at the points it names.

import path from 'node:path';
import type { Sys } from '../sys/sys.ts';
import { parseMountinfo } from './mounts.ts';
import type { Cgroup } from './types.ts';

/** What a lab sandbox may make below its delegated cgroup (v2): ample for nested box and the lessons. */
const LAB_MAX_CGROUPS = 256;
const LAB_MAX_CGROUP_DEPTH = 8;

/**
 * Hand a lab sandbox's cgroup to its root: it may create child cgroups and move its own
 * processes, but not raise its own limits (those files stay owned by the host's root), and
 * not make more than LAB_MAX_CGROUPS below it.
 */
export function delegate(sys: Sys, cg: Cgroup, uid: number): void {
  for (const dir of cg.paths) {
    sys.chown(dir, uid, uid);
    for (const f of ['cgroup.procs', 'tasks', 'cgroup.subtree_control', 'cgroup.threads']) {
      try {
        sys.chown(path.join(dir, f), uid, uid);
      } catch {
        /* not every hierarchy has every file */
      }
    }
  }
  cg.limitNesting(LAB_MAX_CGROUPS, LAB_MAX_CGROUP_DEPTH); // v2 only: see v1.ts limitNesting
}

/**
 * The lab's leaf: on cgroup v2, the sandbox's processes (box-init's reaper and the sandbox's
 * PID 1, who brings the rest) go to <sandbox>/init, and the sandbox's cgroup hands memory, cpu,
 * pids and io down, so that box inside may make cgroups beside it (BOX_CGROUP_PARENT=/box, set by
 * applyLab). cgroup v1 has no such rule: nothing to do there.
 */
export function moveToLeaf(sys: Sys, cg: Cgroup, pids: number[], uid: number): void {
  if (cg.version !== 2) return;
  const dir = cg.paths[0];
  const leaf = path.join(dir, 'init');
  sys.mkdir(leaf, 0o755);
  for (const pid of pids) sys.writeFile(path.join(leaf, 'cgroup.procs'), String(pid));
  const available = sys.readFile(path.join(dir, 'cgroup.controllers')).split(/\s+/).filter(Boolean);
  // io too where the host has it (v2 only: on v1 blkio is a hierarchy of its own), for the disk lesson.
  const wanted = ['memory', 'cpu', 'pids', 'io'].filter((c) => available.includes(c));
  if (wanted.length) sys.writeFile(path.join(dir, 'cgroup.subtree_control'), wanted.map((c) => `+${c}`).join(' '));
  for (const f of ['', 'cgroup.procs', 'cgroup.threads', 'cgroup.subtree_control']) {
    sys.chown(path.join(leaf, f), uid, uid);
  }
}

/** Where each of the cgroup's directories appears in a lab sandbox: by its hierarchy's mount point name. */
export function labCgroupMounts(sys: Sys, cg: Cgroup): { name: string; host: string }[] {
  if (cg.version === 2) return [{ name: '', host: cg.paths[0] }];
  const mounts = parseMountinfo(sys.readFile('/proc/self/mountinfo')).filter((m) => m.version === 1).map((m) => m.mountpoint);
  return cg.paths.map((p) => {
    const mountPoint = mounts.filter((m) => p.startsWith(m + '/')).sort((a, b) => b.length - a.length)[0];
    return { name: path.basename(mountPoint ?? p), host: p };
  });
}
