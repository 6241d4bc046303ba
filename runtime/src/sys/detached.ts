// A long-lived helper started in a session of its own (the engine, a detached container's
// monitor, a cluster's control plane), and the one line it reports when it is ready. The child
// writes that line on its fd 3 and closes it; if it dies first, the pipe closes empty. Waiting
// for EOF on the pipe, not for the child to exit, is what lets the child stay behind.

import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

export interface DetachedOptions {
  /** Where the child's stdout and stderr go: a log file's descriptor, or nowhere. */
  output: number | 'ignore';
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Start `file args` detached: its pid at once, and what it wrote on fd 3 (trimmed; '' if it died first). */
export function spawnDetached(file: string, args: string[], opts: DetachedOptions): { pid: number; report: Promise<string> } {
  const child = spawn(file, args, {
    detached: true, // a session of its own: the terminal that started it may close
    stdio: ['ignore', opts.output, opts.output, 'pipe'],
    env: opts.env,
    cwd: opts.cwd,
  });
  return { pid: child.pid!, report: readReport(child.stdio[3] as Readable).finally(() => child.unref()) };
}

async function readReport(pipe: Readable): Promise<string> {
  let out = '';
  pipe.setEncoding('utf8');
  for await (const chunk of pipe) out += chunk;
  return out.trim();
}
