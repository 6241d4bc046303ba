// Which namespaces a container gets. box-init creates them (see container/build-plan.ts for
// the order and why it is box-init, not Node); this module names them and checks --ns.
//
// unshare(2) moves the calling *thread* into new namespaces (for PID and time, only its
// future children). In a multithreaded process like Node, that is allowed for every
// namespace but the user namespace (EINVAL), and setns(2) back is refused for the time
// namespace (EUSERS): two reasons a single-threaded box-init makes them instead.
import fs from 'node:fs';
import { UserError } from '../sys/errors.ts';
import { NAMESPACES, type NamespaceName } from '../sys/constants.ts';

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

let initialUserns: boolean | undefined;

/**
 * Are we in the machine's first user namespace (uid_map maps every id to itself)? Read once:
 * box never changes its own user namespace, and unpacking asks for every opaque directory.
 */
export function inInitialUserns(): boolean {
  if (initialUserns === undefined) {
    try {
      initialUserns = fs.readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/).join(' ') === '0 0 4294967295';
    } catch {
      initialUserns = true;
    }
  }
  return initialUserns;
}
