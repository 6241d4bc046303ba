// Docker's default seccomp profile, as data: an ALLOWLIST in Docker's own JSON shape (the shape
// `--security-opt seccomp=FILE` reads, see seccomp_file.ts). Only the calls listed are allowed;
// every other call fails with EPERM, so a system call a new kernel adds is refused until
// someone reads what it does and lists it. seccomp.ts compiles a profile into the filter.
//
// The list below is moby/profiles/seccomp/default.json for x86_64 (profiles/seccomp v0.2.3,
// 2026), checked call by call against the kernel's table; where Docker's rule looks at an
// argument (socket, personality, clone, clone3) the rule is the same. ALWAYS_BLOCKED and
// BLOCKED_UNLESS_CAP below say why the calls left out are left out.
//
// Worth knowing, because older lists (and many blog posts) say otherwise:
// - ptrace, process_vm_readv and process_vm_writev are ALLOWED on kernels >= 4.8, where
//   ptrace can no longer be used to slip past seccomp; kcmp, pidfd_getfd and process_madvise
//   still need CAP_SYS_PTRACE.
// - name_to_handle_at and clock_adjtime are allowed (harmless without the calls they pair
//   with: open_by_handle_at and clock_settime stay blocked).
// - io_uring_* are blocked since 2023: io_uring performs I/O that seccomp never sees.
// - stime, umount, vm86 and vm86old exist only for 32-bit x86, not in the x86_64 table.
// - uretprobe and uprobe pass every seccomp filter: the kernel skips the filters for them
//   (kernel/seccomp.c, "our single exception to filtering"), since they work only when called
//   from the kernel's own uprobe trampoline. So neither is listed here.

/** Not in the list for any container, whatever its capabilities, and why. */
export const ALWAYS_BLOCKED: Record<string, string> = {
  // Calls that reach the whole machine, not just the container.
  kexec_load: 'boots another kernel',
  kexec_file_load: 'boots another kernel',
  swapon: 'adds swap space for the whole host',
  swapoff: 'removes swap space from the whole host',
  pivot_root: 'changes the root filesystem; the runtime did this before the program started',
  // The kernel keyring is not namespaced: a container would see the host's keys.
  add_key: 'kernel keyring (not namespaced)',
  request_key: 'kernel keyring (not namespaced)',
  keyctl: 'kernel keyring (not namespaced)',
  // NUMA page placement of other processes.
  migrate_pages: "moves another process's memory between NUMA nodes",
  move_pages: "moves another process's memory between NUMA nodes",
  // Frequent sources of kernel exploits that containers do not need.
  userfaultfd: 'user-space page fault handling, a favourite tool of kernel exploits',
  io_uring_setup: 'io_uring does I/O that seccomp never sees; many kernel exploits (blocked since Docker 25)',
  io_uring_enter: 'io_uring (see io_uring_setup)',
  io_uring_register: 'io_uring (see io_uring_setup)',
  // Obsolete calls (most now return ENOSYS anyway): nothing uses them, so nothing loses them.
  uselib: 'obsolete: loads a shared library the a.out way',
  ustat: 'obsolete: filesystem statistics',
  sysfs: 'obsolete: filesystem type information',
  _sysctl: 'obsolete: removed from the kernel (use /proc/sys)',
  create_module: 'obsolete: removed in Linux 2.6',
  get_kernel_syms: 'obsolete: removed in Linux 2.6',
  query_module: 'obsolete: removed in Linux 2.6',
  nfsservctl: 'obsolete: removed in Linux 3.1',
  getpmsg: 'never implemented',
  putpmsg: 'never implemented',
  afs_syscall: 'never implemented',
  tuxcall: 'never implemented',
  security: 'never implemented',
  vserver: 'never implemented',
  // Newer than Docker's profile, which refuses what it does not list.
  open_tree_attr: 'newer than the profile (Linux 6.15): open_tree with mount attributes',
  file_getattr: 'newer than the profile (Linux 6.17)',
  file_setattr: 'newer than the profile (Linux 6.17)',
  listns: 'newer than the profile: lists namespaces',
  rseq_slice_yield: 'newer than the profile',
};

/**
 * Not in the list unless the container holds one of the capabilities listed (the profile's
 * `includes.caps` rules, made from this table). The capability check in
 * the kernel would refuse most of these anyway; seccomp is a second wall, and a smaller
 * kernel surface: a call that is never entered cannot have a bug that matters.
 */
export const BLOCKED_UNLESS_CAP: Record<string, string[]> = {
  // CAP_SYS_ADMIN: mounts, namespaces, host names, and more.
  mount: ['CAP_SYS_ADMIN'],
  umount2: ['CAP_SYS_ADMIN'],
  fsopen: ['CAP_SYS_ADMIN'],
  fsconfig: ['CAP_SYS_ADMIN'],
  fsmount: ['CAP_SYS_ADMIN'],
  fspick: ['CAP_SYS_ADMIN'],
  open_tree: ['CAP_SYS_ADMIN'],
  move_mount: ['CAP_SYS_ADMIN'],
  mount_setattr: ['CAP_SYS_ADMIN'],
  unshare: ['CAP_SYS_ADMIN'],
  setns: ['CAP_SYS_ADMIN'],
  sethostname: ['CAP_SYS_ADMIN'],
  setdomainname: ['CAP_SYS_ADMIN'],
  quotactl: ['CAP_SYS_ADMIN'],
  quotactl_fd: ['CAP_SYS_ADMIN'],
  lookup_dcookie: ['CAP_SYS_ADMIN'],
  fanotify_init: ['CAP_SYS_ADMIN'],
  lsm_get_self_attr: ['CAP_SYS_ADMIN'],
  lsm_set_self_attr: ['CAP_SYS_ADMIN'],
  lsm_list_modules: ['CAP_SYS_ADMIN'],
  bpf: ['CAP_SYS_ADMIN', 'CAP_BPF'],
  perf_event_open: ['CAP_SYS_ADMIN', 'CAP_PERFMON'],
  syslog: ['CAP_SYS_ADMIN', 'CAP_SYSLOG'],
  // One capability, one family of calls.
  open_by_handle_at: ['CAP_DAC_READ_SEARCH'], // the 2014 "shocker" escape read host files this way
  chroot: ['CAP_SYS_CHROOT'],
  reboot: ['CAP_SYS_BOOT'],
  init_module: ['CAP_SYS_MODULE'],
  finit_module: ['CAP_SYS_MODULE'],
  delete_module: ['CAP_SYS_MODULE'],
  acct: ['CAP_SYS_PACCT'],
  kcmp: ['CAP_SYS_PTRACE'],
  pidfd_getfd: ['CAP_SYS_PTRACE'],
  process_madvise: ['CAP_SYS_PTRACE'],
  iopl: ['CAP_SYS_RAWIO'],
  ioperm: ['CAP_SYS_RAWIO'],
  settimeofday: ['CAP_SYS_TIME'], // the clock is not namespaced (the time namespace only offsets
  clock_settime: ['CAP_SYS_TIME'], // the monotonic and boot clocks): setting it sets the host's
  vhangup: ['CAP_SYS_TTY_CONFIG'],
  mbind: ['CAP_SYS_NICE'],
  set_mempolicy: ['CAP_SYS_NICE'],
  get_mempolicy: ['CAP_SYS_NICE'],
  set_mempolicy_home_node: ['CAP_SYS_NICE'],
};

/**
 * Rules that look at an argument, for the record (seccomp.ts builds them). Only registers can
 * be inspected: seccomp sees the six argument values, never the memory they point to.
 */
export const ARGUMENT_RULES: Record<string, string> = {
  clone: 'EPERM when flags (arg 0) hold any CLONE_NEW* namespace flag, unless CAP_SYS_ADMIN',
  clone3: 'ENOSYS unless CAP_SYS_ADMIN: its flags are in memory seccomp cannot read, and ENOSYS makes libc fall back to clone',
  socket: 'EPERM for AF_ALG (38) and AF_VSOCK (40) (arg 0)',
  personality: 'only PER_LINUX (0), PER_LINUX32 (8), UNAME26 (0x20000), PER_LINUX32|UNAME26 and the query 0xffffffff; EPERM for the rest',
};

/** One rule of a Docker-format profile (the JSON keys of moby's profile). */
export interface SeccompArg {
  index: number;
  value: number | bigint;
  valueTwo?: number | bigint;
  op: string; // SCMP_CMP_EQ, _NE, _LT, _LE, _GT, _GE, _MASKED_EQ (value is the mask, valueTwo the result)
}
export interface SeccompRule {
  names: string[];
  action: string; // SCMP_ACT_ALLOW, _ERRNO, _KILL, _KILL_THREAD, _KILL_PROCESS, _TRAP, _LOG
  errnoRet?: number;
  args?: SeccompArg[];
  comment?: string;
  /** the rule applies only if the container holds all these capabilities / runs on these arches */
  includes?: { caps?: string[]; arches?: string[]; minKernel?: string };
  /** the rule does not apply if the container holds any of these capabilities */
  excludes?: { caps?: string[]; arches?: string[] };
}
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls: SeccompRule[];
}

/** Allowed to every container, whatever its capabilities (sorted by number). */
export const ALLOWED: string[] = [
  'read', 'write', 'open', 'close', 'stat', 'fstat', 'lstat', 'poll', 'lseek', 'mmap', 'mprotect',
  'munmap', 'brk', 'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'ioctl', 'pread64',
  'pwrite64', 'readv', 'writev', 'access', 'pipe', 'select', 'sched_yield', 'mremap', 'msync',
  'mincore', 'madvise', 'shmget', 'shmat', 'shmctl', 'dup', 'dup2', 'pause', 'nanosleep',
  'getitimer', 'alarm', 'setitimer', 'getpid', 'sendfile', 'connect', 'accept', 'sendto',
  'recvfrom', 'sendmsg', 'recvmsg', 'shutdown', 'bind', 'listen', 'getsockname', 'getpeername',
  'socketpair', 'setsockopt', 'getsockopt', 'fork', 'vfork', 'execve', 'exit', 'wait4', 'kill',
  'uname', 'semget', 'semop', 'semctl', 'shmdt', 'msgget', 'msgsnd', 'msgrcv', 'msgctl', 'fcntl',
  'flock', 'fsync', 'fdatasync', 'truncate', 'ftruncate', 'getdents', 'getcwd', 'chdir', 'fchdir',
  'rename', 'mkdir', 'rmdir', 'creat', 'link', 'unlink', 'symlink', 'readlink', 'chmod', 'fchmod',
  'chown', 'fchown', 'lchown', 'umask', 'gettimeofday', 'getrlimit', 'getrusage', 'sysinfo',
  'times', 'ptrace', 'getuid', 'getgid', 'setuid', 'setgid', 'geteuid', 'getegid', 'setpgid',
  'getppid', 'getpgrp', 'setsid', 'setreuid', 'setregid', 'getgroups', 'setgroups', 'setresuid',
  'getresuid', 'setresgid', 'getresgid', 'getpgid', 'setfsuid', 'setfsgid', 'getsid', 'capget',
  'capset', 'rt_sigpending', 'rt_sigtimedwait', 'rt_sigqueueinfo', 'rt_sigsuspend', 'sigaltstack',
  'utime', 'mknod', 'statfs', 'fstatfs', 'getpriority', 'setpriority', 'sched_setparam',
  'sched_getparam', 'sched_setscheduler', 'sched_getscheduler', 'sched_get_priority_max',
  'sched_get_priority_min', 'sched_rr_get_interval', 'mlock', 'munlock', 'mlockall', 'munlockall',
  'modify_ldt', 'prctl', 'arch_prctl', 'adjtimex', 'setrlimit', 'sync', 'gettid', 'readahead',
  'setxattr', 'lsetxattr', 'fsetxattr', 'getxattr', 'lgetxattr', 'fgetxattr', 'listxattr',
  'llistxattr', 'flistxattr', 'removexattr', 'lremovexattr', 'fremovexattr', 'tkill', 'time',
  'futex', 'sched_setaffinity', 'sched_getaffinity', 'set_thread_area', 'io_setup', 'io_destroy',
  'io_getevents', 'io_submit', 'io_cancel', 'get_thread_area', 'epoll_create', 'epoll_ctl_old',
  'epoll_wait_old', 'remap_file_pages', 'getdents64', 'set_tid_address', 'restart_syscall',
  'semtimedop', 'fadvise64', 'timer_create', 'timer_settime', 'timer_gettime', 'timer_getoverrun',
  'timer_delete', 'clock_gettime', 'clock_getres', 'clock_nanosleep', 'exit_group', 'epoll_wait',
  'epoll_ctl', 'tgkill', 'utimes', 'mq_open', 'mq_unlink', 'mq_timedsend', 'mq_timedreceive',
  'mq_notify', 'mq_getsetattr', 'waitid', 'ioprio_set', 'ioprio_get', 'inotify_init',
  'inotify_add_watch', 'inotify_rm_watch', 'openat', 'mkdirat', 'mknodat', 'fchownat', 'futimesat',
  'newfstatat', 'unlinkat', 'renameat', 'linkat', 'symlinkat', 'readlinkat', 'fchmodat',
  'faccessat', 'pselect6', 'ppoll', 'set_robust_list', 'get_robust_list', 'splice', 'tee',
  'sync_file_range', 'vmsplice', 'utimensat', 'epoll_pwait', 'signalfd', 'timerfd_create',
  'eventfd', 'fallocate', 'timerfd_settime', 'timerfd_gettime', 'accept4', 'signalfd4', 'eventfd2',
  'epoll_create1', 'dup3', 'pipe2', 'inotify_init1', 'preadv', 'pwritev', 'rt_tgsigqueueinfo',
  'recvmmsg', 'fanotify_mark', 'prlimit64', 'name_to_handle_at', 'clock_adjtime', 'syncfs',
  'sendmmsg', 'getcpu', 'process_vm_readv', 'process_vm_writev', 'sched_setattr', 'sched_getattr',
  'renameat2', 'seccomp', 'getrandom', 'memfd_create', 'execveat', 'membarrier', 'mlock2',
  'copy_file_range', 'preadv2', 'pwritev2', 'pkey_mprotect', 'pkey_alloc', 'pkey_free', 'statx',
  'io_pgetevents', 'rseq', 'uretprobe', 'uprobe', 'pidfd_send_signal', 'pidfd_open', 'close_range',
  'openat2', 'faccessat2', 'epoll_pwait2', 'landlock_create_ruleset', 'landlock_add_rule',
  'landlock_restrict_self', 'memfd_secret', 'process_mrelease', 'futex_waitv', 'cachestat',
  'fchmodat2', 'map_shadow_stack', 'futex_wake', 'futex_wait', 'futex_requeue', 'statmount',
  'listmount', 'mseal', 'setxattrat', 'getxattrat', 'listxattrat', 'removexattrat',
];

// <linux/personality.h>: the execution domains a program may pick.
const PERSONALITIES = [0x0 /* PER_LINUX */, 0x8 /* PER_LINUX32 */, 0x20000 /* UNAME26 */, 0x20008, 0xffffffff /* query */];
// The namespace flags refused in clone()'s flags: NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET.
const CLONE_NAMESPACE_MASK = 0x7e020000;
const AF_ALG = 38; // the kernel's crypto API as sockets (CVE-2026-31431, "Copy Fail")
const AF_VSOCK = 40; // sockets to the hypervisor and to other VMs on the host
const ENOSYS = 38;

/** The default profile, in Docker's JSON shape. */
export const DEFAULT_PROFILE: SeccompProfile = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 1, // EPERM
  architectures: ['SCMP_ARCH_X86_64'],
  syscalls: [
    { names: ALLOWED, action: 'SCMP_ACT_ALLOW' },
    ...PERSONALITIES.map((p): SeccompRule => ({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: p, op: 'SCMP_CMP_EQ' }] })),
    {
      names: ['socket'], action: 'SCMP_ACT_ALLOW', comment: 'any family but AF_ALG and AF_VSOCK',
      // The family is an int: the kernel reads only the low 32 bits of the register, so
      // 0x1_00000028 is AF_VSOCK to it, yet passes Docker's 64-bit "family > 40". The first
      // test (arg <= 0xffffffff) closes that gap.
      args: [
        { index: 0, value: 0xffffffff, op: 'SCMP_CMP_LE' },
        { index: 0, value: AF_ALG, op: 'SCMP_CMP_NE' },
        { index: 0, value: AF_VSOCK, op: 'SCMP_CMP_NE' },
      ],
    },
    {
      names: ['clone'], action: 'SCMP_ACT_ALLOW', comment: 'no namespace flags', excludes: { caps: ['CAP_SYS_ADMIN'] },
      args: [{ index: 0, value: CLONE_NAMESPACE_MASK, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    },
    {
      // clone3's flags are in memory seccomp cannot read: ENOSYS makes glibc fall back to clone.
      names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS, excludes: { caps: ['CAP_SYS_ADMIN'] },
    },
    { names: ['clone', 'clone3'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
    // One rule a capability: the calls it gives back.
    ...[...new Set(Object.values(BLOCKED_UNLESS_CAP).flat())].map((cap): SeccompRule => ({
      names: Object.keys(BLOCKED_UNLESS_CAP).filter((name) => BLOCKED_UNLESS_CAP[name].includes(cap)),
      action: 'SCMP_ACT_ALLOW',
      includes: { caps: [cap] },
    })),
  ],
};
