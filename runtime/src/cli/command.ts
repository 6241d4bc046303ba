// What every `box` command is to the dispatcher (commands.ts), and the small prompts they share.
// Its own module so that the command files and the dispatcher that loads them import it, not
// each other.

import fs from 'node:fs';
import type { Trace } from '../sys/trace.ts';

export interface Command {
  summary: string;
  help(): string | Promise<string>;
  run(argv: string[], trace: Trace): Promise<number>;
  /** For commands whose arguments may contain --help meant for the container's command. */
  passHelp?(argv: string[]): boolean;
}

/** An image, volume, network... command: its help is known without loading anything. */
export interface ImageCommand {
  summary: string;
  help(): string;
  run(argv: string[], trace: Trace): Promise<number>;
  passHelp?(argv: string[]): boolean;
}

/** Ask on the terminal; anything but y/yes (or no input at all) is no. */
export function confirm(question: string): boolean {
  process.stderr.write(question);
  const buf = Buffer.alloc(256);
  let answer = '';
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      break;
    }
    if (n === 0) break;
    answer += buf.toString('utf8', 0, n);
    if (answer.includes('\n')) break;
  }
  return /^\s*y(es)?\s*$/i.test(answer.split('\n')[0]);
}
