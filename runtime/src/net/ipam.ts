// IP address management: subnets as numbers, which subnet a new network gets, which address
// a new container gets. Pure functions: the leases themselves are files (store.ts).

import { UserError } from '../sys/errors.ts';

export interface Subnet {
  /** The network address as a 32-bit unsigned number. */
  base: number;
  prefix: number;
}

export function ipToInt(ip: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const mask = (prefix: number) => (prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0);
export const size = (s: Subnet) => 2 ** (32 - s.prefix);
export const formatSubnet = (s: Subnet) => `${intToIp(s.base)}/${s.prefix}`;

/** "172.18.0.0/16" as a Subnet; host bits must be zero, as Docker requires. */
export function parseCidr(text: string, flag = '--subnet'): Subnet {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text);
  const ip = m ? ipToInt(m[1]) : null;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === null || !(prefix >= 8 && prefix <= 30)) {
    throw new UserError(`${flag} '${text}': give an IPv4 subnet in CIDR form with a prefix from /8 to /30, e.g. 172.30.0.0/16`);
  }
  if ((ip & ~mask(prefix)) >>> 0 !== 0) {
    throw new UserError(`${flag} '${text}': host bits are set; did you mean ${intToIp((ip & mask(prefix)) >>> 0)}/${prefix}?`);
  }
  return { base: ip, prefix };
}

export function contains(s: Subnet, ip: number): boolean {
  return ((ip & mask(s.prefix)) >>> 0) === s.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(p)) >>> 0) === ((b.base & mask(p)) >>> 0);
}

/** Usable host addresses: not the network address, not the broadcast address. */
export function isHost(s: Subnet, ip: number): boolean {
  return contains(s, ip) && ip !== s.base && ip !== s.base + size(s) - 1;
}

/**
 * The pool new networks take their subnets from, in order, as Docker's default address pools:
 * 172.17-31.0.0/16, then 192.168.N.0/20 (16 of them).
 */
export function* defaultPool(): Generator<Subnet> {
  for (let b = 17; b <= 31; b++) yield { base: ipToInt(`172.${b}.0.0`)!, prefix: 16 };
  for (let c = 0; c < 256; c += 16) yield { base: ipToInt(`192.168.${c}.0`)!, prefix: 20 };
}

/** The first subnet of the pool that overlaps none of `used`; null when the pool is spent. */
export function pickSubnet(used: Subnet[], pool: Iterable<Subnet> = defaultPool()): Subnet | null {
  for (const s of pool) if (!used.some((u) => overlaps(s, u))) return s;
  return null;
}

/** The lowest free host address, skipping those taken (the gateway is one of them). */
export function pickAddress(s: Subnet, taken: Set<number>): number | null {
  for (let ip = s.base + 1; ip < s.base + size(s) - 1; ip++) if (!taken.has(ip)) return ip;
  return null;
}

/**
 * Routes the host (or, in a lab sandbox, the sandbox's network namespace) already has, from
 * /proc/net/route: destination and mask are hex in host byte order (little-endian here).
 * A new network's subnet must not overlap any of them but the default route.
 */
export function parseRoutes(procNetRoute: string): { iface: string; subnet: Subnet }[] {
  const out: { iface: string; subnet: Subnet }[] = [];
  for (const line of procNetRoute.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const le = (hex: string) => Buffer.from(hex.padStart(8, '0'), 'hex').readUInt32LE(0);
    const dest = le(f[1]);
    const m = le(f[7]);
    const prefix = m.toString(2).replace(/0+$/, '').length;
    if (prefix === 0) continue; // the default route overlaps everything and conflicts with nothing
    out.push({ iface: f[0], subnet: { base: (dest & mask(prefix)) >>> 0, prefix } });
  }
  return out;
}
