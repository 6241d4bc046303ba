// One line for every problem in a Compose file: where (file:line), which key, what to do.

import path from 'node:path';
import { UserError } from '../sys/errors.ts';

export class ComposeError extends UserError {
  constructor(file: string | undefined, line: number | undefined, message: string) {
    const where = file ? `${shownPath(file)}${line ? `:${line}` : ''}: ` : '';
    super(`${where}${message}`, 'invalid-compose-file'); // docker compose exits 15 on an invalid file
  }
}

/** A file as the user named it, more or less: relative below the working directory, else absolute. */
export function shownPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
}

/** `services.web.ports[0]`, the way Compose names a place in the file. */
export function keyPath(p: (string | number)[]): string {
  return p.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

/** The nearest of `candidates` to `word` (edit distance), if it is near enough to be a typo. */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** Levenshtein distance, one row at a time. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}
