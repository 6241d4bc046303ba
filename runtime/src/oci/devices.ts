// A config's devices: linux.devices, the extra nodes made in the container's /dev, and
// linux.resources.devices, the cgroup's rules for which nodes may be opened or made.
//
// The rules as runc applies them: the config's in order (the last that matches decides),
// then the nodes every container gets (null, zero, full, random, urandom, tty, the pty ones,
// mknod of any node: cgroups/devices.ts DEFAULT_DEVICE_RULES, what runc appends too) unless
// the config has a rule for that very node, then each linux.devices node, so a node the
// config makes can be used. Engines send "deny all" first and rely on the harmless nodes
// staying usable; a config that allows everything is its caller's choice.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import { DEFAULT_DEVICE_RULES, devicePolicy, parseDeviceRule, type DeviceRule } from '../cgroups/devices.ts';
import type { DeviceNode } from '../rootfs/rootfs.ts';

export interface OciDevice { path?: string; type?: string; major?: number; minor?: number; fileMode?: number; uid?: number; gid?: number }
export interface OciDeviceRule { allow?: boolean; type?: string; major?: number | null; minor?: number | null; access?: string }

// What box makes in /dev itself (rootfs.ts): a node cannot go inside these. The harmless
// nodes (null, zero...) may be listed: the config's node then replaces box's bind, as in runc.
const BOX_OWN = new Set(['pts', 'shm', 'mqueue', 'fd', 'stdin', 'stdout', 'stderr', 'ptmx']);
// S_IFCHR, S_IFBLK, S_IFIFO: the node's type in mknod(2)'s mode. "u" (unbuffered) is a char device.
const KIND: Record<string, DeviceNode['type']> = { c: 'c', u: 'c', b: 'b', p: 'p' };

const isId = (n: unknown) => Number.isInteger(n) && (n as number) >= 0 && (n as number) < 2 ** 32;

function readNode(file: string, d: OciDevice, userns: boolean): DeviceNode {
  const p = d.path ?? '';
  const norm = path.posix.normalize(p);
  const what = `${file}: linux.devices ${p || '(no path)'}`;
  if (!p.startsWith('/dev/') || norm !== p || norm === '/dev/' || p.endsWith('/')) {
    throw new UserError(`${what}: the path must be a node under /dev, written plainly (no "..", no trailing "/"), e.g. /dev/fuse`);
  }
  const first = norm.split('/')[2];
  if (BOX_OWN.has(first)) throw new UserError(`${what}: /dev/${first} is box's own (a mount or symlink it makes in every container); choose another path`);
  const type = KIND[d.type ?? ''];
  if (!type) throw new UserError(`${what}: type '${d.type ?? ''}' is not one of c, b, u (devices) or p (a fifo)`);
  if (type !== 'p' && (!isId(d.major) || !isId(d.minor))) {
    throw new UserError(`${what}: a '${d.type}' device needs "major" and "minor" (numbers >= 0), e.g. "major": 10, "minor": 229`);
  }
  for (const k of ['uid', 'gid', 'fileMode'] as const) {
    if (d[k] !== undefined && !isId(d[k])) throw new UserError(`${what}: ${k} ${JSON.stringify(d[k])} is not a number >= 0`);
  }
  const node: DeviceNode = {
    path: norm, type, major: type === 'p' ? 0 : d.major!, minor: type === 'p' ? 0 : d.minor!,
    mode: (d.fileMode ?? 0o666) & 0o7777, // runc's default; type bits in fileMode are the type's business
    uid: d.uid ?? 0, gid: d.gid ?? 0,
  };
  // In a user namespace mknod(2) of a device is refused (only the initial namespace's root may
  // make one), so box binds the host's node at the same path instead, as runc does. It must be
  // the device asked for: binding another would give the container something else.
  if (userns && type !== 'p') {
    const st = fs.statSync(norm, { throwIfNoEntry: false });
    if (!st) throw new UserError(`${what}: with a user namespace box binds the host's ${norm} (mknod is not allowed there), and the host has none; create it on the host or drop the user namespace`);
    const hostType = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : null;
    const [major, minor] = [Math.floor(st.rdev / 256) & 0xfff, (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)];
    if (hostType !== type || major !== node.major || minor !== node.minor) {
      throw new UserError(`${what}: with a user namespace box binds the host's ${norm}, which is ${hostType ? `${hostType} ${major}:${minor}` : 'not a device'}, not the ${type} ${node.major}:${node.minor} asked for; fix the numbers or the path`);
    }
    node.bind = norm;
  }
  return node;
}

function readRule(file: string, r: OciDeviceRule, i: number): DeviceRule {
  const what = `${file}: linux.resources.devices[${i}]`;
  if (typeof r.allow !== 'boolean') throw new UserError(`${what} needs "allow": true or false`);
  const type = r.type ?? 'a';
  if (type !== 'a' && type !== 'c' && type !== 'b') throw new UserError(`${what}: type '${type}' is not one of a (all), c or b`);
  const num = (k: 'major' | 'minor') => {
    const v = r[k];
    if (v === undefined || v === null || v === -1) return -1; // any
    if (!Number.isInteger(v) || v < 0) throw new UserError(`${what}: ${k} ${JSON.stringify(v)} is not a number >= 0 (leave it out for any)`);
    return v;
  };
  const access = r.access ?? 'rwm';
  if (!/^[rwm]+$/.test(access)) throw new UserError(`${what}: access '${access}' is not made of r, w and m`);
  return { type, major: num('major'), minor: num('minor'), access: [...new Set(access)].join(''), allow: r.allow };
}

/** linux.devices and linux.resources.devices, checked: the nodes to make and the cgroup's rules in order. */
export function readDevices(file: string, devices: OciDevice[] | undefined, rules: OciDeviceRule[] | undefined, userns: boolean): { nodes: DeviceNode[]; rules: DeviceRule[] } {
  const nodes = (devices ?? []).map((d) => readNode(file, d, userns));
  const twice = nodes.find((n, i) => nodes.findIndex((m) => m.path === n.path) !== i);
  if (twice) throw new UserError(`${file}: linux.devices lists ${twice.path} twice; keep one`);
  const own = (rules ?? []).map((r, i) => readRule(file, r, i));
  // A harmless node the config names itself ("deny c 1:3 rwm": /dev/null) is the config's to
  // decide: its default is not appended after it (runc appends it anyway, so that such a rule
  // does nothing there; "deny all" still keeps the harmless nodes, which engines rely on).
  const named = (d: DeviceRule) => own.some((r) => r.type === d.type && r.major === d.major && r.minor === d.minor);
  const all = [
    ...own,
    ...DEFAULT_DEVICE_RULES.map(parseDeviceRule).filter((d) => !named(d)),
    ...nodes.filter((n) => n.type !== 'p').map((n): DeviceRule => ({ type: n.type as 'c' | 'b', major: n.major, minor: n.minor, access: 'rwm', allow: true })),
  ];
  try {
    devicePolicy(all);
  } catch (err) {
    if (err instanceof UserError) throw new UserError(`${file}: linux.resources.devices: ${err.message}`);
    throw err;
  }
  return { nodes, rules: all };
}
