// Docker's default seccomp profile, as data: which system calls a container may not make, and
// which capability gives each one back.
//
// Docker's profile (moby/profiles/seccomp/default.json) is an allowlist: about 370 calls are
// allowed and everything else returns EPERM. Over the x86_64 table that is the same as the
// denylist below, checked call by call against the profile of 2026 (profiles/seccomp v0.2.3,
// Linux 6.13 syscalls). Where Docker's rule looks at an argument (socket, personality,
// clone, clone3), seccomp.ts builds the same test.
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

/** Refused to every container, whatever its capabilities. */
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
 * Refused unless the container holds one of the capabilities listed. The capability check in
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

/** The system calls refused outright (EPERM whatever the arguments) to a container with these capabilities. */
export function blockedSyscalls(caps: string[]): string[] {
  const held = new Set(caps);
  const gated = Object.entries(BLOCKED_UNLESS_CAP)
    .filter(([, unlocks]) => !unlocks.some((c) => held.has(c)))
    .map(([name]) => name);
  return [...Object.keys(ALWAYS_BLOCKED), ...gated];
}
