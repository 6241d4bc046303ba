// Huge page limits (OCI linux.resources.hugepageLimits): how many bytes of huge pages of one
// size the cgroup may fault in. The hugetlb controller has a file per page size the kernel
// supports, named as runc names them (2MB, 1GB): v1 hugetlb.2MB.limit_in_bytes, v2
// hugetlb.2MB.max. Since Linux 5.7 a second file, hugetlb.2MB.rsvd.*, limits reservations
// (mmap time rather than fault time); runc sets both to the same value, and so does box.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import { exists, type CgroupWrite } from './files.ts';

/** The page sizes this cgroup has files for, e.g. ["2MB", "1GB"]. */
function pageSizes(dir: string, suffix: string): string[] {
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch { /* no directory: no sizes */ }
  const re = new RegExp(`^hugetlb\\.([0-9]+[KMGTP]?B)\\.${suffix.replace('.', '\\.')}$`);
  const bytes = (s: string) => parseInt(s, 10) * 1024 ** 'BKMGTP'.indexOf(s.replace(/^[0-9]+/, '')[0]!);
  return names.map((n) => re.exec(n)?.[1]).filter((s): s is string => !!s).sort((a, b) => bytes(a) - bytes(b));
}

/** The writes for `limits` in a hugetlb cgroup `dir`; `suffix` is limit_in_bytes (v1) or max (v2). */
export function hugetlbWrites(dir: string, limits: { pageSize: string; bytes: number }[], suffix: 'limit_in_bytes' | 'max'): CgroupWrite[] {
  const writes: CgroupWrite[] = [];
  for (const { pageSize, bytes } of limits) {
    const file = path.join(dir, `hugetlb.${pageSize}.${suffix}`);
    if (!exists(file)) {
      // A size the CPU or kernel lacks (e.g. 3MB): checked before anything is written.
      const have = pageSizes(dir, suffix);
      throw new UserError(`linux.resources.hugepageLimits: this kernel has no ${pageSize} huge pages; use ${have.length ? `one of ${have.join(', ')}` : 'a size listed in /sys/kernel/mm/hugepages'}`);
    }
    writes.push({ file, value: String(bytes), why: `limiting ${pageSize} huge pages` });
    const rsvd = path.join(dir, `hugetlb.${pageSize}.rsvd.${suffix}`);
    if (exists(rsvd)) writes.push({ file: rsvd, value: String(bytes), why: `limiting ${pageSize} huge page reservations` });
  }
  return writes;
}
