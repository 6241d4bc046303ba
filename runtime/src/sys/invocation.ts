// Who asked for the command being run: its environment, its working directory, where its
// messages go and how big its terminal is. A box process serves one invocation, its own. The
// engine (engine/daemon.ts) serves many at once, each for a client with its own terminal, so
// the few places that read these go through invocation() rather than `process`.
// AsyncLocalStorage carries the right one across every await of that request.

import { AsyncLocalStorage } from 'node:async_hooks';

export interface Invocation {
  env: NodeJS.ProcessEnv;
  /** The caller's working directory, against which its relative paths are read. */
  cwd?: string;
  /** Write a message for the user (box's own lines, never the container's output). */
  stderr(text: string): void;
  /** Whether that stderr is a terminal (dim trace lines there, plain text into pipes). */
  stderrIsTTY: boolean;
  /** The size of the user's terminal, if stdout is one. */
  terminalSize(): { cols: number; rows: number } | null;
}

const ownProcess: Invocation = {
  env: process.env,
  stderr: (text) => void process.stderr.write(text),
  get stderrIsTTY() {
    return !!process.stderr.isTTY;
  },
  terminalSize: () => (process.stdout.isTTY ? { cols: process.stdout.columns, rows: process.stdout.rows } : null),
};

const current = new AsyncLocalStorage<Invocation>();

export function invocation(): Invocation {
  return current.getStore() ?? ownProcess;
}

/** Run `fn` (and everything it awaits) on behalf of another invocation. */
export function serveInvocation<T>(inv: Invocation, fn: () => T): T {
  return current.run(inv, fn);
}
