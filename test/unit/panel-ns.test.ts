// The kernel panel's namespace view (src/server/panel-ns.ts): which processes share which
// namespace, from a /proc laid out in a temporary directory the way the kernel shows it
// (status with NSpid, and ns/<type> links reading "pid:[4026532712]"), then from the real /proc.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { groupNamespaces, namespaceSnapshot, NS_TYPES, parseNsLink, parseStatus } from '../../src/server/panel-ns.ts';
import type { NsType } from '../../src/server/panel-ns.ts';

let proc = '';
beforeEach(() => { proc = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-panel-proc-')); });
afterEach(() => fs.rmSync(proc, { recursive: true, force: true }));

const SANDBOX: Record<NsType, number> = { mnt: 4026532550, pid: 4026532553, net: 4026532554, ipc: 4026532552, uts: 4026532551, user: 4026532549, cgroup: 4026532548, time: 4026531834 };

/** A process in the fake /proc: its host pid, its NSpid chain, parent, name, namespaces. */
function fakeProcess(hostPid: number, nspid: number[], ppid: number, name: string, ns: Partial<Record<NsType, number>>, cmdline = name): void {
  const dir = path.join(proc, String(hostPid));
  fs.mkdirSync(path.join(dir, 'ns'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'status'), `Name:\t${name}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t${hostPid}\nNgid:\t0\nPid:\t${hostPid}\nPPid:\t${ppid}\nNSpid:\t${nspid.join('\t')}\nNSpgid:\t${nspid.join('\t')}\n`);
  fs.writeFileSync(path.join(dir, 'cmdline'), cmdline.split(' ').join('\0') + '\0');
  for (const [type, inode] of Object.entries({ ...SANDBOX, ...ns })) fs.symlinkSync(`${type}:[${inode}]`, path.join(dir, 'ns', type));
}

describe('parsers', () => {
  it('reads a namespace link and the status lines', () => {
    expect(parseNsLink('pid:[4026532712]')).toBe(4026532712);
    expect(parseNsLink('/etc/passwd')).toBeNull();
    expect(parseStatus('Name:\tsleep\nPPid:\t39\nNSpid:\t5123\t40\t1\n')).toEqual({ nspid: [5123, 40, 1], ppid: 39, comm: 'sleep' });
    expect(parseStatus('Name:\tev\x1bil\n').comm).toBe('ev?il');
  });
});

describe('namespaceSnapshot', () => {
  beforeEach(() => {
    // The sandbox: box's init stage outside its PID namespace (host pid 900), its shell (PID 1
    // inside), box (a `run -d` monitor), and a container: box-init and its PID 1, sleep.
    fakeProcess(900, [900], 1, 'box-init', { pid: 4026531836, cgroup: 4026531835 });
    fakeProcess(901, [901, 1], 900, 'bash', {});
    fakeProcess(928, [928, 28], 901, 'MainThread', {}, '/opt/box/node_modules/node/bin/node /opt/box/runtime/build/box.cjs __monitor');
    const container = { mnt: 4026532400, net: 4026532404, ipc: 4026532402, uts: 4026532401 };
    fakeProcess(939, [939, 39], 928, 'box-init', container);
    fakeProcess(940, [940, 40, 1], 939, 'sleep', { ...container, pid: 4026532403, cgroup: 4026532473 });
  });

  it("numbers processes as the sandbox does and leaves out those it cannot see", () => {
    const snap = namespaceSnapshot([940, 939, 928, 901, 900], 901, 64, proc);
    expect(snap.processes.map((p) => [p.pid, p.innerPid, p.ppid, p.comm])).toEqual([
      [1, 1, 0, 'bash'],
      [28, 28, 1, 'box'], // Node's "MainThread" shown as the script it runs
      [39, 39, 28, 'box-init'],
      [40, 1, 39, 'sleep'],
    ]);
    expect(snap.sandbox).toEqual(SANDBOX);
    expect(snap.more).toBe(0);
  });

  it('groups the processes of each type by namespace, the sandbox’s first', () => {
    const snap = namespaceSnapshot([900, 901, 928, 939, 940], 901, 64, proc);
    expect(snap.groups.pid).toEqual([{ inode: SANDBOX.pid, pids: [1, 28, 39] }, { inode: 4026532403, pids: [40] }]);
    expect(snap.groups.net).toEqual([{ inode: SANDBOX.net, pids: [1, 28] }, { inode: 4026532404, pids: [39, 40] }]);
    expect(snap.groups.user).toEqual([{ inode: SANDBOX.user, pids: [1, 28, 39, 40] }]);
    expect(Object.keys(snap.groups)).toEqual([...NS_TYPES]);
  });

  it('shows a new namespace as it is made, and only processes that still exist', () => {
    const before = namespaceSnapshot([901], 901, 64, proc);
    expect(before.groups.net).toHaveLength(1);
    fakeProcess(950, [950, 50], 901, 'unshare', { net: 4026532999 });
    const after = namespaceSnapshot([901, 950, 12345], 901, 64, proc); // 12345 exited meanwhile
    expect(after.groups.net).toEqual([{ inode: SANDBOX.net, pids: [1] }, { inode: 4026532999, pids: [50] }]);
    expect(after.processes.map((p) => p.pid)).toEqual([1, 50]);
  });

  it('keeps the sandbox’s namespace listed even when none of the listed processes is in it', () => {
    const groups = groupNamespaces([{ pid: 40, innerPid: 1, ppid: 0, comm: 'sleep', ns: { pid: 7 } }], { pid: 5 });
    expect(groups.pid).toEqual([{ inode: 5, pids: [] }, { inode: 7, pids: [40] }]);
  });

  it('reads at most `limit` processes and says how many more there are', () => {
    for (let i = 0; i < 10; i++) fakeProcess(1000 + i, [1000 + i, 100 + i], 901, 'sh', {});
    const snap = namespaceSnapshot([901, ...Array.from({ length: 10 }, (_, i) => 1000 + i)], 901, 4, proc);
    expect(snap.processes).toHaveLength(4);
    expect(snap.more).toBe(7);
  });

  it('reads the real /proc: this process and its namespaces', () => {
    const snap = namespaceSnapshot([process.pid], process.pid);
    expect(snap.processes).toHaveLength(1);
    const mine = fs.readlinkSync(`/proc/${process.pid}/ns/pid`);
    expect(`pid:[${snap.processes[0]!.ns.pid}]`).toBe(mine);
    expect(snap.groups.pid).toEqual([{ inode: snap.sandbox.pid, pids: [snap.processes[0]!.pid] }]);
  });
});
