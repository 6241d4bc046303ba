// What box remembers about networks, under $BOX_ROOT/networks:
//   <id>/network.json   the network: name, subnet, gateway, bridge, nft table, its box-dns
//   <id>/leases/<ip>    a symlink to the container id that holds the address
//   <id>/hosts          the names box-dns serves (user-defined networks)
//   names/<name>        a symlink to the network id
// A lease and a name are claimed by creating a symlink, which is atomic: two `box run` at
// once cannot get the same address, and two `network create x` cannot both win.

import fs from 'node:fs';
import path from 'node:path';
import { boxRoot } from '../image/paths.ts';
import { ConflictError, NotFoundError, UserError } from '../sys/errors.ts';
import { flock, LOCK_EX } from '../image/native.ts';
import { intToIp, ipToInt, parseCidr, type Subnet } from './ipam.ts';

export interface Network {
  id: string;
  name: string;
  driver: 'bridge';
  subnet: string;
  gateway: string;
  internal: boolean;
  created: string;
  /** The Linux bridge, named from the id so two box roots on one host never share one. */
  bridge: string;
  /** The nftables table box owns for this network (nat.ts). */
  table: string;
  /** Container names resolve here (box-dns); not on the default `bridge`, as with Docker. */
  dns: boolean;
  /** box-dns serving this network, while it has containers, and its start time (PID reuse). */
  dnsPid?: number | null;
  dnsStart?: string | null;
}

export const DEFAULT_NETWORK = 'bridge';
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

export const networksDir = () => path.join(boxRoot(), 'networks');
const namesDir = () => path.join(networksDir(), 'names');
export const networkDir = (id: string) => path.join(networksDir(), id);
const networkFile = (id: string) => path.join(networkDir(id), 'network.json');
export const leasesDir = (id: string) => path.join(networkDir(id), 'leases');
export const hostsFile = (id: string) => path.join(networkDir(id), 'hosts');

export function checkNetworkName(name: string): void {
  if (!NAME_RE.test(name) || name === 'none' || name === 'host' || name.startsWith('container:')) {
    throw new UserError(`network name '${name}': use letters, digits, '_', '.' and '-' (up to 63), not none, host or container:...`);
  }
}

export function readNetwork(id: string): Network | null {
  try {
    return JSON.parse(fs.readFileSync(networkFile(id), 'utf8')) as Network;
  } catch {
    return null;
  }
}

export function writeNetwork(n: Network): void {
  const file = networkFile(n.id);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(n, null, 2));
  fs.renameSync(tmp, file);
}

export function listNetworks(): Network[] {
  let ids: string[];
  try {
    ids = fs.readdirSync(networksDir()).filter((d) => /^[0-9a-f]{64}$/.test(d));
  } catch {
    return [];
  }
  return ids.map(readNetwork).filter((n): n is Network => n !== null).sort((a, b) => a.created.localeCompare(b.created));
}

/** A network by name, full id or unique id prefix; null if there is none. */
export function findNetwork(ref: string): Network | null {
  try {
    const n = readNetwork(fs.readlinkSync(path.join(namesDir(), ref)));
    if (n) return n;
  } catch {
    /* not a name */
  }
  if (/^[0-9a-f]{3,64}$/.test(ref)) {
    const hits = listNetworks().filter((n) => n.id.startsWith(ref));
    if (hits.length === 1) return hits[0];
  }
  return null;
}

export function lookupNetwork(ref: string): Network {
  const n = findNetwork(ref);
  if (!n) throw new NotFoundError(`no such network: '${ref}'; \`box network ls\` lists them, \`box network create ${ref}\` makes it`);
  return n;
}

/**
 * Record a new network: its directory first, then its name (the atomic step). Returns the
 * network that owns the name: ours, or one another box created a moment earlier.
 */
export function saveNewNetwork(n: Network): { network: Network; created: boolean } {
  fs.mkdirSync(leasesDir(n.id), { recursive: true, mode: 0o755 });
  writeNetwork(n);
  fs.mkdirSync(namesDir(), { recursive: true });
  try {
    fs.symlinkSync(n.id, path.join(namesDir(), n.name));
    return { network: n, created: true };
  } catch (err) {
    fs.rmSync(networkDir(n.id), { recursive: true, force: true });
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const other = findNetwork(n.name);
    if (!other) throw new UserError(`network '${n.name}' is being created or removed by another box; try again`);
    return { network: other, created: false };
  }
}

export function deleteNetworkRecord(n: Network): void {
  try {
    if (fs.readlinkSync(path.join(namesDir(), n.name)) === n.id) fs.unlinkSync(path.join(namesDir(), n.name));
  } catch {
    /* gone already */
  }
  fs.rmSync(networkDir(n.id), { recursive: true, force: true });
}

export interface Lease {
  ip: string;
  containerId: string;
}

export function leases(n: Network): Lease[] {
  let files: string[];
  try {
    files = fs.readdirSync(leasesDir(n.id));
  } catch {
    return [];
  }
  const out: Lease[] = [];
  for (const ip of files) {
    try {
      out.push({ ip, containerId: fs.readlinkSync(path.join(leasesDir(n.id), ip)) });
    } catch {
      /* released meanwhile */
    }
  }
  return out;
}

/**
 * Claim an address for a container: `ip` if given (--ip), else the lowest free one. The
 * symlink's creation is the claim; losing a race to another box just tries the next address.
 */
export function claimLease(n: Network, containerId: string, ip?: string): string {
  const subnet = parseCidr(n.subnet);
  const size = 2 ** (32 - subnet.prefix);
  const wanted = ip !== undefined ? [checkedIp(n, subnet, ip)] : null;
  const taken = new Set(leases(n).map((l) => ipToInt(l.ip)!));
  taken.add(ipToInt(n.gateway)!);
  const candidates = wanted ?? (function* () {
    for (let a = subnet.base + 1; a < subnet.base + size - 1; a++) if (!taken.has(a)) yield a;
  })();
  for (const a of candidates) {
    const text = intToIp(a);
    try {
      fs.symlinkSync(containerId, path.join(leasesDir(n.id), text));
      return text;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (wanted) throw new ConflictError(`--ip ${text}: the address is in use on network '${n.name}'; pick another or leave --ip out`);
    }
  }
  throw new UserError(`network '${n.name}' (${n.subnet}) has no free address left; remove a container or make a larger network`);
}

function checkedIp(n: Network, subnet: Subnet, ip: string): number {
  const a = ipToInt(ip);
  const size = 2 ** (32 - subnet.prefix);
  if (a === null) throw new UserError(`--ip '${ip}': not an IPv4 address`);
  if (a === ipToInt(n.gateway) || a <= subnet.base || a >= subnet.base + size - 1 || ((a - subnet.base) >>> 0) >= size) {
    throw new UserError(`--ip ${ip}: not a free host address of network '${n.name}' (${n.subnet}, gateway ${n.gateway})`);
  }
  return a;
}

export function releaseLease(networkId: string, ip: string, containerId: string): void {
  const link = path.join(leasesDir(networkId), ip);
  try {
    if (fs.readlinkSync(link) === containerId) fs.unlinkSync(link);
  } catch {
    /* already gone */
  }
}

/**
 * Hold a host-wide lock while choosing a subnet: two box roots (a test's, the host's) creating
 * networks at once would otherwise both take the first free one. flock(2): the kernel drops it
 * when the holder dies. /run is per machine (in a lab sandbox, per sandbox: its own network).
 *
 * One process (the engine) may start several containers at once, and an async `fn` holds the
 * lock across awaits (starting box-dns waits for its ready byte). flock belongs to an open file,
 * so a second open()+flock() in the same process would wait for itself, and a blocking flock
 * stops Node's only thread. So: async holders take turns in `turns`, then take the flock without
 * blocking (LOCK_NB, retried on a timer while another process holds it); a sync `fn` runs under
 * the hold this process already has (one thread: it cannot interleave with another sync one).
 */
let holdFd: number | null = null;
let turns: Promise<unknown> = Promise.resolve();
const LOCK_NB = 4; // <sys/file.h>: fail with EWOULDBLOCK instead of waiting

function openLock(): number {
  fs.mkdirSync(networksDir(), { recursive: true });
  try {
    return fs.openSync(fs.existsSync('/run') ? '/run/box-network.lock' : path.join(networksDir(), '.lock'), 'a', 0o600);
  } catch {
    return fs.openSync(path.join(networksDir(), '.lock'), 'a', 0o600);
  }
}

export function withNetworkLock<T>(fn: () => T): T {
  if (holdFd !== null) return fn();
  const fd = openLock();
  holdFd = fd;
  let result: T;
  try {
    flock(fd, LOCK_EX);
    result = fn();
  } catch (err) {
    holdFd = null;
    fs.closeSync(fd);
    throw err;
  }
  if (result instanceof Promise) {
    // Called with an async fn directly: keep the hold until it settles.
    return result.finally(() => { holdFd = null; fs.closeSync(fd); }) as T;
  }
  holdFd = null;
  fs.closeSync(fd);
  return result;
}

/** withNetworkLock for an async `fn`, without blocking the event loop (see above). */
export function withNetworkLockAsync<T>(fn: () => Promise<T>): Promise<T> {
  const mine = turns.then(async () => {
    const fd = openLock();
    try {
      for (;;) {
        try {
          flock(fd, LOCK_EX | LOCK_NB);
          break;
        } catch (err) {
          if ((err as { code?: string }).code !== 'EWOULDBLOCK' && (err as { code?: string }).code !== 'EAGAIN') throw err;
          await new Promise((r) => setTimeout(r, 20)); // another process holds it
        }
      }
      holdFd = fd;
      return await fn();
    } finally {
      holdFd = null;
      fs.closeSync(fd);
    }
  });
  turns = mine.catch(() => {});
  return mine;
}
