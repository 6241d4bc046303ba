// Capabilities, no_new_privs and the seccomp filter on the real kernel.
//
// Each test runs a child Node process that locks its main thread down with box's own plan
// (runtime/src/security/thread.ts, through koffi), then makes system calls and runs programs,
// which inherit the lockdown as they would inside a container. The child prints what it saw
// as one JSON line and leaves with _exit(2) at once: Node's event loop (libuv >= 1.45) uses
// io_uring, which the filter refuses, so returning to the loop would abort the child.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCKER_BLOCKED_SYSCALLS } from '../../runtime/src/security/seccomp.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
// The child imports TypeScript directly, which needs Node >= 23.6 (type stripping on by default).
const [major, minor] = process.versions.node.split('.').map(Number);
const NODE = major > 23 || (major === 23 && minor >= 6) ? process.execPath : path.join(ROOT, 'node_modules/.bin/node');
const src = (p: string): string => pathToFileURL(path.join(ROOT, 'runtime/src', p)).href;

const { EPERM, ENOSYS, EBADF, EINVAL } = os.constants.errno;
const isRoot = process.getuid?.() === 0;
const hasSeccomp = /^Seccomp:/m.test(fs.readFileSync('/proc/self/status', 'utf8'));
const onX64 = process.arch === 'x64';
const hasUnshare = fs.existsSync('/usr/bin/unshare');

if (!onX64) console.warn('skipping seccomp tests: the default filter is for x86_64, this machine is', process.arch);
if (!hasSeccomp) console.warn('skipping seccomp tests: this kernel has no seccomp (no Seccomp line in /proc/self/status)');
if (!isRoot) console.warn('skipping capability tests: they drop capabilities, which only root has (run the tests as root)');

const PRELUDE = `
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { koffi } from '${src('sys/libc.ts')}';
import { Trace } from '${src('sys/trace.ts')}';
import { DOCKER_DEFAULT_CAPS } from '${src('security/capabilities.ts')}';
import { securityPlan } from '${src('security/plan.ts')}';
import { defaultSeccompProgram, DOCKER_BLOCKED_SYSCALLS } from '${src('security/seccomp.ts')}';
import { applySecurity, realThreadCalls, readSecurityStatus } from '${src('security/thread.ts')}';
import { syscallNumber } from '${src('security/syscalls_x86_64.ts')}';
const lib = koffi().load('libc.so.6');
const rawSyscall = lib.func('long syscall(long number, ...)');
const _exit = lib.func('void _exit(int status)');
const trace = new Trace();
const calls = realThreadCalls(trace);
/** A system call by number: its result, or minus its errno. */
function sys(nr, ...args) {
  const rc = Number(rawSyscall(nr, ...args.flatMap((a) => ['long', a])));
  return rc === -1 ? -koffi().errno() : rc;
}
/** Only seccomp and no_new_privs: what any user may do. */
function filterOnly(caps = DOCKER_DEFAULT_CAPS) {
  calls.setNoNewPrivs();
  calls.installFilter(defaultSeccompProgram(caps).bytes);
}
function sh(script) {
  const r = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
  return { status: r.status, signal: r.signal, out: r.stdout + r.stderr };
}
function done(value) {
  fs.writeSync(1, JSON.stringify(value, (k, v) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v)) + '\\n');
  _exit(0);
}
`;

interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  json: any;
}

/** Run `body` (JavaScript, after the prelude above) in a fresh Node process. */
function child(body: string): ChildResult {
  const r = spawnSync(NODE, ['--input-type=module', '-e', PRELUDE + body], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  let json: any;
  try {
    json = line ? JSON.parse(line) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.status, signal: r.signal, stderr: r.stderr, json };
}

/** child(), and fail with its stderr if it did not report. */
function childJson(body: string): any {
  const r = child(body);
  if (r.json === undefined) throw new Error(`the child printed nothing (status ${r.status}, signal ${r.signal}):\n${r.stderr}`);
  return r.json;
}

describe.skipIf(!onX64 || !hasSeccomp)('seccomp on the real kernel (no root needed: no_new_privs lets any process install a filter)', () => {
  it('makes every system call Docker blocks fail with EPERM', () => {
    // Every argument is -1, so that a call the filter wrongly let through would fail in the
    // kernel (bad pointer, bad flags, bad length) instead of changing this machine. vhangup
    // takes no arguments and would hang up the terminal: the interpreter covers it.
    const result = childJson(`
      filterOnly();
      const got = {};
      for (const name of DOCKER_BLOCKED_SYSCALLS) {
        if (name === 'vhangup') continue;
        got[name] = sys(syscallNumber(name), -1, -1, -1, -1, -1, -1);
      }
      done({ got, status: readSecurityStatus() });
    `);
    expect(result.status.seccomp).toBe(2);
    expect(result.status.noNewPrivs).toBe(true);
    const notRefused = Object.entries(result.got).filter(([, rc]) => rc !== -EPERM);
    expect(notRefused).toEqual([]);
    expect(Object.keys(result.got)).toHaveLength(DOCKER_BLOCKED_SYSCALLS.length - 1);
  });

  it('and without the filter the same calls fail differently, so the EPERM above is the filter', () => {
    const result = childJson(`
      done({
        keyctl: sys(syscallNumber('keyctl'), -1, -1, -1, -1, -1),
        unshare: sys(syscallNumber('unshare'), -1),
        clone3: sys(syscallNumber('clone3'), 0, 0),
      });
    `);
    expect(result.keyctl).not.toBe(-EPERM);
    expect(result.unshare).toBe(-EINVAL);
    expect(result.clone3).toBe(-EINVAL);
  });

  it('lets ordinary work go on: file and socket calls, fork and exec, ptrace', () => {
    const result = childJson(`
      filterOnly();
      const fd = fs.openSync('/dev/null', 'r');
      fs.closeSync(fd);
      const inet = sys(syscallNumber('socket'), 2, 1, 0); // AF_INET, SOCK_STREAM
      if (inet >= 0) fs.closeSync(inet);
      done({
        pid: process.pid,
        getpid: sys(syscallNumber('getpid')),
        readBadFd: sys(syscallNumber('read'), -1, 0, 0),
        inet,
        ptrace: sys(syscallNumber('ptrace'), -1, -1, 0, 0),
        personalityQuery: sys(syscallNumber('personality'), 0xffffffff),
        shell: sh('echo hello from a child; grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status'),
      });
    `);
    expect(result.getpid).toBe(result.pid);
    expect(result.readBadFd).toBe(-EBADF);
    expect(result.inet).toBeGreaterThanOrEqual(0);
    expect(result.ptrace).not.toBe(-EPERM);
    expect(result.personalityQuery).toBeGreaterThanOrEqual(0);
    // fork (clone without namespace flags) and execve work, and the child inherits the filter
    expect(result.shell.status).toBe(0);
    expect(result.shell.out).toContain('hello from a child');
    expect(result.shell.out).toMatch(/NoNewPrivs:\s+1/);
    expect(result.shell.out).toMatch(/Seccomp:\s+2/);
  });

  it('applies the argument rules: clone with namespace flags, clone3, socket families, personality, x32', () => {
    const result = childJson(`
      filterOnly();
      const CLONE_NEWUTS = 0x04000000, SIGCHLD = 17;
      const clone = sys(syscallNumber('clone'), CLONE_NEWUTS | SIGCHLD, 0, 0, 0, 0);
      if (clone === 0) _exit(0); // only if the filter failed: the copy of this process leaves at once
      done({
        clone,
        clone3: sys(syscallNumber('clone3'), 0, 0),
        alg: sys(syscallNumber('socket'), 38, 5, 0),
        vsock: sys(syscallNumber('socket'), 40, 1, 0),
        personality: sys(syscallNumber('personality'), 0x0040000),
        x32getpid: sys(0x40000000 | syscallNumber('getpid')),
        tooNew: sys(1000),
      });
    `);
    expect(result.clone).toBe(-EPERM);
    expect(result.clone3).toBe(-ENOSYS);
    expect(result.alg).toBe(-EPERM);
    expect(result.vsock).toBe(-EPERM);
    expect(result.personality).toBe(-EPERM);
    expect(result.x32getpid).toBe(-EPERM);
    expect(result.tooNew).toBe(-ENOSYS);
  });

  it.skipIf(!hasUnshare)('refuses a real program: unshare(1) fails with "Operation not permitted"', () => {
    const result = childJson(`
      filterOnly();
      done(sh('unshare --uts true'));
    `);
    expect(result.status).not.toBe(0);
    expect(result.out).toContain('Operation not permitted');
  });

  it('kills a process that makes a 32-bit system call (int 0x80), and only under the filter', () => {
    // i386 getpid through int 0x80, from machine code in an executable page:
    // mov eax, 20; int 0x80; ret
    const body = (withFilter: boolean) => `
      const mmap = lib.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)');
      const page = mmap(null, 4096, 7, 0x22, -1, 0); // PROT_READ|WRITE|EXEC, MAP_PRIVATE|ANONYMOUS
      new Uint8Array(koffi().view(page, 4096)).set([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3]);
      ${withFilter ? 'filterOnly();' : ''}
      done({ pid: process.pid, i386getpid: koffi().call(page, koffi().proto('int i386_getpid(void)')) });
    `;
    const control = child(body(false));
    if (control.json?.i386getpid !== control.json?.pid) {
      console.warn('skipping the int 0x80 check: this kernel does not run 32-bit calls (no IA32 emulation):', control.signal ?? control.status);
      return;
    }
    const filtered = child(body(true));
    expect(filtered.json).toBeUndefined();
    expect(filtered.signal).toBe('SIGSYS');
  });
});

describe.skipIf(!isRoot || !onX64 || !hasSeccomp)('capabilities and no_new_privs on the real kernel (root)', () => {
  let dir: string;
  let file: string;
  let suidId: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'box-security-'));
    fs.chmodSync(dir, 0o755);
    file = path.join(dir, 'owned');
    fs.writeFileSync(file, 'x');
    // A set-user-ID-root copy of id(1): it shows whether exec raised the effective uid.
    suidId = path.join(dir, 'id');
    fs.copyFileSync('/usr/bin/id', suidId);
    fs.chmodSync(suidId, 0o4755);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const status = (out: string, field: string): string => new RegExp(`^${field}:\\s*(\\S+)`, 'm').exec(out)?.[1] ?? '';

  it("gives the container Docker's default set: CapEff a80425fb, chown works, unshare does not", () => {
    const result = childJson(`
      const plan = securityPlan({});
      applySecurity(plan, calls);
      done({
        self: readSecurityStatus(),
        trace: trace.text(),
        shell: sh('grep ^Cap /proc/self/status; chown 1234:1234 ${file} && echo chown-ok; unshare --uts true && echo unshare-ok'),
      });
    `);
    expect(result.self.capEff).toBe('0xa80425fb');
    expect(result.self.capBnd).toBe('0xa80425fb');
    expect(result.self.capInh).toBe('0x0');
    expect(result.trace).toContain('capset({E=00000000a80425fb, P=00000000a80425fb, I=0000000000000000}) = 0');
    expect(result.trace).toContain('prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN) = 0');
    // what a program started inside sees: /bin/sh is root, and root's capabilities after
    // execve are the bounding set
    for (const field of ['CapPrm', 'CapEff', 'CapBnd']) expect(status(result.shell.out, field), field).toBe('00000000a80425fb');
    expect(status(result.shell.out, 'CapInh')).toBe('0000000000000000');
    expect(result.shell.out).toContain('chown-ok');
    expect(fs.statSync(file).uid).toBe(1234);
    expect(result.shell.out).not.toContain('unshare-ok');
    expect(result.shell.out).toContain('Operation not permitted');
  });

  it('--cap-drop CHOWN: chown fails with EPERM even for root', () => {
    fs.chownSync(file, 0, 0);
    const result = childJson(`
      applySecurity(securityPlan({ capDrop: ['CHOWN'] }), calls);
      done(sh('grep ^CapEff /proc/self/status; chown 1234 ${file} && echo chown-ok'));
    `);
    expect(status(result.out, 'CapEff')).toBe('00000000a80425fa');
    expect(result.out).toContain('Operation not permitted');
    expect(result.out).not.toContain('chown-ok');
    expect(fs.statSync(file).uid).toBe(0);
  });

  it.skipIf(!hasUnshare)('--cap-add SYS_ADMIN gives back unshare in both places: the capability and the filter', () => {
    const hostname = os.hostname();
    const result = childJson(`
      applySecurity(securityPlan({ capAdd: ['SYS_ADMIN'] }), calls);
      done(sh('grep ^CapEff /proc/self/status; unshare --uts sh -c "hostname box-security-test && hostname"'));
    `);
    expect(status(result.out, 'CapEff')).toBe('00000000a82425fb');
    expect(result.status).toBe(0);
    expect(result.out).toContain('box-security-test');
    expect(os.hostname()).toBe(hostname); // the new UTS namespace kept it inside
  });

  // The container user is nobody (uid 65534): box switches user inside applySecurity.
  const asNobody = (options: string) => `
    const setresgid = lib.func('int setresgid(unsigned int rgid, unsigned int egid, unsigned int sgid)');
    const setresuid = lib.func('int setresuid(unsigned int ruid, unsigned int euid, unsigned int suid)');
    const setgroups = lib.func('int setgroups(size_t size, const unsigned int *list)');
    applySecurity(securityPlan(${options}), calls, () => {
      if (setgroups(0, null) || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)) throw new Error('could not become nobody');
    });
    done({ self: readSecurityStatus(), trace: trace.text(), suid: sh('${suidId} -u').out.trim(), shell: sh('id -u; grep ^Cap /proc/self/status').out });
  `;

  it('a non-root container user keeps its capabilities until execve, and its programs start with none', () => {
    const result = childJson(asNobody('{}'));
    expect(result.self.capEff).toBe('0xa80425fb'); // KEEPCAPS kept them through setresuid
    expect(result.trace).toMatch(/prctl\(PR_SET_KEEPCAPS, 1\) = 0[\s\S]*prctl\(PR_SET_KEEPCAPS, 0\) = 0[\s\S]*capset/);
    expect(result.shell).toMatch(/^65534$/m);
    expect(status(result.shell, 'CapEff')).toBe('0000000000000000');
    expect(status(result.shell, 'CapPrm')).toBe('0000000000000000');
    expect(status(result.shell, 'CapBnd')).toBe('00000000a80425fb');
  });

  it('no_new_privs: a set-user-ID-root program run by nobody stays nobody', () => {
    const locked = childJson(asNobody('{}'));
    expect(locked.self.noNewPrivs).toBe(true);
    expect(locked.suid).toBe('65534');
    // the control: without no_new_privs the same exec makes nobody root (the filter, installed
    // first while CAP_SYS_ADMIN was still held, is in place either way)
    const open = childJson(asNobody('{ noNewPrivs: false }'));
    expect(open.self.noNewPrivs).toBe(false);
    expect(open.self.seccomp).toBe(2);
    expect(open.suid).toBe('0');
  });
});

describe('the list the tests above walk through', () => {
  it('is not empty', () => {
    expect(DOCKER_BLOCKED_SYSCALLS.length).toBeGreaterThan(50);
  });
});
