// config.json into box's shapes (oci/bundle.ts): what is honoured becomes plan ops, what
// cannot be honoured is refused in one line naming the fix. The same behaviour runs for real
// in test/integration/oci-runtime.test.ts.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readBundle } from '../../runtime/src/oci/bundle.ts';
import { containerPlan, finishProcess } from '../../runtime/src/container/build-plan.ts';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { needs } from '../support/requires.ts';
import { Plan } from '../../runtime/src/init/plan.ts';
import { buildRootfs } from '../../runtime/src/rootfs/rootfs.ts';
import { ruleText } from '../../runtime/src/cgroups/devices.ts';

let dir = '';
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'boxunit-oci-'));
  fs.mkdirSync(path.join(dir, 'rootfs'));
  fs.chmodSync(dir, 0o711); // a user namespace's root (an unprivileged id) must reach the root filesystem
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// A user namespace to join, as any user may make one: `unshare --user --map-root-user` maps
// its root to whoever ran it and writes "deny" to its setgroups file.
const usernsWorks = spawnSync('unshare', ['--user', '--map-root-user', 'true']).status === 0;
const withUserns = needs(usernsWorks ? '' : 'unshare --user --map-root-user fails here (util-linux missing, or user namespaces disabled)');
let holder: ChildProcess | undefined;
beforeAll(async () => {
  if (!usernsWorks) return;
  holder = spawn('unshare', ['--user', '--map-root-user', 'sleep', '60'], { stdio: 'ignore' });
  const mine = fs.readlinkSync('/proc/self/ns/user');
  for (let i = 0; i < 200; i++) {
    try {
      if (fs.readlinkSync(`/proc/${holder.pid}/ns/user`) !== mine && fs.readFileSync(`/proc/${holder.pid}/uid_map`, 'utf8').trim()) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('unshare made no user namespace');
});
afterAll(() => { holder?.kill('SIGKILL'); });

const NS = [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }, { type: 'network' }];

function read(config: Record<string, unknown>, linux: Record<string, unknown> = {}) {
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
    root: { path: 'rootfs' }, process: { args: ['sh'] }, ...config, linux: { namespaces: NS, ...linux },
  }));
  return readBundle(dir);
}

const refusal = (config: Record<string, unknown>, linux: Record<string, unknown> = {}) => {
  try {
    read(config, linux);
  } catch (err) {
    return (err as Error).message;
  }
  return 'accepted';
};

describe('readBundle', () => {
  it('process: the user\'s groups and umask, each capability set, the terminal', () => {
    const b = read({
      process: {
        args: ['sh'], terminal: true, consoleSize: { height: 30, width: 100 },
        user: { uid: 1000, gid: 1000, additionalGids: [5, 7], umask: 0o077 },
        capabilities: { bounding: ['CAP_KILL', 'CAP_CHOWN'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], inheritable: ['CAP_KILL'], ambient: ['CAP_KILL'] },
      },
    });
    expect(b.proc).toMatchObject({ uid: 1000, gid: 1000, groups: [5, 7], umask: 0o077, tty: true, consoleSize: { height: 30, width: 100 } });
    expect(b.proc.capSets).toEqual({ effective: 1n << 5n, permitted: 1n << 5n, inheritable: 1n << 5n, ambient: 1n << 5n });
    // Absent: umask 022 and no supplementary groups, as runc.
    expect(read({}).proc).toMatchObject({ umask: 0o22, groups: [], tty: false });
  });

  it('becomes capset with all three sets, the ambient raise, setgroups and umask in the plan', () => {
    const b = read({ process: { args: ['sh'], user: { uid: 1000, gid: 1000, additionalGids: [5] }, capabilities: { bounding: ['CAP_KILL'], permitted: ['CAP_KILL'], inheritable: ['CAP_KILL'], ambient: ['CAP_KILL'] } } });
    const plan = new Plan();
    finishProcess(plan, b.cfg, b.proc, { newTimeNs: false });
    const ops = plan.ops.map((o) => o.args);
    expect(ops).toContainEqual(['setgroups', '5']);
    expect(ops).toContainEqual(['capset', '0x0', '0x20', '0x20']);
    expect(ops).toContainEqual(['ambient', '0x20', expect.any(String)]);
    expect(ops).toContainEqual(['umask', '022']);
    expect(ops.findIndex((a) => a[0] === 'setresuid')).toBeLessThan(ops.findIndex((a) => a[0] === 'capset'));
  });

  it('sysctls: only those of the container\'s own namespaces', () => {
    expect(read({}, { sysctl: { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1', 'fs.mqueue.msg_max': '10' } }).rootfs.sysctl).toEqual({ 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1', 'fs.mqueue.msg_max': '10' });
    expect(refusal({}, { sysctl: { 'kernel.pid_max': '1' } })).toMatch(/kernel\.pid_max is not in a separate kernel namespace/);
    expect(refusal({}, { sysctl: { 'vm.overcommit_memory': '1' } })).toMatch(/not in a separate kernel namespace/);
    expect(refusal({}, { namespaces: [{ type: 'mount' }], sysctl: { 'kernel.sem': '1' } })).toMatch(/not allowed in the host's ipc namespace; add \{"type": "ipc"\}/);
    expect(refusal({}, { sysctl: { 'net/../../kernel/x': '1' } })).toMatch(/is not a sysctl name/);
    expect(refusal({}, { sysctl: { 'kernel.hostname': 'x' } })).toMatch(/conflicts with the config's hostname field/);
  });

  it('masked and read-only paths are the config\'s (none when absent), absolute only', () => {
    expect(read({}, { maskedPaths: ['/proc/kcore'], readonlyPaths: ['/proc/sys'] }).rootfs).toMatchObject({ maskedPaths: ['/proc/kcore'], readonlyPaths: ['/proc/sys'] });
    expect(read({}).rootfs).toMatchObject({ maskedPaths: [], readonlyPaths: [] });
    expect(refusal({}, { maskedPaths: ['proc/kcore'] })).toMatch(/linux\.maskedPaths 'proc\/kcore' is not an absolute path/);
  });

  it('user namespaces: mappings as uid_map takes them, 0 mapped, and only with a user namespace', () => {
    const maps = [{ containerID: 0, hostID: 100000, size: 65536 }, { containerID: 65536, hostID: 300000, size: 10 }];
    const b = read({}, { namespaces: [...NS, { type: 'user' }], uidMappings: maps, gidMappings: maps });
    expect(b.cfg.userns).toBe(true);
    expect(b.idMaps).toEqual({ uid: '0 100000 65536\n65536 300000 10\n', gid: '0 100000 65536\n65536 300000 10\n', rootUid: 100000, rootGid: 100000 });
    expect(refusal({}, { uidMappings: maps, gidMappings: maps })).toMatch(/need a user namespace/);
    expect(refusal({}, { namespaces: [...NS, { type: 'user' }] })).toMatch(/a user namespace needs linux\.uidMappings/);
    expect(refusal({}, { namespaces: [...NS, { type: 'user' }], uidMappings: [{ containerID: 0, hostID: 4294967290, size: 10 }], gidMappings: maps })).toMatch(/is not a range of ids/);
  });

  withUserns.it('a user namespace joined by path: its own maps (none written), joined after the others, before the mount namespace', () => {
    const nsPath = `/proc/${holder!.pid}/ns/user`;
    const me = { uid: process.getuid!(), gid: process.getgid!() };
    const namespaces = [{ type: 'mount', path: `/proc/${holder!.pid}/ns/mnt` }, { type: 'user', path: nsPath }, { type: 'uts', path: '/proc/self/ns/uts' }, { type: 'pid' }];
    const b = read({}, { namespaces });
    expect(b.userJoin).toEqual({ path: nsPath, rootUid: me.uid, rootGid: me.gid, setgroups: false });
    expect(b.idMaps).toBeUndefined();
    expect(b.cfg.userns).toBe(false); // nothing to unshare: box-init setns's into it
    expect(b.joins.map((j) => j.path)).toEqual(['/proc/self/ns/uts', nsPath, `/proc/${holder!.pid}/ns/mnt`]);
    // setgroups says deny: the process keeps its groups (no setgroups op), as runc.
    expect(b.proc.keepGroups).toBe(true);
    const plan = new Plan();
    finishProcess(plan, b.cfg, b.proc, { newTimeNs: false });
    expect(plan.ops.map((o) => o.args[0])).not.toContain('setgroups');
    // The config may repeat the namespace's maps (containerd and CRI-O do); other maps are an error.
    const same = [{ containerID: 0, hostID: me.uid, size: 1 }];
    expect(read({}, { namespaces, uidMappings: same, gidMappings: [{ containerID: 0, hostID: me.gid, size: 1 }] }).userJoin?.rootUid).toBe(me.uid);
    const other = [{ containerID: 0, hostID: 100000, size: 65536 }];
    expect(refusal({}, { namespaces, uidMappings: other, gidMappings: other })).toMatch(/uidMappings\/gidMappings differ from the maps of the user namespace .* it joins; remove them/);
    expect(refusal({ process: { args: ['sh'], user: { uid: 0, gid: 0, additionalGids: [5] } } }, { namespaces })).toMatch(/additionalGids cannot be set: the user namespace .* denies setgroups/);
    // A new user namespace cannot use a joined mount namespace (it owns none of it).
    expect(refusal({}, { namespaces: [{ type: 'mount', path: `/proc/${holder!.pid}/ns/mnt` }, { type: 'user' }], uidMappings: other, gidMappings: other }))
      .toMatch(/a mount namespace joined by path cannot be used from a new user namespace.*join that user namespace by path too/);
  });

  it('a namespace path of the wrong kind, a missing one, or the host\'s own user namespace is refused', () => {
    expect(refusal({}, { namespaces: [...NS, { type: 'user', path: '/proc/self/ns/uts' }] })).toMatch(/namespace path \/proc\/self\/ns\/uts is a uts namespace, not user \(type "user"\)/);
    expect(refusal({}, { namespaces: [{ type: 'mount', path: '/proc/self/ns/net' }] })).toMatch(/is a net namespace, not mnt \(type "mount"\)/);
    expect(refusal({}, { namespaces: [...NS, { type: 'user', path: '/proc/self/ns/user' }] })).toMatch(/is the host's own user namespace, not one to join/);
    expect(refusal({}, { namespaces: [...NS, { type: 'user', path: '/nonexistent/ns/user' }] })).toMatch(/namespace path \/nonexistent\/ns\/user does not exist/);
  });

  it('no mount namespace (runc allows it): chroot into a private bind of the root, nothing done to the host\'s "/"', () => {
    const b = read({}, { namespaces: [{ type: 'pid' }, { type: 'network' }] });
    expect(b.rootfs.hostMountNs).toBe(true);
    const R = path.join(dir, 'rootfs');
    const ops = containerPlan(b.cfg, b.rootfs, b.proc).ops.map((o) => o.args);
    expect(ops).not.toContainEqual(['mount', '', '/', '', String(0x4000 | 0x40000), '']); // MS_REC|MS_PRIVATE on the host's "/"
    const bind = ops.findIndex((a) => a[0] === 'mount' && a[1] === R && a[2] === R);
    expect(ops[bind + 1]).toEqual(['mount', '', R, '', String(0x4000 | 0x40000), '']); // the bind itself made private, first
    expect(ops.map((a) => a[0])).not.toContain('pivot_root');
    expect(ops).toContainEqual(['chroot', '.']);
    // What needs a mount namespace of its own is refused, as runc.
    const noMnt = { namespaces: [{ type: 'pid' }] };
    expect(refusal({}, { ...noMnt, maskedPaths: ['/proc/kcore'] })).toMatch(/maskedPaths and readonlyPaths cannot be applied without a mount namespace of its own; add \{"type": "mount"\}.*unable to restrict sys entries/);
    expect(refusal({}, { ...noMnt, rootfsPropagation: 'shared' })).toMatch(/rootfsPropagation cannot be set without a mount namespace/);
    const maps = [{ containerID: 0, hostID: 100000, size: 65536 }];
    expect(refusal({}, { namespaces: [{ type: 'user' }], uidMappings: maps, gidMappings: maps })).toMatch(/a user namespace cannot be used without a mount namespace of its own/);
    expect(read({}).rootfs.hostMountNs).toBe(false);
    // Nor a hostname without a UTS namespace: it would rename the host (runc's rule).
    expect(refusal({ hostname: 'c1' }, noMnt)).toMatch(/unable to set hostname without a private UTS namespace; add \{"type": "uts"\}/);
    expect(read({ hostname: 'c1' }, { namespaces: [{ type: 'uts', path: '/proc/self/ns/uts' }] }).cfg.hostname).toBe('c1');
  });

  it('hooks: known points, absolute paths, positive timeouts; unknown capabilities refused', () => {
    expect(read({ hooks: { poststop: [{ path: '/bin/true', timeout: 2 }] } }).hooks).toEqual({ poststop: [{ path: '/bin/true', timeout: 2 }] });
    expect(refusal({ hooks: { prestop: [{ path: '/bin/true' }] } })).toMatch(/unknown hook point 'prestop'/);
    expect(refusal({ hooks: { prestart: [{ path: '/bin/true', timeout: 0 }] } })).toMatch(/timeout must be a whole number of seconds above 0/);
    expect(refusal({ process: { args: ['sh'], capabilities: { bounding: ['CAP_TEST'] } } })).toMatch(/unknown capability 'CAP_TEST'/);
    expect(read({}, { rootfsPropagation: 'rshared' }).rootfs.rootPropagation).toBe(0x100000 | 0x4000); // MS_SHARED|MS_REC
    expect(refusal({}, { rootfsPropagation: 'sideways' })).toMatch(/rootfsPropagation 'sideways' is not one of/);
    expect(refusal({ ociVersion: 'invalid' })).toMatch(/ociVersion 'invalid' is not a version of the runtime spec/);
    expect(refusal({ ociVersion: '1.0.2-dev' })).toBe('accepted'); // podman 4.3's
  });

  it('linux.devices: made in /dev with mknod, chmod and lchown (a fifo too), bound from the host in a user namespace', () => {
    const devices = [
      { path: '/dev/test1', type: 'c', major: 10, minor: 666, fileMode: 0o660, uid: 0, gid: 5 },
      { path: '/dev/sub/test2', type: 'b', major: 8, minor: 666 },
      { path: '/dev/test3', type: 'p', fileMode: 0o600 },
    ];
    const plan = new Plan();
    buildRootfs(plan, read({}, { devices }).rootfs, { newIpcNs: true });
    const ops = plan.ops.map((o) => o.args.join(' ').replace(path.join(dir, 'rootfs'), 'R'));
    const made = ops.filter((o) => /^(mknod|chmod|lchown|mkdir R\/dev\/sub)/.test(o));
    expect(made).toEqual([
      'mknod R/dev/test1 020660 10 666', 'chmod R/dev/test1 0660', 'lchown R/dev/test1 0 5',
      'mkdir R/dev/sub 0755', 'mknod R/dev/sub/test2 060666 8 666', 'chmod R/dev/sub/test2 0666', 'lchown R/dev/sub/test2 0 0',
      'mknod R/dev/test3 010600 0 0', 'chmod R/dev/test3 0600', 'lchown R/dev/test3 0 0',
    ]);
    // Listing a harmless node replaces box's bind of the host's.
    const nul = new Plan();
    buildRootfs(nul, read({}, { devices: [{ path: '/dev/null', type: 'c', major: 1, minor: 3 }] }).rootfs, { newIpcNs: true });
    expect(nul.ops.filter((o) => o.args[0] === 'mount' && o.args[1] === '/dev/null')).toEqual([]);

    const maps = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const userns = { namespaces: [...NS, { type: 'user' }], uidMappings: maps, gidMappings: maps };
    const bound = new Plan();
    buildRootfs(bound, read({}, { ...userns, devices: [{ path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o600 }] }).rootfs, { newIpcNs: true, volumesBound: true });
    expect(bound.ops.map((o) => o.args[0])).not.toContain('mknod');
    expect(bound.ops.map((o) => o.args.slice(0, 2).join(' '))).toContain('mount /dev/null');
    expect(refusal({}, { ...userns, devices: [{ path: '/dev/null', type: 'c', major: 1, minor: 5 }] })).toMatch(/binds the host's \/dev\/null, which is c 1:3, not the c 1:5 asked for/);
    expect(refusal({}, { ...userns, devices: [{ path: '/dev/box-no-such', type: 'c', major: 1, minor: 5 }] })).toMatch(/the host has none; create it on the host or drop the user namespace/);
  });

  it('linux.devices: bad entries refused in one line', () => {
    const one = (d: Record<string, unknown>) => refusal({}, { devices: [d] });
    expect(one({ path: '/etc/passwd', type: 'c', major: 1, minor: 3 })).toMatch(/linux\.devices \/etc\/passwd: the path must be a node under \/dev/);
    expect(one({ path: '/dev/../etc/x', type: 'c', major: 1, minor: 3 })).toMatch(/must be a node under \/dev/);
    expect(one({ path: '/dev/pts/9', type: 'c', major: 136, minor: 9 })).toMatch(/\/dev\/pts is box's own/);
    expect(one({ path: '/dev/x', type: 'z', major: 1, minor: 3 })).toMatch(/type 'z' is not one of c, b, u \(devices\) or p \(a fifo\)/);
    expect(one({ path: '/dev/x', type: 'c', minor: 3 })).toMatch(/a 'c' device needs "major" and "minor"/);
    expect(one({ path: '/dev/x', type: 'b', major: -1, minor: 3 })).toMatch(/needs "major" and "minor"/);
    expect(one({ path: '/dev/x', type: 'c', major: 1, minor: 3, uid: -5 })).toMatch(/uid -5 is not a number >= 0/);
    expect(refusal({}, { devices: [{ path: '/dev/x', type: 'p' }, { path: '/dev/x', type: 'p' }] })).toMatch(/lists \/dev\/x twice/);
    expect(one({ path: '/dev/x', type: 'u', major: 1, minor: 3 })).toBe('accepted'); // u: an unbuffered char device
  });

  it('linux.resources.devices: the config\'s rules, then the harmless nodes, then each linux.devices node', () => {
    const rules = (r: unknown[], devices: unknown[] = []) => read({}, { devices, resources: { devices: r } }).deviceRules.map((d) => `${d.allow === false ? 'deny' : 'allow'} ${ruleText(d)}`);
    const podman = rules([{ allow: false, access: 'rwm' }], [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }]);
    expect(podman[0]).toBe('deny a *:* rwm');
    expect(podman).toContain('allow c 1:3 rwm'); // /dev/null stays usable after "deny all"
    expect(podman.at(-1)).toBe('allow c 10:229 rwm'); // the node it makes can be opened
    // A rule for a harmless node itself is the config's to decide: its default is not appended.
    expect(rules([{ allow: false, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'rwm' }])).not.toContain('allow c 1:3 rwm');
    expect(read({}).deviceRules[0]).toEqual({ type: 'c', major: -1, minor: -1, access: 'm' }); // none given: the harmless nodes only
    const bad = (r: Record<string, unknown>) => refusal({}, { resources: { devices: [r] } });
    expect(bad({ type: 'c' })).toMatch(/linux\.resources\.devices\[0\] needs "allow": true or false/);
    expect(bad({ allow: true, type: 'x' })).toMatch(/type 'x' is not one of a \(all\), c or b/);
    expect(bad({ allow: true, type: 'c', major: 1.5 })).toMatch(/major 1\.5 is not a number >= 0/);
    expect(bad({ allow: true, type: 'c', access: 'rx' })).toMatch(/access 'rx' is not made of r, w and m/);
    expect(refusal({}, { resources: { devices: [{ allow: true, type: 'c', access: 'rwm' }, { allow: false, type: 'c', major: 4, minor: 1, access: 'r' }] } }))
      .toMatch(/linux\.resources\.devices: device rule "deny c 4:1 r" cuts a hole in the earlier "allow c \*:\* rwm"/);
  });
});
