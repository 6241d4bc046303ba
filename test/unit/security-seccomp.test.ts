// The default seccomp filter, run through the BPF interpreter: what each system call gets.
// test/integration/security.test.ts checks the same filter on the real kernel.

import { describe, expect, it } from 'vitest';
import { CAPABILITIES, DOCKER_DEFAULT_CAPS, resolveCaps } from '../../runtime/src/security/capabilities.ts';
import { runFilter } from '../support/bpf-run.ts';
import {
  AUDIT_ARCH_I386,
  AUDIT_ARCH_X86_64,
  CLONE_NAMESPACE_FLAGS,
  DOCKER_BLOCKED_SYSCALLS,
  defaultSeccompProgram,
  describeAction,
  seccompUnconfined,
} from '../../runtime/src/security/seccomp.ts';
import { ALWAYS_BLOCKED, BLOCKED_UNLESS_CAP } from '../../runtime/src/security/seccomp_profile.ts';
import { LAST_SYSCALL_X86_64, SYSCALLS_X86_64, syscallName, syscallNumber } from '../../runtime/src/security/syscalls_x86_64.ts';
import { CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS } from '../../runtime/src/sys/constants.ts';

const defaultProgram = defaultSeccompProgram(DOCKER_DEFAULT_CAPS);

/** What the filter for `caps` answers to one system call, in words ("ALLOW", "ERRNO(EPERM)"). */
function verdict(call: string | number, args: (number | bigint)[] = [], opts: { caps?: string[]; arch?: number } = {}): string {
  const program = opts.caps ? defaultSeccompProgram(opts.caps).bytes : defaultProgram.bytes;
  const nr = typeof call === 'number' ? call : syscallNumber(call);
  return describeAction(runFilter(program, { nr, arch: opts.arch ?? AUDIT_ARCH_X86_64, args }));
}

// <linux/sched.h>: the flags glibc's fork() and pthread_create() pass to clone.
const SIGCHLD = 17;
const FORK_FLAGS = 0x01000000 | 0x00200000 | SIGCHLD; // CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD
const THREAD_FLAGS = 0x3d0f00; // CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID

describe('the x86_64 system call table', () => {
  it('has the numbers of the kernel', () => {
    expect(syscallNumber('read')).toBe(0);
    expect(syscallNumber('execve')).toBe(59);
    expect(syscallNumber('mount')).toBe(165);
    expect(syscallNumber('keyctl')).toBe(250);
    expect(syscallNumber('seccomp')).toBe(317);
    expect(syscallNumber('clone3')).toBe(435);
    expect(syscallNumber('set_mempolicy_home_node')).toBe(450);
    expect(syscallName(56)).toBe('clone');
    expect(syscallName(400)).toBeUndefined();
    expect(() => syscallNumber('vm86')).toThrow(/no system call named vm86/);
  });

  it('gives every number one name', () => {
    const numbers = Object.values(SYSCALLS_X86_64);
    expect(new Set(numbers).size).toBe(numbers.length);
    expect(LAST_SYSCALL_X86_64).toBe(Math.max(...numbers));
  });
});

describe("Docker's profile as data", () => {
  it('names only real x86_64 system calls and real capabilities', () => {
    for (const name of [...Object.keys(ALWAYS_BLOCKED), ...Object.keys(BLOCKED_UNLESS_CAP)]) {
      expect(SYSCALLS_X86_64, name).toHaveProperty(name);
    }
    for (const caps of Object.values(BLOCKED_UNLESS_CAP)) {
      for (const cap of caps) expect(CAPABILITIES, cap).toHaveProperty(cap);
    }
    const both = Object.keys(ALWAYS_BLOCKED).filter((n) => n in BLOCKED_UNLESS_CAP);
    expect(both).toEqual([]);
  });

  it('blocks, for the default capabilities, the calls Docker documents as blocked', () => {
    const famous = [
      'acct', 'add_key', 'bpf', 'clock_settime', 'create_module', 'delete_module', 'finit_module',
      'get_kernel_syms', 'get_mempolicy', 'init_module', 'ioperm', 'iopl', 'kcmp', 'kexec_file_load',
      'kexec_load', 'keyctl', 'lookup_dcookie', 'mbind', 'mount', 'move_pages', 'nfsservctl',
      'open_by_handle_at', 'perf_event_open', 'pivot_root', 'query_module', 'quotactl', 'reboot',
      'request_key', 'set_mempolicy', 'setns', 'settimeofday', 'swapon', 'swapoff', 'sysfs', '_sysctl',
      'umount2', 'unshare', 'uselib', 'userfaultfd', 'ustat', 'fsopen', 'fsmount', 'fsconfig', 'fspick',
      'open_tree', 'move_mount', 'io_uring_setup', 'io_uring_enter', 'io_uring_register',
    ];
    for (const name of famous) expect(DOCKER_BLOCKED_SYSCALLS, name).toContain(name);
  });

  it('lists the blocked calls once each, sorted by number', () => {
    const numbers = DOCKER_BLOCKED_SYSCALLS.map(syscallNumber);
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    expect(new Set(numbers).size).toBe(numbers.length);
  });
});

describe('the default filter (Docker default capabilities)', () => {
  it('refuses every blocked system call with EPERM, whatever the arguments', () => {
    for (const name of DOCKER_BLOCKED_SYSCALLS) {
      expect(verdict(name), name).toBe('ERRNO(EPERM)');
      expect(verdict(name, [-1, -1, -1, -1, -1, -1]), name).toBe('ERRNO(EPERM)');
    }
  });

  it('allows the calls programs make all the time', () => {
    const common = [
      'read', 'write', 'openat', 'close', 'execve', 'mmap', 'munmap', 'mprotect', 'brk', 'exit_group',
      'futex', 'epoll_wait', 'rt_sigaction', 'getpid', 'wait4', 'pipe2', 'dup3', 'fstat', 'statx',
      'newfstatat', 'getdents64', 'chdir', 'fcntl', 'ioctl', 'prctl', 'capset', 'setuid', 'setgid',
      'arch_prctl', 'set_tid_address', 'rseq', 'prlimit64', 'getrandom', 'connect', 'bind', 'sendto',
      'recvfrom', 'chown', 'mknod', 'kill', 'vfork', 'fork', 'seccomp', 'close_range', 'pidfd_open',
    ];
    for (const name of common) expect(verdict(name), name).toBe('ALLOW');
  });

  it('allows what modern Docker allows although older lists block it', () => {
    for (const name of ['ptrace', 'process_vm_readv', 'process_vm_writev', 'name_to_handle_at', 'clock_adjtime', 'chroot']) {
      expect(verdict(name), name).toBe('ALLOW');
    }
  });

  it('decides every system call in the table: EPERM if blocked, ALLOW otherwise', () => {
    const argumentRules = new Set(['clone', 'clone3', 'socket', 'personality']);
    let allowed = 0;
    for (const [name, nr] of Object.entries(SYSCALLS_X86_64)) {
      if (argumentRules.has(name)) continue;
      const expected = DOCKER_BLOCKED_SYSCALLS.includes(name) ? 'ERRNO(EPERM)' : 'ALLOW';
      expect(verdict(nr), name).toBe(expected);
      if (expected === 'ALLOW') allowed++;
    }
    expect(allowed).toBeGreaterThan(290);
  });

  it('kills a process that makes a call in another architecture (32-bit int 0x80)', () => {
    expect(verdict(20, [], { arch: AUDIT_ARCH_I386 })).toBe('KILL_PROCESS'); // i386 getpid
    expect(verdict(11, [], { arch: AUDIT_ARCH_I386 })).toBe('KILL_PROCESS'); // i386 execve (x86_64's munmap)
    expect(verdict(0, [], { arch: 0xc00000b7 })).toBe('KILL_PROCESS'); // AUDIT_ARCH_AARCH64
  });

  it('refuses every x32 call (bit 30 set) with EPERM, so x32 numbers cannot slip past the list', () => {
    expect(verdict(0x40000000 | syscallNumber('getpid'))).toBe('ERRNO(EPERM)');
    expect(verdict(0x40000000 | syscallNumber('mount'))).toBe('ERRNO(EPERM)');
    expect(verdict(0x40000000 + 528)).toBe('ERRNO(EPERM)'); // x32 kexec_load
  });

  it('answers ENOSYS for numbers newer than the table, so libc falls back', () => {
    expect(verdict(LAST_SYSCALL_X86_64 + 1)).toBe('ERRNO(ENOSYS)');
    expect(verdict(1000)).toBe('ERRNO(ENOSYS)');
    // An unused hole in the table is listed by no rule: the allowlist refuses it like any
    // call it does not name.
    expect(verdict(400)).toBe('ERRNO(EPERM)');
  });

  it('refuses clone with any namespace flag, and allows fork and threads', () => {
    expect(verdict('clone', [FORK_FLAGS])).toBe('ALLOW');
    expect(verdict('clone', [THREAD_FLAGS])).toBe('ALLOW');
    for (const flag of [CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET]) {
      expect(verdict('clone', [FORK_FLAGS | flag]), `0x${flag.toString(16)}`).toBe('ERRNO(EPERM)');
    }
    expect(CLONE_NAMESPACE_FLAGS).toBe(0x7e020000);
    expect(verdict('clone', [0xffffffff_00000000n | BigInt(FORK_FLAGS)])).toBe('ALLOW'); // high bits hold no namespace flags
  });

  it('answers clone3 with ENOSYS, so glibc falls back to clone, whose flags it can see', () => {
    expect(verdict('clone3')).toBe('ERRNO(ENOSYS)');
  });

  it('refuses AF_ALG and AF_VSOCK sockets and allows the rest', () => {
    expect(verdict('socket', [38, 5, 0])).toBe('ERRNO(EPERM)'); // AF_ALG (CVE-2026-31431)
    expect(verdict('socket', [40, 1, 0])).toBe('ERRNO(EPERM)'); // AF_VSOCK
    expect(verdict('socket', [0xffffffff_00000000n | 38n, 5, 0])).toBe('ERRNO(EPERM)'); // garbage in the upper half: the kernel reads an int
    for (const family of [1, 2, 10, 16, 17, 39, 41, 44]) expect(verdict('socket', [family, 1, 0]), `family ${family}`).toBe('ALLOW');
  });

  it('allows only the usual personalities', () => {
    for (const p of [0, 8, 0x20000, 0x20008, 0xffffffff]) expect(verdict('personality', [p]), `0x${p.toString(16)}`).toBe('ALLOW');
    expect(verdict('personality', [0x0040000])).toBe('ERRNO(EPERM)'); // ADDR_NO_RANDOMIZE
    expect(verdict('personality', [0x0400000])).toBe('ERRNO(EPERM)'); // READ_IMPLIES_EXEC
  });
});

describe('the filter follows the capability set, as in Docker', () => {
  it('--cap-add SYS_ADMIN gives back mount, namespaces and clone3, but not the keyring or kexec', () => {
    const caps = resolveCaps(['SYS_ADMIN'], []);
    for (const name of ['mount', 'umount2', 'unshare', 'setns', 'sethostname', 'fsopen', 'bpf', 'syslog', 'clone3']) {
      expect(verdict(name, [], { caps }), name).toBe('ALLOW');
    }
    expect(verdict('clone', [FORK_FLAGS | CLONE_NEWUSER], { caps })).toBe('ALLOW');
    for (const name of ['keyctl', 'kexec_load', 'pivot_root', 'reboot', 'init_module', 'userfaultfd']) {
      expect(verdict(name, [], { caps }), name).toBe('ERRNO(EPERM)');
    }
    expect(defaultSeccompProgram(caps).argumentRules.some((r) => r.startsWith('clone'))).toBe(false);
  });

  it('each other capability gives back its own calls', () => {
    const cases: [string, string[]][] = [
      ['SYS_PTRACE', ['kcmp', 'pidfd_getfd', 'process_madvise']],
      ['SYS_TIME', ['settimeofday', 'clock_settime']],
      ['SYS_MODULE', ['init_module', 'finit_module', 'delete_module']],
      ['SYS_BOOT', ['reboot']],
      ['SYS_RAWIO', ['iopl', 'ioperm']],
      ['SYS_NICE', ['mbind', 'set_mempolicy', 'get_mempolicy']],
      ['SYS_PACCT', ['acct']],
      ['DAC_READ_SEARCH', ['open_by_handle_at']],
      ['BPF', ['bpf']],
      ['PERFMON', ['perf_event_open']],
      ['SYSLOG', ['syslog']],
      ['SYS_TTY_CONFIG', ['vhangup']],
    ];
    for (const [cap, calls] of cases) {
      const caps = resolveCaps([cap], []);
      for (const name of calls) {
        expect(verdict(name), `${name} without ${cap}`).toBe('ERRNO(EPERM)');
        expect(verdict(name, [], { caps }), `${name} with ${cap}`).toBe('ALLOW');
      }
      expect(verdict('mount', [], { caps }), `mount with only ${cap}`).toBe('ERRNO(EPERM)');
    }
  });

  it('--cap-drop SYS_CHROOT takes chroot away too', () => {
    expect(verdict('chroot', [], { caps: resolveCaps([], ['SYS_CHROOT']) })).toBe('ERRNO(EPERM)');
  });

  it('--cap-drop ALL leaves the always-blocked list and the capability-gated calls blocked', () => {
    const program = defaultSeccompProgram([]);
    expect(program.blocked).toContain('chroot');
    expect(program.blocked.length).toBe(DOCKER_BLOCKED_SYSCALLS.length + 1);
  });
});

describe('the program itself', () => {
  it('is small, deterministic and ends with a return', () => {
    // ~306 allowed calls, most of them neighbours: ranges keep the program short.
    expect(defaultProgram.insns.length).toBeLessThan(200);
    expect(defaultProgram.bytes.length).toBe(defaultProgram.insns.length * 8);
    expect(defaultSeccompProgram(DOCKER_DEFAULT_CAPS).bytes.equals(defaultProgram.bytes)).toBe(true);
    expect(defaultProgram.insns.at(-1)!.code).toBe(0x06);
  });

  it('starts with the architecture check, as every seccomp filter must', () => {
    expect(defaultProgram.text.slice(0, 3).map((l) => l.trim().replace(/\s+/g, ' '))).toEqual([
      '0: ld [4] ; A = arch',
      '1: jeq #0xc000003e, 3 ; AUDIT_ARCH_X86_64?',
      '2: ret #0x80000000 ; KILL_PROCESS',
    ]);
  });

  it('explains each test in its disassembly', () => {
    const text = defaultProgram.text.join('\n');
    expect(text).toMatch(/jge +#0, \d+, \d+ +; from read on\?/);
    expect(text).toMatch(/jeq +#135, \d+, \d+ +; personality/);
    expect(text).toMatch(/jset +#0x40000000, \d+, \d+ +; x32 ABI\?/);
    expect(text).toMatch(/A = clone\(\) args\[0\] \(low 32 bits\)/);
    expect(text).toMatch(/A = socket\(\) args\[0\] \(high 32 bits\)/);
    expect(text).toMatch(/and +#0x7e020000 +; A &= CLONE_NEWNS\|/);
    expect(text).toMatch(/jeq +#38, \d+ +; AF_ALG\?/);
    expect(text).toMatch(/ret +#0x00050026 +; ERRNO\(ENOSYS\)/);
    expect(defaultProgram.text).toHaveLength(defaultProgram.insns.length);
  });

  it('seccomp=unconfined is no filter at all', () => {
    expect(seccompUnconfined()).toBeNull();
  });

  it('names actions in words', () => {
    expect(describeAction(0x7fff0000)).toBe('ALLOW');
    expect(describeAction(0x00050001)).toBe('ERRNO(EPERM)');
    expect(describeAction(0x80000000)).toBe('KILL_PROCESS');
    expect(describeAction(0)).toBe('KILL_THREAD');
    expect(describeAction(0x00030005)).toBe('TRAP(5)');
    expect(describeAction(0x7ffc0000)).toBe('LOG');
  });
});
