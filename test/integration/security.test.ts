// Capabilities, no_new_privs and the seccomp filter on the real kernel, through the path box
// uses: `box run` builds the plan, box-init applies it, and the container's own processes
// read /proc/self/status and try the calls that must be refused, from inside.
//
// A small static C program (test/fixtures/probe/syscall-probe.c) makes raw system calls in the
// container: every argument -1 unless given, so a call the filter wrongly let through fails in
// the kernel instead of changing this machine. Each case runs beside a control, the same
// container with the lock off (seccomp=unconfined, no-new-privileges=false), so that what is
// asserted is the lock's doing and not the kernel refusing for some other reason.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DOCKER_BLOCKED_SYSCALLS } from '../../runtime/src/security/seccomp.ts';
import { syscallNumber } from '../../runtime/src/security/syscalls_x86_64.ts';
import { box, has, rootReason, tempBoxRoot } from './helpers.ts';
import { parseSecurityStatus } from '../support/proc-status.ts';
import { hostFact, need, needs } from '../support/requires.ts';

const { EPERM, ENOSYS, EBADF, EINVAL } = os.constants.errno;
const missing = need(
  rootReason,
  process.arch !== 'x64' && `the default filter is for x86_64, this machine is ${process.arch}`,
  !/^Seccomp:/m.test(fs.readFileSync('/proc/self/status', 'utf8')) && 'this kernel has no seccomp (no Seccomp line in /proc/self/status)',
  !has('gcc') && 'gcc is not installed (apt-get install gcc libc6-dev): it builds the probe',
);

let root = '';
let dir = '';
beforeAll(() => {
  if (missing) return;
  root = tempBoxRoot('security');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'box-security-'));
  fs.chmodSync(dir, 0o755);
  execFileSync('gcc', ['-static', '-O2', '-o', path.join(dir, 'probe'), path.join(import.meta.dirname, '../fixtures/probe/syscall-probe.c')]);
  // A set-user-ID-root copy: it shows whether an execve by nobody raised the effective uid.
  fs.copyFileSync(path.join(dir, 'probe'), path.join(dir, 'suid-probe'));
  fs.chmodSync(path.join(dir, 'suid-probe'), 0o4755);
}, 120_000);
afterAll(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** `box run --rm` with the probe's directory at /probe; box's own stderr must be empty. */
function run(args: string[], command: string[]) {
  const r = box(root, ['run', '--rm', '-v', `${dir}:/probe:ro`, ...args, 'busybox', ...command], { timeout: 60_000 });
  return r;
}

/** The probe's answers: call number -> result (or -errno). */
function probe(args: string[], calls: (string | number)[]): Map<number, number> {
  const r = run(args, ['/probe/probe', ...calls.map(String)]);
  if (r.code !== 0) throw new Error(`the probe exited ${r.code}: ${r.stderr}`);
  return new Map(r.stdout.trim().split('\n').map((l) => l.split(' ').map(Number) as [number, number]));
}

/** A shell script in the container: its stdout and stderr together, and its exit status. */
function sh(args: string[], script: string) {
  const r = run(args, ['sh', '-c', `{ ${script}; } 2>&1`]);
  return { code: r.code, out: r.stdout, stderr: r.stderr };
}

const nr = (name: string) => syscallNumber(name);
const unconfined = ['--security-opt', 'seccomp=unconfined'];

needs(missing).describe('seccomp in a container: the filter box-init installs', () => {
  it('refuses every system call Docker blocks with EPERM; unconfined, the same calls fail otherwise', () => {
    // vhangup takes no arguments and would hang up the terminal: the unit tests cover it.
    const names = DOCKER_BLOCKED_SYSCALLS.filter((n) => n !== 'vhangup');
    const filtered = probe([], names.map(nr));
    const notRefused = names.filter((n) => filtered.get(nr(n)) !== -EPERM);
    expect(notRefused).toEqual([]);
    expect(filtered.size).toBe(names.length);
    // The control: without the filter the kernel judges these calls on their (bad) arguments.
    const control = probe(unconfined, [nr('keyctl'), nr('unshare'), `${nr('clone3')}:0,0`]);
    expect(control.get(nr('keyctl'))).not.toBe(-EPERM);
    expect(control.get(nr('unshare'))).toBe(-EINVAL);
    expect(control.get(nr('clone3'))).toBe(-EINVAL);
  });

  it('lets ordinary work go on: file and socket calls, ptrace, fork and exec; /proc shows the filter', () => {
    const got = probe([], [nr('getpid'), `${nr('read')}:-1,0,0`, `${nr('socket')}:2,1,0`, `${nr('ptrace')}:-1,-1,0,0`, `${nr('personality')}:0xffffffff`]);
    expect(got.get(nr('getpid'))).toBe(1); // the probe is PID 1 of the container
    expect(got.get(nr('read'))).toBe(-EBADF);
    expect(got.get(nr('socket'))).toBeGreaterThanOrEqual(0);
    expect(got.get(nr('ptrace'))).not.toBe(-EPERM);
    expect(got.get(nr('personality'))).toBeGreaterThanOrEqual(0);
    const shell = sh([], 'echo hello from a child; grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status');
    expect(shell.code).toBe(0);
    expect(shell.out).toContain('hello from a child');
    expect(shell.out).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(shell.out).toMatch(/^Seccomp:\s+2$/m);
  });

  it('applies the argument rules: clone with namespace flags, clone3, socket families, personality, x32', () => {
    const CLONE_NEWUTS = 0x04000000, SIGCHLD = 17;
    const calls = [`${nr('clone')}:${CLONE_NEWUTS | SIGCHLD},0,0,0,0`, `${nr('clone3')}:0,0`, `${nr('socket')}:38,5,0`, `${nr('socket')}:40,1,0`,
      `${nr('personality')}:0x0040000`, 0x40000000 | nr('getpid'), 1000];
    const lines = (args: string[]) => run(args, ['/probe/probe', ...calls.map(String)]).stdout.trim().split('\n').map((l) => Number(l.split(' ')[1]));
    const [clone, clone3, alg, vsock, personality, x32, tooNew] = lines([]);
    expect({ clone, clone3, alg, vsock, personality, x32, tooNew }).toEqual({
      clone: -EPERM, clone3: -ENOSYS, alg: -EPERM, vsock: -EPERM, personality: -EPERM, x32: -EPERM, tooNew: -ENOSYS,
    });
    // Unconfined, the kernel answers for itself: clone3 is judged on its (empty) arguments,
    // and ADDR_NO_RANDOMIZE is anyone's to set.
    const control = lines(unconfined);
    expect(control[1]).toBe(-EINVAL);
    expect(control[4]).toBeGreaterThanOrEqual(0);
  });

  it('refuses a real program: unshare(1) fails with "Operation not permitted"', () => {
    const r = sh([], 'unshare --uts true');
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('Operation not permitted');
  });

  it('kills a process that makes a 32-bit system call (int 0x80), and only under the filter', (ctx) => {
    const control = run(unconfined, ['/probe/probe', 'int80']);
    // A kernel built without IA32 emulation runs no 32-bit calls at all: a fact of the host.
    if (control.stdout.trim() !== '1') hostFact(ctx, `this kernel does not run 32-bit calls (no IA32 emulation): int 0x80 gave ${JSON.stringify(control.stdout.trim())}, exit ${control.code}`);
    const filtered = run([], ['/probe/probe', 'int80']);
    expect(filtered.stdout).toBe('');
    expect(filtered.code).toBe(128 + os.constants.signals.SIGSYS);
  });
});

needs(missing).describe('capabilities and no_new_privs in a container (root)', () => {
  const caps = (args: string[], script = '') => {
    const r = sh(args, `grep -E "^(Cap|NoNewPrivs|Seccomp)" /proc/self/status${script ? `; ${script}` : ''}`);
    return { ...r, status: parseSecurityStatus(r.out) };
  };

  it("gives the container Docker's default set: CapEff a80425fb, chown works, unshare does not", () => {
    const r = caps([], 'touch /tmp/f && chown 1234:1234 /tmp/f && stat -c "owner %u" /tmp/f; unshare --uts true && echo unshare-ok');
    for (const set of ['capEff', 'capPrm', 'capBnd'] as const) expect(r.status[set].toString(16), set).toBe('a80425fb');
    expect(r.status.capInh).toBe(0n);
    expect(r.status.capAmb).toBe(0n);
    expect(r.out).toContain('owner 1234');
    expect(r.out).not.toContain('unshare-ok');
    expect(r.out).toContain('Operation not permitted');
    // What box-init did to get there, in the trace: the bounding set walked up to the kernel's
    // last capability, then capset with exactly the default set.
    const last = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
    const traced = box(root, ['--trace', 'run', '--rm', 'busybox', 'true']);
    expect(traced.stderr).toContain(`prctl(PR_CAPBSET_DROP, each of 0..${last} not in 0xa80425fb) = 0`);
    expect(traced.stderr).toContain('capset(CHOWN|DAC_OVERRIDE|FOWNER|FSETID|KILL|SETGID|SETUID|SETPCAP|NET_BIND_SERVICE|NET_RAW|SYS_CHROOT|MKNOD|AUDIT_WRITE|SETFCAP) = 0');
  });

  it('--cap-drop CHOWN: chown fails with EPERM even for root', () => {
    const r = caps(['--cap-drop', 'CHOWN'], 'touch /tmp/f && chown 1234 /tmp/f && echo chown-ok');
    expect(r.status.capEff.toString(16)).toBe('a80425fa');
    expect(r.out).toContain('Operation not permitted');
    expect(r.out).not.toContain('chown-ok');
  });

  it('--cap-add SYS_ADMIN gives back unshare in both places: the capability and the filter', () => {
    const hostname = os.hostname();
    const r = caps(['--cap-add', 'SYS_ADMIN'], 'unshare --uts sh -c "hostname box-security-test && hostname"');
    expect(r.status.capEff.toString(16)).toBe('a82425fb');
    expect(r.code).toBe(0);
    expect(r.out).toContain('box-security-test');
    expect(os.hostname()).toBe(hostname);
  });

  it('--cap-add ALL: every capability up to the running kernel\'s last one that box itself holds', () => {
    const last = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
    // No process can give what its own bounding set lacks: ALL is what box (this test's child) may have.
    const ours = parseSecurityStatus(fs.readFileSync('/proc/self/status', 'utf8')).capBnd;
    const r = caps(['--cap-add', 'ALL']);
    expect(r.status.capEff).toBe(((1n << BigInt(last + 1)) - 1n) & ours);
    expect(r.status.capBnd).toBe(r.status.capEff);
  });

  it('a non-root container user keeps no capabilities after execve; its bounding set is the default', () => {
    const r = caps(['-u', '65534'], 'id -u');
    expect(r.out).toMatch(/^65534$/m);
    expect(r.status.capEff).toBe(0n);
    expect(r.status.capPrm).toBe(0n);
    expect(r.status.capBnd.toString(16)).toBe('a80425fb');
  });

  it('no_new_privs: a set-user-ID-root program run by nobody stays nobody', () => {
    const locked = run(['-u', '65534'], ['/probe/suid-probe', 'euid']);
    expect(locked.stdout).toBe('65534\n');
    // The control: without no_new_privs the same execve makes nobody root (on the same mount,
    // so the mount is not nosuid: it is no_new_privs that kept the uid).
    const open = run(['-u', '65534', '--security-opt', 'no-new-privileges=false'], ['/probe/suid-probe', 'euid']);
    expect(open.stdout).toBe('0\n');
    expect(caps(['-u', '65534', '--security-opt', 'no-new-privileges=false']).status).toMatchObject({ noNewPrivs: false, seccomp: 2 });
  });
});

it('box\'s security options refuse what box cannot do, in one line', () => {
  // Needs nothing: the options are checked before anything starts.
  const r = spawnSync(path.join(import.meta.dirname, '../../runtime/bin/box'), ['run', '--security-opt', 'apparmor=x', 'busybox', 'true'], { encoding: 'utf8' });
  expect(r.status).toBe(125);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^box: .*seccomp=unconfined/);
});
