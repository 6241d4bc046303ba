// The one mountinfo parser (runtime/src/sys/mountinfo.ts), on lines as the kernel writes them.

import { describe, expect, it } from 'vitest';
import { mountHolding, parseMountinfo } from '../../runtime/src/sys/mountinfo.ts';
import { parseMountinfo as cgroupMountsIn } from '../../runtime/src/cgroups/mounts.ts';

const TEXT = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro',
  '36 22 98:0 /mnt1 /mnt/my\\040disk rw,nosuid,noexec master:1 shared:7 - ext3 /dev/root rw,errors=continue',
  '40 22 0:35 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,memory',
  '41 22 0:36 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd',
  '42 22 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate',
  'garbage',
  '',
].join('\n');

describe('parseMountinfo', () => {
  it('reads every field, finds the fields after the optional ones by the "-", and unescapes paths', () => {
    const m = parseMountinfo(TEXT);
    expect(m).toHaveLength(5);
    expect(m[1]).toEqual({
      id: 36, parent: 22, root: '/mnt1', mountpoint: '/mnt/my disk', options: ['rw', 'nosuid', 'noexec'],
      fstype: 'ext3', source: '/dev/root', superOptions: ['rw', 'errors=continue'],
    });
  });

  it('finds the mount that holds a path: the longest mount point containing it', () => {
    const m = parseMountinfo(TEXT);
    expect(mountHolding(m, '/mnt/my disk/a/b')?.id).toBe(36);
    expect(mountHolding(m, '/mnt/my diskette')?.id).toBe(22); // a prefix of the name is not inside
    expect(mountHolding(m, '/')?.id).toBe(22);
  });

  it('gives the cgroup driver its hierarchies: v1 with controllers, v2; not a controller-less name=systemd', () => {
    expect(cgroupMountsIn(TEXT)).toEqual([
      { version: 1, mountpoint: '/sys/fs/cgroup/memory', root: '/', controllers: ['memory'] },
      { version: 2, mountpoint: '/sys/fs/cgroup/unified', root: '/', controllers: [] },
    ]);
  });
});
