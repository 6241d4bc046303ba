// Errors that a user can read. A failed system call becomes a SysError that names the
// call, the errno and, where we know one, what to do about it.

import os from 'node:os';
import { getSystemErrorMessage } from 'node:util';

const byNumber = new Map<number, string>(
  Object.entries(os.constants.errno).map(([name, n]) => [n as number, name]),
);

/** "EPERM" for 1, and so on; "E123" for a number Node does not know. */
export function errnoName(errno: number): string {
  return byNumber.get(errno) ?? `E${errno}`;
}

/** Hints for the errors a reader meets most, keyed by call and errno ("*" for any call). */
const HINTS: Record<string, string> = {
  '*:EPERM': 'this needs root (run box with sudo) or a capability the caller lacks',
  'unshare:EINVAL': 'the kernel refused this namespace combination (a user namespace needs a single-threaded process)',
  'unshare:ENOSPC': 'the per-user namespace limit is reached (see /proc/sys/user/max_*_namespaces)',
  'mount:ENODEV': 'the kernel lacks this filesystem type (is the module loaded?)',
  'mount:ENOENT': 'the mount point or source does not exist',
  'pivot_root:EINVAL': 'the new root must be a mount point, not on the same mount as the current root',
  'setns:EINVAL': 'the file is not a namespace of that type, or the process is multithreaded',
  '*:EACCES': 'permission denied: check the file mode and that you are root',
  '*:ENOENT': 'no such file or directory',
  '*:EBUSY': 'the resource is in use (a mount point with something mounted on it, or a cgroup with processes)',
};

export class SysError extends Error {
  readonly call: string;
  readonly errno: number;
  readonly code: string;
  readonly hint: string | undefined;
  constructor(call: string, args: string, errno: number) {
    const code = errnoName(errno);
    const hint = HINTS[`${call}:${code}`] ?? HINTS[`*:${code}`];
    super(`${call}(${args}) failed: ${code} (${getSystemErrorMessage(-errno)})${hint ? `: ${hint}` : ''}`);
    this.call = call;
    this.errno = errno;
    this.code = code;
    this.hint = hint;
  }
}

/**
 * An error meant for the user: one line, naming the problem and the fix. The CLI prints
 * `box: <message>` and exits with `exitCode`, never a stack trace.
 */
export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 125) {
    super(message);
    this.exitCode = exitCode;
  }
}
