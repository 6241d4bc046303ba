// Block I/O limits (OCI linux.resources.blockIO) as the writes each cgroup version needs.
// Two mechanisms, in both versions: a *weight* (a share of disk time when disks are busy,
// enforced by an I/O scheduler, so it exists only with one that supports it) and *throttling*
// (hard caps in bytes or operations per second per disk, enforced by the block layer itself,
// so it works with any scheduler). What runc writes where, box writes; what runc refuses
// (a v1 weight without CFQ or BFQ) box refuses before writing anything, in one line; what
// runc leaves out (v2 leaf weights, v2 per-device weights without BFQ) box leaves out and says so.

import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import { exists, readText, type CgroupWrite } from './files.ts';
import { blockIOName, THROTTLE_NAME } from './limits.ts';
import type { BlockDevice, BlockIOLimits, ThrottleKind } from './types.ts';

/** The v1 file of each throttle list (v2 writes them all to io.max, as `rbps=N` and so on). */
const V1_THROTTLE: Record<ThrottleKind, string> = {
  rbps: 'blkio.throttle.read_bps_device', wbps: 'blkio.throttle.write_bps_device',
  riops: 'blkio.throttle.read_iops_device', wiops: 'blkio.throttle.write_iops_device',
};

const devName = (d: BlockDevice) => `${d.major}:${d.minor}`;

/** The kernel answers ENODEV for a device it does not have, or a partition: say which, and how to list disks. */
function deviceError(what: string, d: BlockDevice) {
  return (code: string) => code === 'ENODEV' || code === 'ENXIO'
    ? `${blockIOName(what)}: there is no disk ${devName(d)} on this host (limits apply to whole disks, not partitions); use a MAJ:MIN that 'lsblk -d -o NAME,MAJ:MIN' lists`
    : undefined;
}

const noWeight = (what: string, files: string) =>
  new UserError(`${blockIOName(what)}: this host has no proportional I/O weights (${files} missing: weights need the BFQ I/O scheduler on the disk, or CFQ before Linux 5.0); remove it, or switch the disk to BFQ (echo bfq > /sys/block/DISK/queue/scheduler)`);

const noLeaf = (what: string) =>
  new UserError(`${blockIOName(what)}: this kernel has no leaf weights (blkio.leaf_weight was the CFQ scheduler's, removed in Linux 5.0); remove leafWeight`);

/**
 * cgroup v1, in runc's order. blkio.weight exists only while CFQ is in the kernel (removed in
 * Linux 5.0); BFQ's files are blkio.bfq.weight(_device). Like runc, box uses blkio.weight if
 * it is there, else BFQ's; where neither is (schedulers none, mq-deadline, kyber) runc's write
 * fails with ENOENT, and box refuses the same config before writing. Leaf weights were CFQ's only.
 */
export function blkioWritesV1(dir: string, b: BlockIOLimits): CgroupWrite[] {
  const cfq = exists(path.join(dir, 'blkio.weight'));
  const [weightFile, deviceFile] = cfq ? ['blkio.weight', 'blkio.weight_device'] : ['blkio.bfq.weight', 'blkio.bfq.weight_device'];
  const need = (file: string, refusal: () => UserError) => {
    if (!exists(path.join(dir, file))) throw refusal();
    return path.join(dir, file);
  };
  const missing = cfq ? '' : 'blkio.weight and blkio.bfq.weight';
  const writes: CgroupWrite[] = [];
  if (b.weight !== undefined) writes.push({ file: need(weightFile, () => noWeight('weight', missing || weightFile)), value: String(b.weight), why: 'setting the block I/O weight' });
  if (b.leafWeight !== undefined) writes.push({ file: need('blkio.leaf_weight', () => noLeaf('leafWeight')), value: String(b.leafWeight), why: 'setting the leaf weight' });
  for (const d of b.weightDevices ?? []) {
    if (d.weight !== undefined) {
      writes.push({ file: need(deviceFile, () => noWeight('weightDevice', missing || deviceFile)), value: `${devName(d)} ${d.weight}`, why: 'setting a device\'s I/O weight', onError: deviceError('weightDevice', d) });
    }
    if (d.leafWeight !== undefined) {
      writes.push({ file: need('blkio.leaf_weight_device', () => noLeaf('weightDevice.leafWeight')), value: `${devName(d)} ${d.leafWeight}`, why: 'setting a device\'s leaf weight', onError: deviceError('weightDevice', d) });
    }
  }
  for (const t of b.throttle ?? []) {
    // "MAJ:MIN RATE"; 0 removes the device's rule. The block layer throttles whatever the scheduler.
    writes.push({ file: path.join(dir, V1_THROTTLE[t.kind]), value: `${devName(t)} ${t.rate}`, why: `setting ${THROTTLE_NAME[t.kind]}`, onError: deviceError(THROTTLE_NAME[t.kind], t) });
  }
  return writes;
}

/** The v1 weight range (10..1000) onto v2's io.weight (1..10000), linearly: runc's map (500 -> 4950). */
export function blkioWeightToIoWeight(weight: number): number {
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/**
 * cgroup v2, as runc: the weight goes to io.bfq.weight as it is when BFQ is there, else to
 * io.weight (blk-iocost) converted; per-device weights only through BFQ; throttles are io.max
 * lines "MAJ:MIN rbps=N". Returns the writes and what was left out, one line each.
 */
export function ioWritesV2(dir: string, b: BlockIOLimits): { writes: CgroupWrite[]; left: string[] } {
  const bfq = path.join(dir, 'io.bfq.weight');
  const hasBfq = exists(bfq);
  const writes: CgroupWrite[] = [];
  const left: string[] = [];
  if (b.weight !== undefined) {
    if (hasBfq) writes.push({ file: bfq, value: String(b.weight), why: 'setting the BFQ I/O weight' });
    else if (exists(path.join(dir, 'io.weight'))) writes.push({ file: path.join(dir, 'io.weight'), value: String(blkioWeightToIoWeight(b.weight)), why: 'setting the I/O weight (converted from 10..1000)' });
    else throw noWeight('weight', 'io.weight and io.bfq.weight');
  }
  // Per-device BFQ weights came with Linux 5.4: io.bfq.weight then reads "default 100", not "100".
  const bfqDevices = hasBfq && !/^\d+$/.test((readText(bfq) ?? '').trim());
  for (const d of b.weightDevices ?? []) {
    if (d.weight !== undefined && bfqDevices) writes.push({ file: bfq, value: `${devName(d)} ${d.weight}`, why: 'setting a device\'s BFQ weight', onError: deviceError('weightDevice', d) });
  }
  if (b.weightDevices?.some((d) => d.weight !== undefined) && !bfqDevices) left.push('linux.resources.blockIO.weightDevice is left out: cgroup v2 has per-device weights only with the BFQ scheduler (io.bfq.weight), as runc');
  if (b.leafWeight !== undefined || b.weightDevices?.some((d) => d.leafWeight !== undefined)) left.push('linux.resources.blockIO.leafWeight is left out: cgroup v2 has no leaf weights (they were v1 CFQ\'s), as runc');
  for (const t of b.throttle ?? []) {
    writes.push({ file: path.join(dir, 'io.max'), value: `${devName(t)} ${t.kind}=${t.rate}`, why: `setting ${THROTTLE_NAME[t.kind]} in io.max`, onError: deviceError(THROTTLE_NAME[t.kind], t) });
  }
  return { writes, left };
}
