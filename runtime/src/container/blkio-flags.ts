// Docker's block I/O flags for box run: --blkio-weight and --device-{read,write}-{bps,iops}.
// A device is named by its path (/dev/vda), as in Docker; the kernel's cgroup files take its
// numbers (MAJ:MIN), which are the st_rdev of the device node. The cgroup drivers write them
// (cgroups/blkio.ts); an OCI config's blockIO goes the same way.

import fs from 'node:fs';
import { parseSize } from '../cgroups/index.ts';
import type { BlockIOLimits, ThrottleKind } from '../cgroups/types.ts';
import { UserError } from '../sys/errors.ts';
import type { OptionSpec } from './args.ts';

export const BLKIO_OPTIONS: OptionSpec[] = [
  { name: 'blkio-weight', value: true, help: 'share of disk time when disks are busy, 10 to 1000 (needs the BFQ I/O scheduler on the disk)' },
  { name: 'device-read-bps', value: true, repeat: true, help: 'cap reads from a disk: --device-read-bps /dev/vda:1mb' },
  { name: 'device-write-bps', value: true, repeat: true, help: 'cap writes to a disk: --device-write-bps /dev/vda:1mb' },
  { name: 'device-read-iops', value: true, repeat: true, help: 'cap read operations per second: --device-read-iops /dev/vda:100' },
  { name: 'device-write-iops', value: true, repeat: true, help: 'cap write operations per second: --device-write-iops /dev/vda:100' },
];

const FLAG_KIND: [string, ThrottleKind][] = [
  ['device-read-bps', 'rbps'], ['device-write-bps', 'wbps'], ['device-read-iops', 'riops'], ['device-write-iops', 'wiops'],
];

/** A block device node's numbers. Linux's dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31 (glibc's gnu_dev_major/minor). */
export function blockDevice(file: string, flag: string): { major: number; minor: number } {
  let st: fs.BigIntStats;
  try {
    st = fs.statSync(file, { bigint: true });
  } catch {
    throw new UserError(`${flag}: ${file} does not exist; name a disk, e.g. /dev/vda ('lsblk -d' lists them)`);
  }
  if (!st.isBlockDevice()) throw new UserError(`${flag}: ${file} is not a block device; name a disk, e.g. /dev/vda ('lsblk -d' lists them)`);
  const dev = st.rdev;
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return { major, minor };
}

/** The block I/O limits of box run's flags, or undefined when none is given. */
export function blockIOFrom(opts: Record<string, unknown>): BlockIOLimits | undefined {
  const throttle: BlockIOLimits['throttle'] = [];
  for (const [flag, kind] of FLAG_KIND) {
    for (const v of (opts[flag] as string[] | undefined) ?? []) {
      const at = v.lastIndexOf(':');
      const rate = v.slice(at + 1);
      if (at <= 0 || rate === '') throw new UserError(`--${flag} '${v}': give DEVICE:RATE, e.g. --${flag} /dev/vda:${kind.endsWith('bps') ? '1mb' : '100'}`);
      const perSecond = kind.endsWith('bps') ? parseSize(rate, `--${flag}`) : /^[1-9]\d*$/.test(rate) ? Number(rate) : NaN;
      if (!Number.isSafeInteger(perSecond)) throw new UserError(`--${flag} '${v}': ${rate} is not a whole number of operations per second above 0`);
      throttle.push({ ...blockDevice(v.slice(0, at), `--${flag}`), kind, rate: perSecond });
    }
  }
  const w = opts['blkio-weight'] as string | undefined;
  // 0 is Docker's "not set"; the range is checked with the other limits (cgroups/limits.ts).
  const weight = w === undefined || w === '0' ? undefined : /^\d+$/.test(w) ? Number(w) : NaN;
  if (Number.isNaN(weight)) throw new UserError(`--blkio-weight '${w}': give a number from 10 to 1000`);
  if (weight === undefined && throttle.length === 0) return undefined;
  return { ...(weight !== undefined ? { weight } : {}), ...(throttle.length ? { throttle } : {}) };
}
