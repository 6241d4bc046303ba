// The trace: a record of every request box makes of the kernel, in order. `box --trace`
// prints it, and the lesson pages show it beside the terminal, so a reader sees the
// system calls and cgroup file writes behind each command.

import fs from 'node:fs';
import { invocation } from './invocation.ts';
import type { TraceEvent } from './trace-event.ts';

export type { TraceEvent };

type Dist<T> = T extends unknown ? Omit<T, 't' | 'who'> : never;
export type TraceInput = Dist<TraceEvent>;

export class Trace {
  readonly events: TraceEvent[] = [];
  /**
   * Which box process wrote a line of the sink. Several may append to one file at once (a
   * detached container's monitor goes on writing while the next command runs), so every line
   * carries it and a reader can group them: "<pid>-<start time>", unique on one machine.
   */
  readonly invocation: string;
  private readonly start = performance.now();
  private readonly sinkFd: number | undefined;
  private readonly echo: boolean;

  /**
   * @param echo print each event to stderr as it happens (`box --trace`)
   * @param sinkPath also append each event as a JSON line to this file (the lab server's panel)
   * @param command the command line, recorded as the first event (`$ box run ...`)
   * @param invocation go on with this invocation instead of starting one (a `box run -d` monitor)
   */
  constructor(opts: { echo?: boolean; sinkPath?: string; command?: string[]; invocation?: string } = {}) {
    this.echo = opts.echo ?? false;
    this.invocation = opts.invocation ?? `${process.pid}-${Date.now()}`;
    if (opts.sinkPath) {
      try {
        this.sinkFd = fs.openSync(opts.sinkPath, 'a');
      } catch {
        this.sinkFd = undefined; // the panel is a nicety: a missing sink never stops a container
      }
    }
    if (opts.command) this.record({ kind: 'command', argv: opts.command });
  }

  record(event: TraceInput, who = 'box'): void {
    const full = { ...event, who, t: Math.round((performance.now() - this.start) * 1000) / 1000 } as TraceEvent;
    this.events.push(full);
    if (this.echo) {
      // Dim on a terminal; plain text into a pipe or file.
      const line = `[trace] ${formatEvent(full)}`;
      const out = invocation();
      out.stderr(out.stderrIsTTY ? `\x1b[2m${line}\x1b[0m\n` : `${line}\n`);
    }
    if (this.sinkFd !== undefined) {
      try {
        // One write(2) per line on an O_APPEND file: lines of concurrent writers do not mix.
        fs.writeSync(this.sinkFd, JSON.stringify({ ...full, invocation: this.invocation }) + '\n');
      } catch {
        /* the reader of the sink went away; keep running */
      }
    }
  }

  text(): string {
    return this.events.map(formatEvent).join('\n');
  }
}

/** One event as a line a reader can follow: `unshare(CLONE_NEWPID|CLONE_NEWNS) = 0`. */
export function formatEvent(e: TraceEvent): string {
  const who = e.who === 'box' ? '' : `${e.who}: `;
  switch (e.kind) {
    case 'syscall':
      return `${who}${e.call}(${e.args}) = ${e.result}${e.errno ? ` ${e.errno}` : ''}`;
    case 'write':
      return `${who}${e.path} <- ${JSON.stringify(e.value)}${e.errno ? ` ${e.errno}` : ''}`;
    case 'note':
      return `${who}# ${e.text}`;
    case 'command':
      return `$ ${e.argv.join(' ')}`;
  }
}

/** A trace that keeps nothing: for code paths that have no reader. */
export const nullTrace = new Trace();

/** C-style quoting for a string argument in the trace. */
export function q(s: string | null | undefined): string {
  return s == null ? 'NULL' : JSON.stringify(s);
}
