// The parts of a config's linux.resources beyond memory, cpu and pids (bundle.ts reads those):
// blockIO, hugepageLimits and network, into box's Limits (cgroups/types.ts), whose drivers
// write them; and the kernel memory limits, which box leaves out with a warning, as runc.
// Also where linux.cgroupsPath puts the container's cgroup.

import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import type { BlockIOLimits, Limits, ThrottleKind } from '../cgroups/types.ts';

interface OciDevice { major: number; minor: number }
export interface OciBlockIO {
  weight?: number;
  leafWeight?: number;
  weightDevice?: (OciDevice & { weight?: number; leafWeight?: number })[];
  throttleReadBpsDevice?: (OciDevice & { rate: number })[];
  throttleWriteBpsDevice?: (OciDevice & { rate: number })[];
  throttleReadIOPSDevice?: (OciDevice & { rate: number })[];
  throttleWriteIOPSDevice?: (OciDevice & { rate: number })[];
}
export interface OciMoreResources {
  memory?: { kernel?: number; kernelTCP?: number };
  blockIO?: OciBlockIO;
  hugepageLimits?: { pageSize: string; limit: number }[];
  network?: { classID?: number; priorities?: { name: string; priority: number }[] };
}

/** The spec's throttle lists, in the order runc writes them, and io.max's key for each. */
const THROTTLES: [keyof OciBlockIO, ThrottleKind][] = [
  ['throttleReadBpsDevice', 'rbps'], ['throttleWriteBpsDevice', 'wbps'], ['throttleReadIOPSDevice', 'riops'], ['throttleWriteIOPSDevice', 'wiops'],
];

function blockIO(b: OciBlockIO | undefined): BlockIOLimits | undefined {
  if (!b) return undefined;
  const out: BlockIOLimits = {
    // 0 is the spec's "not set" (runc writes a weight only when it is not 0).
    weight: b.weight || undefined,
    leafWeight: b.leafWeight || undefined,
    weightDevices: (b.weightDevice ?? []).map((d) => ({ major: d.major, minor: d.minor, weight: d.weight || undefined, leafWeight: d.leafWeight || undefined })),
    throttle: THROTTLES.flatMap(([key, kind]) => ((b[key] ?? []) as (OciDevice & { rate: number })[]).map((t) => ({ major: t.major, minor: t.minor, kind, rate: t.rate }))),
  };
  const set = out.weight !== undefined || out.leafWeight !== undefined || out.weightDevices!.length > 0 || out.throttle!.length > 0;
  return set ? out : undefined;
}

/** The limits of blockIO, hugepageLimits and network, and the warnings for what box leaves out. */
export function moreLimits(r: OciMoreResources | undefined): { limits: Partial<Limits>; warnings: string[] } {
  const warnings: string[] = [];
  // Kernel memory limits (memory.kmem.*) are deprecated since Linux 5.4 and gone from v2;
  // runc ignores them since 1.1 with this warning, and so does box.
  if (r?.memory?.kernel !== undefined || r?.memory?.kernelTCP !== undefined) {
    warnings.push('linux.resources.memory.kernel and kernelTCP are ignored: kernel memory limits are deprecated (Linux 5.4), and runc ignores them too; memory.limit counts kernel memory already');
  }
  const limits: Partial<Limits> = {
    blockIO: blockIO(r?.blockIO),
    hugepages: r?.hugepageLimits?.length ? r.hugepageLimits.map((h) => ({ pageSize: h.pageSize, bytes: h.limit })) : undefined,
    // classID 0 is "no class" (runc writes it only when not 0).
    netClassId: r?.network?.classID || undefined,
    netPriorities: r?.network?.priorities?.length ? r.network.priorities.map((p) => ({ iface: p.name, priority: p.priority })) : undefined,
  };
  return { limits, warnings };
}

export const OCI_CGROUP_PARENT = '/box-oci';

/**
 * linux.cgroupsPath as box's driver takes it: an absolute parent and a name. An absolute path
 * (podman's "/libpod_parent/libpod-ID") is that directory in every hierarchy. A relative one
 * ("testdir/cgrouptest/container") the spec lets the runtime place: runc puts it under its
 * caller's own cgroup, box under /box-oci, a fixed place, since create and delete may be
 * called from different cgroups. None: /box-oci/box-oci-ID.
 */
export function cgroupPlace(file: string, cgPath: string | undefined): { parent: string; name?: string } {
  if (cgPath === undefined || cgPath === '') return { parent: OCI_CGROUP_PARENT };
  if (cgPath.includes(':')) throw new UserError(`${file}: linux.cgroupsPath '${cgPath}' is a systemd slice path; box manages cgroups itself (cgroupfs): use a path like /mygroup/ID`);
  const parts = cgPath.split('/').filter((p, i) => !(i === 0 && p === ''));
  // Each part becomes a directory: no "..", ".", empty parts or odd characters, so it stays under the hierarchy's root.
  if (parts.length === 0 || parts.some((p) => p === '.' || p === '..' || !/^[A-Za-z0-9_.@+-]+$/.test(p))) {
    throw new UserError(`${file}: linux.cgroupsPath '${cgPath}' is not a cgroup path box can use; use names of letters, digits, '_', '-', '.' joined by '/', e.g. /mygroup/ID`);
  }
  const name = parts.pop()!;
  const parent = cgPath.startsWith('/') ? `/${parts.join('/')}` : path.posix.join(OCI_CGROUP_PARENT, ...parts);
  return { parent, name };
}
