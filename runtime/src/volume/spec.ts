// What a user asks for on `box run`: `-v`, `--mount`, `--tmpfs`, `--volumes-from`, parsed and
// checked before anything is made. Pure functions: tested without root.

import path from 'node:path';
import { parseSize } from '../cgroups/units.ts';
import { UserError } from '../sys/errors.ts';

export type MountRequest =
  | { type: 'bind'; source: string; target: string; readOnly: boolean }
  /** source '' is an anonymous volume: box gives it a random name. */
  | { type: 'volume'; source: string; target: string; readOnly: boolean; noCopy: boolean }
  | { type: 'tmpfs'; target: string; readOnly: boolean; sizeBytes?: number; mode?: number };

/** A mount as `box inspect` shows it: Docker's `Mounts` entries, field for field. */
export interface MountRecord {
  Type: 'bind' | 'volume' | 'tmpfs';
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

// Docker's rule for volume names: a letter or digit, then letters, digits, _ . - (2 or more).
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function checkVolumeName(name: string, where: string): string {
  if (!VOLUME_NAME.test(name) || name.length > 255) {
    throw new UserError(`${where}: '${name}' is not a valid volume name; use letters, digits, '_', '.' and '-' (2 or more, starting with a letter or digit)`);
  }
  return name;
}

/** A path inside the container: absolute, and not the root itself. */
function checkTarget(target: string, where: string): string {
  if (!target.startsWith('/')) {
    throw new UserError(`${where}: the container path '${target}' is relative; give an absolute path, e.g. /data`);
  }
  const clean = path.posix.normalize(target).replace(/(.)\/$/, '$1');
  if (clean === '/') throw new UserError(`${where}: a mount cannot replace the container's root (/); pick a directory, e.g. /data`);
  return clean;
}

/**
 * `-v HOST:CONTAINER[:OPTS]` (a bind), `-v NAME:CONTAINER[:OPTS]` (a named volume), or
 * `-v CONTAINER` (an anonymous volume). OPTS: ro, rw, nocopy, comma-separated, as Docker's.
 */
export function parseVolumeFlag(spec: string): MountRequest {
  const where = `-v '${spec}'`;
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) {
    throw new UserError(`${where}: use HOST:CONTAINER[:ro], NAME:CONTAINER[:ro] or CONTAINER`);
  }
  if (parts.length === 1) {
    return { type: 'volume', source: '', target: checkTarget(parts[0], where), readOnly: false, noCopy: false };
  }
  const [source, target, opts = ''] = parts;
  let readOnly = false;
  let noCopy = false;
  for (const o of opts.split(',').filter(Boolean)) {
    if (o === 'ro' || o === 'rw') readOnly = o === 'ro';
    else if (o === 'nocopy') noCopy = true;
    else throw new UserError(`${where}: unknown option '${o}'; use ro, rw or nocopy`);
  }
  if (source.startsWith('/')) {
    if (noCopy) throw new UserError(`${where}: nocopy is for volumes, not host paths`);
    return { type: 'bind', source: path.posix.normalize(source), target: checkTarget(target, where), readOnly };
  }
  if (source.startsWith('.') || source.includes('/')) {
    throw new UserError(`${where}: a host path must be absolute (start with /), e.g. -v "$PWD/${source.replace(/^\.\//, '')}:${target}"`);
  }
  return { type: 'volume', source: checkVolumeName(source, where), target: checkTarget(target, where), readOnly, noCopy };
}

const TRUE = new Set(['', 'true', '1']);
const FALSE = new Set(['false', '0']);

/** `--mount type=bind|volume|tmpfs,source=…,target=…,readonly,…`: Docker's keys. */
export function parseMountFlag(spec: string): MountRequest {
  const where = `--mount '${spec}'`;
  const kv = new Map<string, string>();
  for (const field of spec.split(',')) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    if (!key) throw new UserError(`${where}: an empty field; write key=value pairs separated by commas`);
    kv.set(key, eq < 0 ? '' : field.slice(eq + 1));
  }
  const type = (kv.get('type') ?? 'volume') as MountRequest['type'];
  if (!['bind', 'volume', 'tmpfs'].includes(type)) {
    throw new UserError(`${where}: type '${type}' is not one box knows; use type=bind, type=volume or type=tmpfs`);
  }
  const flag = (key: string): boolean => {
    const v = kv.get(key)!.toLowerCase();
    if (TRUE.has(v)) return true;
    if (FALSE.has(v)) return false;
    throw new UserError(`${where}: ${key}=${v}: use true or false`);
  };
  let source = '';
  let target = '';
  let readOnly = false;
  let noCopy = false;
  let sizeBytes: number | undefined;
  let mode: number | undefined;
  for (const [key, value] of kv) {
    if (key === 'type') continue;
    else if (key === 'source' || key === 'src') source = value;
    else if (key === 'target' || key === 'destination' || key === 'dst') target = value;
    else if (key === 'readonly' || key === 'ro') readOnly = flag(key);
    else if (key === 'volume-nocopy' && type === 'volume') noCopy = flag(key);
    else if (key === 'tmpfs-size' && type === 'tmpfs') sizeBytes = parseSize(value, `--mount tmpfs-size`);
    else if (key === 'tmpfs-mode' && type === 'tmpfs') mode = parseMode(value, `--mount tmpfs-mode`);
    else throw new UserError(`${where}: unknown key '${key}' for type=${type}; see Docker's --mount keys (source, target, readonly${type === 'volume' ? ', volume-nocopy' : type === 'tmpfs' ? ', tmpfs-size, tmpfs-mode' : ''})`);
  }
  if (!target) throw new UserError(`${where}: target is missing; add target=/path`);
  target = checkTarget(target, where);
  if (type === 'tmpfs') {
    if (source) throw new UserError(`${where}: a tmpfs has no source; remove source=${source}`);
    return { type, target, readOnly, sizeBytes, mode };
  }
  if (type === 'bind') {
    if (!source) throw new UserError(`${where}: source is missing; add source=/host/path`);
    if (!source.startsWith('/')) throw new UserError(`${where}: the bind source '${source}' must be an absolute host path`);
    return { type, source: path.posix.normalize(source), target, readOnly };
  }
  return { type, source: source ? checkVolumeName(source, where) : '', target, readOnly, noCopy };
}

/** `--tmpfs /path[:size=64m,mode=1777,ro|rw]` */
export function parseTmpfsFlag(spec: string): MountRequest {
  const where = `--tmpfs '${spec}'`;
  const colon = spec.indexOf(':');
  const target = checkTarget(colon < 0 ? spec : spec.slice(0, colon), where);
  let readOnly = false;
  let sizeBytes: number | undefined;
  let mode: number | undefined;
  for (const o of (colon < 0 ? '' : spec.slice(colon + 1)).split(',').filter(Boolean)) {
    const [key, value = ''] = o.split('=');
    if (key === 'ro' || key === 'rw') readOnly = key === 'ro';
    else if (key === 'size') sizeBytes = parseSize(value, '--tmpfs size');
    else if (key === 'mode') mode = parseMode(value, '--tmpfs mode');
    else if (['exec', 'noexec', 'suid', 'nosuid', 'dev', 'nodev'].includes(key)) continue; // box's are always nosuid,nodev
    else throw new UserError(`${where}: unknown option '${key}'; use size=, mode=, ro or rw`);
  }
  return { type: 'tmpfs', target, readOnly, sizeBytes, mode };
}

function parseMode(value: string, where: string): number {
  if (!/^[0-7]{1,4}$/.test(value)) throw new UserError(`${where} '${value}': give octal permissions, e.g. 1777`);
  return parseInt(value, 8);
}

/** `--volumes-from NAME[:ro|rw]` */
export function parseVolumesFrom(spec: string): { container: string; mode: 'ro' | 'rw' | '' } {
  const [container, mode = '', extra] = spec.split(':');
  if (!container || extra !== undefined || !['', 'ro', 'rw'].includes(mode)) {
    throw new UserError(`--volumes-from '${spec}': use CONTAINER, CONTAINER:ro or CONTAINER:rw`);
  }
  return { container, mode: mode as 'ro' | 'rw' | '' };
}

/** The mounts another container has, as requests for this one (--volumes-from); tmpfs is not shared. */
export function requestsFrom(records: MountRecord[], mode: 'ro' | 'rw' | ''): MountRequest[] {
  const out: MountRequest[] = [];
  for (const r of records) {
    const readOnly = mode ? mode === 'ro' : !r.RW;
    if (r.Type === 'bind') out.push({ type: 'bind', source: r.Source, target: r.Destination, readOnly });
    else if (r.Type === 'volume' && r.Name) out.push({ type: 'volume', source: r.Name, target: r.Destination, readOnly, noCopy: true });
  }
  return out;
}

/** One mount per container path, as Docker insists ("Duplicate mount point"). */
export function checkDuplicates(requests: { target: string }[]): void {
  const seen = new Set<string>();
  for (const r of requests) {
    if (seen.has(r.target)) throw new UserError(`two mounts at ${r.target}; give each container path one mount`);
    seen.add(r.target);
  }
}
