// Capabilities: root's power cut into 41 pieces. Since Linux 2.2 the kernel does not ask "is
// this process root?" but "does it hold CAP_X?" (man 7 capabilities). A container keeps only
// the pieces a normal program needs, so root inside it cannot load kernel modules, reboot the
// host, or mount filesystems.

import fs from 'node:fs';
import { UserError } from '../sys/errors.ts';
import type { Sys } from '../sys/sys.ts';

/** Every capability in <linux/capability.h>, by number: bit N of a capability mask is capability N. */
export const CAPABILITIES: Record<string, number> = {
  CAP_CHOWN: 0, // change any file's owner and group
  CAP_DAC_OVERRIDE: 1, // read, write and execute any file, whatever its mode says
  CAP_DAC_READ_SEARCH: 2, // read any file and list any directory; open files by handle
  CAP_FOWNER: 3, // act as the owner of any file (chmod, utime, ...)
  CAP_FSETID: 4, // keep set-user-ID bits when a file changes
  CAP_KILL: 5, // signal any process
  CAP_SETGID: 6, // change group IDs
  CAP_SETUID: 7, // change user IDs
  CAP_SETPCAP: 8, // drop capabilities from the bounding set, grant inheritable ones
  CAP_LINUX_IMMUTABLE: 9, // set the immutable and append-only file flags
  CAP_NET_BIND_SERVICE: 10, // bind ports below 1024
  CAP_NET_BROADCAST: 11, // (unused) broadcast and multicast
  CAP_NET_ADMIN: 12, // configure interfaces, routes, firewall
  CAP_NET_RAW: 13, // raw and packet sockets (ping)
  CAP_IPC_LOCK: 14, // lock memory (mlock) beyond the limit
  CAP_IPC_OWNER: 15, // bypass System V IPC permission checks
  CAP_SYS_MODULE: 16, // load and unload kernel modules
  CAP_SYS_RAWIO: 17, // I/O ports (iopl, ioperm), /dev/mem
  CAP_SYS_CHROOT: 18, // chroot
  CAP_SYS_PTRACE: 19, // trace any process
  CAP_SYS_PACCT: 20, // process accounting (acct)
  CAP_SYS_ADMIN: 21, // the catch-all: mount, namespaces, sethostname, and much more
  CAP_SYS_BOOT: 22, // reboot, kexec
  CAP_SYS_NICE: 23, // raise priorities, NUMA memory policy
  CAP_SYS_RESOURCE: 24, // exceed resource limits
  CAP_SYS_TIME: 25, // set the system clock
  CAP_SYS_TTY_CONFIG: 26, // vhangup, configure terminals
  CAP_MKNOD: 27, // create device files
  CAP_LEASE: 28, // take leases on files one does not own
  CAP_AUDIT_WRITE: 29, // write to the kernel audit log
  CAP_AUDIT_CONTROL: 30, // configure kernel auditing
  CAP_SETFCAP: 31, // set file capabilities
  CAP_MAC_OVERRIDE: 32, // override mandatory access control (Smack)
  CAP_MAC_ADMIN: 33, // configure mandatory access control
  CAP_SYSLOG: 34, // read and clear the kernel log (syslog, dmesg)
  CAP_WAKE_ALARM: 35, // timers that wake the system
  CAP_BLOCK_SUSPEND: 36, // keep the system from suspending
  CAP_AUDIT_READ: 37, // read the audit log over netlink
  CAP_PERFMON: 38, // performance monitoring (perf_event_open)
  CAP_BPF: 39, // load eBPF programs
  CAP_CHECKPOINT_RESTORE: 40, // checkpoint/restore helpers (set_tid, ...)
};

const BY_NUMBER = new Map(Object.entries(CAPABILITIES).map(([name, n]) => [n, name]));

/** The name of capability number `n` ("CAP_SYS_ADMIN" for 21), or `CAP_<n>` if newer than this table. */
export function capName(n: number): string {
  return BY_NUMBER.get(n) ?? `CAP_${n}`;
}

/**
 * Docker's default set (moby's oci/caps/defaults.go): what ordinary programs that run as root
 * need (change owners, bind port 80, setuid to drop privileges, ping) and nothing that
 * reaches beyond the container (no SYS_ADMIN, NET_ADMIN, SYS_MODULE, SYS_PTRACE, SYS_TIME).
 * Its mask is 0xa80425fb, the CapEff a reader sees in /proc/1/status inside `docker run`.
 */
export const DOCKER_DEFAULT_CAPS: string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_RAW',
  'CAP_SYS_CHROOT',
  'CAP_MKNOD',
  'CAP_AUDIT_WRITE',
  'CAP_SETFCAP',
];

/** "chown", "CHOWN", "cap_chown" and "CAP_CHOWN" all name CAP_CHOWN; "all" names every capability. */
function normalize(flag: string, raw: string): string {
  const upper = raw.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const name = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!(name in CAPABILITIES)) {
    throw new UserError(`${flag}: unknown capability '${raw}'; see \`man 7 capabilities\``);
  }
  return name;
}

function byNumber(names: Iterable<string>): string[] {
  return [...new Set(names)].sort((a, b) => CAPABILITIES[a] - CAPABILITIES[b]);
}

/**
 * The capability set of a container started with `--cap-add add --cap-drop drop`, with
 * Docker's rules: start from the default set, drop, then add (so an add wins over a drop of
 * the same name). `--cap-add ALL` starts from every capability and then drops;
 * `--cap-drop ALL` starts from nothing and then adds. Sorted by number, names with CAP_.
 */
export function resolveCaps(add: string[], drop: string[]): string[] {
  const adds = add.map((c) => normalize('--cap-add', c));
  const drops = drop.map((c) => normalize('--cap-drop', c));
  const all = Object.keys(CAPABILITIES);
  if (adds.includes('ALL')) return byNumber(all.filter((c) => !drops.includes(c)));
  if (drops.includes('ALL')) return byNumber(adds);
  return byNumber([...DOCKER_DEFAULT_CAPS.filter((c) => !drops.includes(c)), ...adds]);
}

/** The 64-bit mask the kernel uses for a set: bit N set for capability N. */
export function capMask(caps: string[]): bigint {
  let mask = 0n;
  for (const c of caps) {
    const n = CAPABILITIES[c];
    if (n === undefined) throw new Error(`capMask: unknown capability ${c}`);
    mask |= 1n << BigInt(n);
  }
  return mask;
}

/** The names in a mask, e.g. from /proc/PID/status CapEff (parse the hex with BigInt('0x' + ...)). */
export function capsFromMask(mask: bigint): string[] {
  const names: string[] = [];
  for (let n = 0; n < 64; n++) if ((mask >> BigInt(n)) & 1n) names.push(capName(n));
  return names;
}

/** /proc/PID/status prints masks as 16 hex digits: `CapEff: 00000000a80425fb`. */
export function capHex(mask: bigint): string {
  return mask.toString(16).padStart(16, '0');
}

/**
 * The highest capability number the running kernel knows. The init drops every capability
 * 0..lastCap() that the container should not have from the bounding set, so a capability
 * newer than this table is dropped too.
 */
export function lastCap(sys?: Pick<Sys, 'readFile'>): number {
  const path = '/proc/sys/kernel/cap_last_cap'; // since Linux 3.2
  try {
    const text = sys ? sys.readFile(path) : fs.readFileSync(path, 'utf8');
    const n = Number.parseInt(text.trim(), 10);
    if (Number.isInteger(n) && n >= 0 && n < 64) return n;
  } catch {
    /* no /proc: fall through to what this table knows */
  }
  return Math.max(...Object.values(CAPABILITIES));
}

/** CapBnd of this process, from /proc/self/status: what any child of ours may hold at most. */
export function ownBoundingSet(): bigint {
  try {
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? BigInt(`0x${m[1]}`) : ~0n;
  } catch {
    return ~0n;
  }
}
