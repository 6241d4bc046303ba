// Creating namespaces from Node. unshare(2) moves the *calling thread* into new namespaces
// (for PID and time: only its future children). Node's main thread is where libuv forks
// child processes, so: save where we are, unshare, spawn, and setns(2) back. One long-lived
// box process can start many containers this way without ever leaving its own namespaces.

import fs from 'node:fs';
import { UserError } from '../sys/errors.ts';
import { NAMESPACES, type NamespaceName } from '../sys/constants.ts';
import type { Sys } from '../sys/sys.ts';

/** What `box run` creates when no --ns is given: everything but user and time, as Docker does. */
export const DEFAULT_NAMESPACES: NamespaceName[] = ['pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup'];

/** Parse `--ns pid,uts` into namespace names; `mount` is accepted for `mnt`. */
export function parseNamespaceList(list: string): NamespaceName[] {
  const names = list.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (names.length === 0) throw new UserError(`--ns: empty list; name namespaces, e.g. --ns pid,uts`);
  const out: NamespaceName[] = [];
  for (const raw of names) {
    const name = (raw === 'mount' ? 'mnt' : raw) as NamespaceName;
    if (!(name in NAMESPACES)) {
      throw new UserError(`--ns: unknown namespace '${raw}'; choose from ${Object.keys(NAMESPACES).join(', ')}`);
    }
    if (name === 'user') throw new UserError(`--ns user: use --userns, which also maps root to an unprivileged uid range`);
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

export function flagsOf(names: NamespaceName[]): number {
  return names.reduce((flags, n) => flags | NAMESPACES[n], 0);
}

/**
 * Namespaces Node's main thread can unshare and later setns back from. Not user (needs a
 * single-threaded process), not time (setns into a time namespace needs one too: EUSERS),
 * not cgroup (its root is fixed at unshare, so it is made after the process joins its
 * cgroup, by box-init).
 */
const FROM_NODE: NamespaceName[] = ['mnt', 'uts', 'ipc', 'net', 'pid'];

/** The /proc/self/ns file that describes where our *children* go, for each namespace. */
function selfNsFile(name: NamespaceName): string {
  return name === 'pid' ? '/proc/self/ns/pid_for_children' : `/proc/self/ns/${name}`;
}

/**
 * Run `spawn` with the main thread in new namespaces, then return to the old ones.
 * Returns the names that box-init must still create itself.
 */
export function withNewNamespaces<T>(sys: Sys, names: NamespaceName[], spawn: () => T): T {
  const here = names.filter((n) => FROM_NODE.includes(n));
  if (here.length === 0) return spawn();
  const saved = here.map((n) => ({ name: n, fd: fs.openSync(selfNsFile(n), 'r') }));
  try {
    sys.unshare(flagsOf(here));
    try {
      return spawn();
    } finally {
      // Back to where we were. If this failed the process would be stranded in the
      // container's namespaces, so a failure here is fatal rather than reported.
      for (const { name, fd } of saved) {
        try {
          sys.setns(fd, NAMESPACES[name]);
        } catch (err) {
          process.stderr.write(`box: cannot return to the host ${name} namespace: ${(err as Error).message}\n`);
          process.exit(125);
        }
      }
    }
  } finally {
    for (const { fd } of saved) fs.closeSync(fd);
  }
}

export function namespacesFromNode(names: NamespaceName[]): NamespaceName[] {
  return names.filter((n) => FROM_NODE.includes(n));
}
