// A plan: the list of system calls box-init makes inside the new namespaces, in order.
// TypeScript decides everything; box-init (runtime/src/init/box-init.c) only executes.
// Each op carries a readable form for the trace: `mount("proc", "/proc", "proc", ...)`.

import { UserError } from '../sys/errors.ts';
import { cloneFlagNames, mountFlagNames } from '../sys/constants.ts';
import { q } from '../sys/trace.ts';
import { SYNC_TEXT, type SyncPoint } from './sync-point.ts';

export interface PlanOp {
  /** The op and its arguments as box-init reads them. */
  args: string[];
  /** How the trace shows it: a C-like call. */
  call: string;
  text: string;
}

const SEP = '\x1f';

/**
 * The largest plan box-init reads (PLAN_MAX_BYTES in box-init.c, the same number). Nothing
 * else about a plan is bounded: box-init allocates its ops, arguments and environment to fit.
 * The kernel's limits are far lower (execve takes at most a quarter of the stack limit for
 * argv and environment, 2 MiB with the usual 8 MiB stack), so only a mistake reaches this.
 */
export const PLAN_MAX_BYTES = 16 << 20;

export class Plan {
  readonly ops: PlanOp[] = [];

  private push(args: (string | number | bigint)[], call: string, text: string): this {
    const strs = args.map(String);
    for (const s of strs) {
      if (s.includes('\0')) throw new UserError(`a path or value contains a NUL byte (${JSON.stringify(s)}); remove it`);
    }
    this.ops.push({ args: strs, call, text });
    return this;
  }

  unshare(flags: number) {
    return this.push(['unshare', flags], 'unshare', cloneFlagNames(flags));
  }
  /** Join the namespace at `path` (/proc/PID/ns/net...). */
  setns(path: string, nstype: number) {
    return this.push(['setns', path, nstype], 'setns', `open(${q(path)}), ${cloneFlagNames(nstype)}`);
  }
  /** Stop and wait until box says go at `point` (box has written our uid_map, or put us in our cgroup...). */
  sync(point: SyncPoint) {
    return this.push(['sync', point], 'sync', SYNC_TEXT[point]);
  }
  /** setrlimit(2): an OCI process's rlimits (values as the spec's uint64, 2^64-1 for unlimited). */
  rlimit(resource: number, name: string, soft: bigint, hard: bigint) {
    return this.push(['rlimit', resource, soft, hard], 'setrlimit', `${name}, {${soft}, ${hard}}`);
  }
  /** OCI create: hold exec.fifo (O_PATH) while its host path is visible. */
  execFifo(path: string) {
    return this.push(['fifo', path], 'open', `${q(path)}, O_PATH /* exec.fifo */`);
  }
  /** OCI create: reopen exec.fifo for writing, which blocks until `box start` opens it; reports end here. */
  waitExecFifo() {
    return this.push(['fifowait'], 'open', '"/proc/self/fd/N", O_WRONLY /* exec.fifo: waits for box start */');
  }
  /** Fork: the child enters the PID namespace; the parent waits and mirrors its exit. */
  fork() {
    return this.push(['fork'], 'fork', '');
  }
  /** Fork; the parent (box's child) exits at once and the child goes on: see box-init.c do_detach. */
  detach() {
    return this.push(['detach'], 'fork', 'detach: the parent exits, the child is reparented to the caller\'s subreaper');
  }
  /** --init: fork again; the parent stays PID 1, reaps every child, forwards signals. */
  init() {
    return this.push(['init'], 'fork', 'init: PID 1 stays, reaps and forwards signals; the command runs as its child');
  }
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null) {
    return this.push(['mount', source ?? '', target, fstype ?? '', flags, data ?? ''], 'mount',
      `${q(source)}, ${q(target)}, ${q(fstype)}, ${mountFlagNames(flags)}, ${q(data)}`);
  }
  /**
   * Make `inside` (and its missing parents, a directory or at the end a file) under `root`, each
   * step looked up with openat2(RESOLVE_IN_ROOT): a symlink cannot lead out of the root.
   */
  mkdirIn(root: string, inside: string, kind: 'dir' | 'file') {
    return this.push(['mkdirin', root, inside, kind], kind === 'file' ? 'open' : 'mkdir',
      `${q(inside)} /* in ${root}, resolved with RESOLVE_IN_ROOT${kind === 'file' ? ', O_CREAT' : ''} */`);
  }
  /** mount(2) onto `inside` as resolved under `root` (openat2 RESOLVE_IN_ROOT, then /proc/self/fd/N). */
  mountIn(source: string | null, root: string, inside: string, fstype: string | null, flags: number, data: string | null = null) {
    return this.push(['mountin', source ?? '', root, inside, fstype ?? '', flags, data ?? ''], 'mount',
      `${q(source)}, ${q(inside)} /* in ${root}, RESOLVE_IN_ROOT */, ${q(fstype)}, ${mountFlagNames(flags)}, ${q(data)}`);
  }
  umount2(target: string, flags: number) {
    return this.push(['umount2', target, flags], 'umount2', `${q(target)}, ${flags === 2 ? 'MNT_DETACH' : flags}`);
  }
  mkdir(path: string, mode = 0o755) {
    return this.push(['mkdir', path, `0${mode.toString(8)}`], 'mkdir', `${q(path)}, 0${mode.toString(8)}`);
  }
  touch(path: string) {
    return this.push(['touch', path], 'open', `${q(path)}, O_CREAT`);
  }
  /** mknod(2): a device node (type c or b, with its numbers) or a fifo (p); the mode passes through the umask. */
  mknod(path: string, type: 'c' | 'b' | 'p', mode: number, major: number, minor: number) {
    const ifmt = { c: 0o020000, b: 0o060000, p: 0o010000 }[type];
    const name = { c: 'S_IFCHR', b: 'S_IFBLK', p: 'S_IFIFO' }[type];
    return this.push(['mknod', path, `0${(ifmt | mode).toString(8)}`, major, minor], 'mknod',
      `${q(path)}, ${name}|0${mode.toString(8)}${type === 'p' ? '' : `, makedev(${major}, ${minor})`}`);
  }
  chmod(path: string, mode: number) {
    return this.push(['chmod', path, `0${mode.toString(8)}`], 'chmod', `${q(path)}, 0${mode.toString(8)}`);
  }
  /** lchown(2): the owner of `path` itself, a symlink not followed. */
  lchown(path: string, uid: number, gid: number) {
    return this.push(['lchown', path, uid, gid], 'lchown', `${q(path)}, ${uid}, ${gid}`);
  }
  symlink(target: string, path: string) {
    return this.push(['symlink', target, path], 'symlink', `${q(target)}, ${q(path)}`);
  }
  chdir(path: string) {
    return this.push(['chdir', path], 'chdir', q(path));
  }
  chroot(path: string) {
    return this.push(['chroot', path], 'chroot', q(path));
  }
  pivotRoot(newRoot: string, putOld: string) {
    return this.push(['pivot_root', newRoot, putOld], 'pivot_root', `${q(newRoot)}, ${q(putOld)}`);
  }
  /** Set a network interface up (SIOCSIFFLAGS), as `ip link set NAME up`. */
  linkUp(name: string) {
    return this.push(['linkup', name], 'ioctl', `socket(AF_INET), SIOCSIFFLAGS, {${q(name)}, IFF_UP}`);
  }
  sethostname(name: string) {
    return this.push(['sethostname', name], 'sethostname', `${q(name)}, ${Buffer.byteLength(name)}`);
  }
  writeFile(path: string, data: string) {
    return this.push(['write', path, data], 'write', `${q(path)}, ${q(data)}`);
  }
  /** Hold a directory open (box exec: the container's root, before we join its mount namespace). */
  rootFd(path: string) {
    return this.push(['rootfd', path], 'open', `${q(path)}, O_PATH|O_DIRECTORY`);
  }
  /** fchdir to the held root, chroot("."), chdir("/"): we see what the container sees as /. */
  enterRoot() {
    return this.push(['enterroot'], 'chroot', '"." /* after fchdir to the container\'s root */');
  }
  /**
   * Open a terminal in the container's devpts as our stdio; box takes the master end (or,
   * after consoleSocket, it is sent there). `size`: its rows and columns (TIOCSWINSZ).
   */
  console(size?: { height: number; width: number }) {
    return this.push(size ? ['console', size.height, size.width] : ['console'], 'open',
      `"/dev/ptmx", O_RDWR|O_NOCTTY /* the container's own terminal${size ? `, ${size.width}x${size.height}` : ''} */`);
  }
  /** OCI --console-socket: connect to it now (its host path is visible); console() sends the master there (SCM_RIGHTS). */
  consoleSocket(path: string) {
    return this.push(['consolesock', path], 'connect', `socket(AF_UNIX), ${q(path)} /* --console-socket */`);
  }
  /** umask(2): the mode bits files the command creates will not have. */
  umask(mask: number) {
    return this.push(['umask', `0${mask.toString(8)}`], 'umask', `0${mask.toString(8)}`);
  }
  setsid() {
    return this.push(['setsid'], 'setsid', '');
  }
  /** Make the terminal on stdin our controlling terminal (after setsid). */
  controllingTty() {
    return this.push(['tiocsctty'], 'ioctl', '0, TIOCSCTTY, 0');
  }
  setgroups(gids: number[]) {
    return this.push(['setgroups', ...gids], 'setgroups', `${gids.length}, [${gids.join(', ')}]`);
  }
  setresgid(gid: number) {
    return this.push(['setresgid', gid], 'setresgid', `${gid}, ${gid}, ${gid}`);
  }
  setresuid(uid: number) {
    return this.push(['setresuid', uid], 'setresuid', `${uid}, ${uid}, ${uid}`);
  }
  /** Drop every capability not in `mask` from the bounding set (and clear the ambient set). */
  boundingSet(mask: bigint, lastCap: number) {
    return this.push(['bounding', `0x${mask.toString(16)}`, lastCap], 'prctl',
      `PR_CAPBSET_DROP, each of 0..${lastCap} not in 0x${mask.toString(16)}`);
  }
  /** Effective and permitted sets to exactly `mask`, inheritable empty. */
  capset(mask: bigint, names: string[]) {
    return this.push(['capset', `0x${mask.toString(16)}`], 'capset', names.length ? names.join('|') : '(none)');
  }
  /** The three sets given one by one (an OCI config's effective, permitted and inheritable lists). */
  capsetAll(sets: { effective: bigint; permitted: bigint; inheritable: bigint }, names: (m: bigint) => string) {
    const hex = (m: bigint) => `0x${m.toString(16)}`;
    return this.push(['capset', hex(sets.effective), hex(sets.permitted), hex(sets.inheritable)], 'capset',
      `effective ${names(sets.effective)}, permitted ${names(sets.permitted)}, inheritable ${names(sets.inheritable)}`);
  }
  /** Raise each capability of `mask` in the ambient set (PR_CAP_AMBIENT_RAISE). */
  ambient(mask: bigint, lastCap: number, names: string) {
    return this.push(['ambient', `0x${mask.toString(16)}`, lastCap], 'prctl', `PR_CAP_AMBIENT_RAISE, each of ${names}`);
  }
  prctl(option: number, arg: number, name: string) {
    return this.push(['prctl', option, arg], 'prctl', `${name}, ${arg}`);
  }
  seccomp(program: Buffer, summary: string) {
    return this.push(['seccomp', program.toString('hex')], 'seccomp',
      `SECCOMP_SET_MODE_FILTER, 0, {len=${program.length / 8}} /* ${summary} */`);
  }
  /** Mark every descriptor from `first` up close-on-exec: nothing of box's leaks into the container. */
  closeRange(first: number) {
    return this.push(['close_range', first], 'close_range', `${first}, ~0U, CLOSE_RANGE_CLOEXEC`);
  }
  env(entry: string) {
    return this.push(['env', entry], 'env', entry);
  }
  exec(file: string, argv: string[]) {
    return this.push(['exec', file, ...argv], 'execve', `${q(file)}, [${argv.map(q).join(', ')}]`);
  }

  /** The ops as box-init reads them: one per line, fields separated by 0x1f, then "end". */
  serialize(): string {
    const escape = (s: string) => s.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll(SEP, '\\u');
    return this.ops.map((op) => op.args.map(escape).join(SEP)).join('\n') + '\nend\n';
  }

  /**
   * What box writes to box-init's fd 3: a header line with the plan's size in bytes, then the
   * plan. A plan over PLAN_MAX_BYTES is refused here, before anything has started.
   */
  encode(): Buffer {
    const body = Buffer.from(this.serialize());
    if (body.length > PLAN_MAX_BYTES) {
      throw new UserError(`the container's command line and environment make a start plan of ${body.length} bytes, over box-init's limit of ${PLAN_MAX_BYTES} (16 MiB); pass large data in a file or a volume instead`);
    }
    return Buffer.concat([Buffer.from(`${body.length}\n`), body]);
  }
}
