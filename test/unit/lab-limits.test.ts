// The knobs of the lab's limits: the disk size (npm start --disk-size / $ISOLAB_DISK_SIZE,
// passed to box as --storage-opt size=...), and which uid range a container's root gets.
// test/integration/lab-attacks.test.ts checks that they hold inside real sandboxes.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseOptions, UsageError } from '../../src/server/options.ts';
import { boxRunCommand } from '../../src/server/sandbox.ts';
import { parseStorageOpts } from '../../runtime/src/container/disk.ts';
import { mapsEveryId, usernsRange } from '../../runtime/src/container/config.ts';
import { claimIdRange, heldIdRanges } from '../../runtime/src/container/id-ranges.ts';
import { containerDir } from '../../runtime/src/container/state.ts';
import { containerPlan, processSpec } from '../../runtime/src/container/build-plan.ts';
import { runConfigFrom } from '../../runtime/src/container/run-flags.ts';
import { applyLab, labStoreBytes, LAB_DEFAULT_DISK_BYTES } from '../../runtime/src/container/lab.ts';
import { parseSize } from '../../runtime/src/cgroups/index.ts';
import { UserError } from '../../runtime/src/sys/errors.ts';
import type { RunConfig } from '../../runtime/src/container/config.ts';

describe('the disk limit', () => {
  it('npm start takes --disk-size, or $ISOLAB_DISK_SIZE, and refuses what is not a size', () => {
    expect(parseOptions([], {}).diskSize).toBeUndefined();
    expect(parseOptions(['--disk-size', '2G'], {}).diskSize).toBe('2g');
    expect(parseOptions([], { ISOLAB_DISK_SIZE: '512m' }).diskSize).toBe('512m');
    expect(parseOptions(['--disk-size=256m'], { ISOLAB_DISK_SIZE: '512m' }).diskSize).toBe('256m');
    for (const bad of ['lots', '1m', '2p', '-5g', '']) {
      expect(() => parseOptions(['--disk-size', bad], {}), bad).toThrow(UsageError);
    }
    expect(() => parseOptions([], { ISOLAB_DISK_SIZE: 'huge' })).toThrow(/ISOLAB_DISK_SIZE needs a size/);
  });

  it('the server passes it to box run as --storage-opt size=', () => {
    const args = boxRunCommand('box', 'lab-x', undefined, { diskSize: '512m' }).args;
    expect(args.slice(args.indexOf('--storage-opt'), args.indexOf('--storage-opt') + 2)).toEqual(['--storage-opt', 'size=512m']);
    expect(boxRunCommand('box', 'lab-x').args).not.toContain('--storage-opt');
  });

  it('box run --storage-opt takes size= only, at least 16m', () => {
    expect(parseStorageOpts(['size=1g'], parseSize)).toBe(1024 ** 3);
    expect(parseStorageOpts([], parseSize)).toBeUndefined();
    expect(() => parseStorageOpts(['size=1m'], parseSize)).toThrow(/at least 16m/);
    expect(() => parseStorageOpts(['quota=1g'], parseSize)).toThrow(UserError);
  });

  it('--lab gives every sandbox a disk, and a store tmpfs below its memory limit', () => {
    const cfg = { volumes: [], devices: [], namespaces: [], env: [] } as unknown as RunConfig;
    expect(applyLab(cfg).diskBytes).toBe(LAB_DEFAULT_DISK_BYTES);
    expect(applyLab({ ...cfg, diskBytes: 300 * 1024 ** 2 }).diskBytes).toBe(300 * 1024 ** 2);
    expect(labStoreBytes({ ...cfg, memoryBytes: 512 * 1024 ** 2 })).toBe(256 * 1024 ** 2);
    expect(labStoreBytes(cfg)).toBe(2 * 1024 ** 3);
  });
});

describe('uid ranges', () => {
  it('on a host every id is mapped; inside a sandbox, nested containers take the upper half of its range', () => {
    expect(mapsEveryId('         0          0 4294967295\n')).toBe(true);
    expect(mapsEveryId('         0     165536      65536\n')).toBe(false);
    expect(usernsRange('0 165536 65536')).toEqual({ base: 32768, size: 32768 });
    expect(() => usernsRange('0 1000 1')).toThrow(/maps only 1 ids/);
  });
});

describe('claimIdRange', () => {
  const HOST_MAP = '0 0 4294967295\n';
  let saved: string | undefined;
  let root: string;
  let table: string;
  beforeEach(() => {
    saved = process.env.BOX_ROOT;
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-ranges-'));
    table = path.join(root, 'table');
    process.env.BOX_ROOT = root;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.BOX_ROOT;
    else process.env.BOX_ROOT = saved;
    fs.rmSync(root, { recursive: true, force: true });
  });
  const container = (n: number) => {
    const id = n.toString(16).padStart(64, '0');
    fs.mkdirSync(containerDir(id), { recursive: true });
    return id;
  };

  it('gives each container its own range, the lowest free, and reuses one only once its container is gone', () => {
    const [a, b, c] = [container(1), container(2), container(3)];
    expect(claimIdRange(a, HOST_MAP, table)).toEqual({ base: 100000, size: 65536 });
    expect(claimIdRange(b, HOST_MAP, table)).toEqual({ base: 165536, size: 65536 });
    expect([...heldIdRanges(table).keys()]).toEqual([100000, 165536]);
    fs.rmSync(containerDir(a), { recursive: true }); // box rm, --rm, or the reaper after a SIGKILL
    expect(claimIdRange(c, HOST_MAP, table).base).toBe(100000);
    expect(heldIdRanges(table).get(165536)).toBe(containerDir(b));
  });

  it('inside a sandbox, leaves the table alone and takes the upper half of its ids', () => {
    expect(claimIdRange(container(4), '0 165536 65536\n', table)).toEqual({ base: 32768, size: 32768 });
    expect(fs.existsSync(table)).toBe(false);
  });
});

describe('the user namespace owner', () => {
  it('is the container\'s own uid: box-init takes it (keeping CAP_SYS_ADMIN) just before unshare(CLONE_NEWUSER)', () => {
    const cfg = runConfigFrom(['--userns', 'busybox']);
    const rootfs = { rootfs: '/r/rootfs', upperDir: '/r/upper', workDir: '/r/work', lowerDirs: ['/l/1'], readOnly: false, volumes: [], chroot: false, maskPaths: true, devices: [] };
    const proc = processSpec(cfg, { Cmd: ['sh'] });
    const lines = containerPlan(cfg, rootfs, proc, {}, 165536).ops.map((o) => `${o.args[0]} ${o.text}`);
    const userns = lines.indexOf('unshare CLONE_NEWUSER');
    expect(lines.slice(userns - 5, userns + 2)).toEqual([
      'prctl PR_SET_KEEPCAPS, 1', 'setgroups 0, []', 'setresgid 165536, 165536, 165536', 'setresuid 165536, 165536, 165536',
      'capset SYS_ADMIN', 'unshare CLONE_NEWUSER', 'prctl PR_SET_PDEATHSIG, 9',
    ]);
    // Nested in a sandbox (no owner given), box-init creates it as it is.
    const nested = containerPlan(cfg, rootfs, proc).ops.map((o) => o.args[0]);
    expect(nested[nested.indexOf('unshare', nested.indexOf('unshare') + 1) - 1]).not.toBe('capset');
  });
});
