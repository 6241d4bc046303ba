// box run's Docker block I/O flags (container/blkio-flags.ts) and the Engine API's HostConfig
// fields that become them. The throttles are written for real in
// test/integration/oci-resources.test.ts.

import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { blockDevice, blockIOFrom } from '../../runtime/src/container/blkio-flags.ts';
import { runConfigFrom } from '../../runtime/src/container/run-flags.ts';
import '../../runtime/src/engine/api/http.ts'; // first: containers.ts and the routes import each other
import { runArgsFrom } from '../../runtime/src/engine/api/containers.ts';

/** A block device node of this machine and the numbers sysfs gives for it, or null. */
function someDisk(): { node: string; numbers: string } | null {
  for (const name of fs.existsSync('/sys/class/block') ? fs.readdirSync('/sys/class/block') : []) {
    const node = `/dev/${name}`;
    try {
      if (fs.statSync(node).isBlockDevice()) return { node, numbers: fs.readFileSync(`/sys/class/block/${name}/dev`, 'utf8').trim() };
    } catch { /* no node for it here */ }
  }
  return null;
}

describe('box run --blkio-weight and --device-{read,write}-{bps,iops}', () => {
  it('names the device by its numbers, as the kernel\'s st_rdev gives them (sysfs agrees)', (ctx) => {
    const disk = someDisk();
    if (!disk) return ctx.skip(); // no block device node on this machine: the integration test covers a real disk
    const { major, minor } = blockDevice(disk.node, '--device-read-bps');
    expect(`${major}:${minor}`).toBe(disk.numbers);
    expect(blockIOFrom({ 'device-read-bps': [`${disk.node}:1mb`], 'device-write-iops': [`${disk.node}:50`], 'blkio-weight': '300' })).toEqual({
      weight: 300,
      throttle: [{ major, minor, kind: 'rbps', rate: 1 << 20 }, { major, minor, kind: 'wiops', rate: 50 }],
    });
  });

  it('none given, or a weight of 0 (Docker\'s "not set"): no block I/O limits at all', () => {
    expect(blockIOFrom({})).toBeUndefined();
    expect(blockIOFrom({ 'blkio-weight': '0' })).toBeUndefined();
    expect('blockIO' in runConfigFrom(['busybox'])).toBe(false);
  });

  it('refuses bad input in one line naming the flag', () => {
    expect(() => blockIOFrom({ 'device-read-bps': ['/dev/null:1mb'] })).toThrow("--device-read-bps: /dev/null is not a block device; name a disk, e.g. /dev/vda ('lsblk -d' lists them)");
    expect(() => blockIOFrom({ 'device-write-bps': ['/nonexistent-disk:1mb'] })).toThrow('--device-write-bps: /nonexistent-disk does not exist');
    expect(() => blockIOFrom({ 'device-read-iops': ['/dev/null'] })).toThrow("--device-read-iops '/dev/null': give DEVICE:RATE, e.g. --device-read-iops /dev/vda:100");
    expect(() => blockIOFrom({ 'device-write-iops': ['/dev/null:fast'] })).toThrow("--device-write-iops '/dev/null:fast': fast is not a whole number of operations per second above 0");
    expect(() => blockIOFrom({ 'device-read-bps': ['/dev/null:lots'] })).toThrow("--device-read-bps: 'lots' is not a size");
    expect(() => blockIOFrom({ 'blkio-weight': 'heavy' })).toThrow("--blkio-weight 'heavy': give a number from 10 to 1000");
  });

  it('the Engine API\'s HostConfig BlkioWeight and BlkioDevice* become these flags', () => {
    const args = runArgsFrom({
      Image: 'busybox',
      HostConfig: { BlkioWeight: 300, BlkioDeviceReadBps: [{ Path: '/dev/vda', Rate: 1048576 }], BlkioDeviceWriteIOps: [{ Path: '/dev/vda', Rate: 50 }] },
    } as Parameters<typeof runArgsFrom>[0], null);
    expect(args).toEqual(expect.arrayContaining(['--blkio-weight', '300', '--device-read-bps', '/dev/vda:1048576', '--device-write-iops', '/dev/vda:50']));
    expect(args.indexOf('--device-read-bps') + 1).toBe(args.indexOf('/dev/vda:1048576'));
  });
});
