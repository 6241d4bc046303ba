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
 * What kind of failure a UserError is. Code decides by it (the CLI's exit status, `rm -f`
 * passing over what is already gone, `inspect` trying an image after a container), never by
 * the words of the message, which are for people and may change.
 */
export type ErrorCode =
  | 'failed' // box could not do what was asked (the default)
  | 'usage' // a flag or argument is wrong
  | 'not-found' // no container, image or file by that name
  | 'conflict' // the name is taken, the object in use or already in that state
  | 'command-not-found' // the container's command does not exist in it
  | 'command-cannot-run' // ... exists but cannot be executed
  | 'build-step-failed' // a RUN step of box build exited non-zero
  | 'invalid-compose-file'; // a Compose file box cannot run

/**
 * The exit status of each code: Docker's (125: the runtime failed; 126: the command cannot be
 * run; 127: the command was not found), so a script cannot mistake box's failure for the
 * exit status of the command in the container.
 */
export const EXIT_STATUS: Record<ErrorCode, number> = {
  failed: 125,
  usage: 125,
  'not-found': 125,
  conflict: 125,
  'command-not-found': 127,
  'command-cannot-run': 126,
  'build-step-failed': 1, // as docker build
  'invalid-compose-file': 15, // as docker compose
};

/**
 * An error meant for the user: one line, naming the problem and the fix. The CLI prints
 * `box: <message>` and exits with the status of its code, never a stack trace.
 */
export class UserError extends Error {
  readonly code: ErrorCode;
  constructor(message: string, code: ErrorCode = 'failed') {
    super(message);
    this.code = code;
  }
  get exitCode(): number {
    return EXIT_STATUS[this.code];
  }
}

/** A failure whose exit status is another program's (a child box, the engine's client), passed on as it was. */
export class ExitStatusError extends UserError {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message, 'failed');
    this.status = status;
  }
  override get exitCode(): number {
    return this.status;
  }
}

/** No container, image or file by that name (Docker's errdefs.IsNotFound). */
export class NotFoundError extends UserError {
  constructor(message: string) {
    super(message, 'not-found');
  }
}

export function isNotFound(err: unknown): err is NotFoundError {
  return err instanceof UserError && err.code === 'not-found';
}

/** A name already taken, an object still in use, a state it is already in (Docker's errdefs.IsConflict). */
export class ConflictError extends UserError {
  constructor(message: string) {
    super(message, 'conflict');
  }
}

export function isConflict(err: unknown): err is ConflictError {
  return err instanceof UserError && err.code === 'conflict';
}

/** A Node or SysError errno name (ENOENT...) carried by `err`, if any. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}
