// Entering a running OCI container's namespaces from outside (box exec, and hooks that run
// inside the container): box-init joins them with setns(2) through /proc/PID/ns of a process
// in the container, as container/exec.ts does for box's own containers.

import fs from 'node:fs';
import type { Plan } from '../init/plan.ts';
import { NAMESPACES, type NamespaceName } from '../sys/constants.ts';

// The user namespace first: joining it gives the capabilities over the namespaces it owns.
// mnt last, so the others are still found through the host's /proc.
const JOIN_ORDER: NamespaceName[] = ['user', 'ipc', 'uts', 'net', 'cgroup', 'pid', 'mnt'];

const link = (pid: number | 'self', ns: string) => {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${ns}`);
  } catch {
    return null;
  }
};

/** Join every namespace of `pid` that is not ours. Returns whether its PID namespace is another (then fork). */
export function joinNamespaces(plan: Plan, pid: number): boolean {
  for (const ns of JOIN_ORDER) {
    const theirs = link(pid, ns);
    if (!theirs || theirs === link('self', ns)) continue;
    plan.setns(`/proc/${pid}/ns/${ns}`, NAMESPACES[ns]);
    // We keep our ids (host root) after joining; become the namespace's root, which maps to
    // an unprivileged id outside: host root must not act on the container's behalf.
    // setgroups(2) only where the namespace allows it (`unshare --map-root-user` writes "deny").
    if (ns === 'user') {
      if (setgroupsAllowed(pid)) plan.setgroups([]);
      plan.setresgid(0).setresuid(0);
    }
  }
  return link(pid, 'pid') !== link('self', 'pid');
}

/** Whether setgroups(2) works in the user namespace of `pid` (its setgroups file says "allow"). */
export function setgroupsAllowed(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/setgroups`, 'utf8').trim() !== 'deny';
  } catch {
    return true;
  }
}
