// The build context: the directory given to `box build`, as the build sees it. Docker sends
// it to its daemon as a tar; box reads it in place, but the same files are visible: what
// .boxignore (or, without one, .dockerignore) leaves out does not exist for COPY and ADD.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import { cleanPath, isIgnored, mayReinclude, parseIgnore, type IgnoreRule } from './ignore.ts';

export interface ContextEntry {
  /** Relative to the context's root, `/`-separated: `src/main.c`. */
  rel: string;
  stat: fs.Stats;
}

export interface BuildContext {
  dir: string;
  /** Which ignore file was used, if any. */
  ignoreFile?: string;
  rules: IgnoreRule[];
  /** Every path the build may use, parents before children, in name order. */
  entries: ContextEntry[];
  byPath: Map<string, ContextEntry>;
}

export const IGNORE_FILES = ['.boxignore', '.dockerignore'];

/** Read the context directory, leaving out what the ignore file says. */
export function readContext(dir: string): BuildContext {
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (!st?.isDirectory()) throw new UserError(`build context '${dir}' is not a directory; give the directory that holds the Boxfile and the files it copies`);
  const ignoreFile = IGNORE_FILES.find((f) => fs.existsSync(path.join(dir, f)));
  const rules = ignoreFile ? parseIgnore(fs.readFileSync(path.join(dir, ignoreFile), 'utf8')) : [];
  const entries: ContextEntry[] = [];
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(dir, rel)).sort();
    } catch (err) {
      throw new UserError(`cannot read ${path.join(dir, rel)} in the build context (${(err as NodeJS.ErrnoException).code}); fix its permissions or list it in .boxignore`);
    }
    for (const name of names) {
      const child = rel ? `${rel}/${name}` : name;
      const stat = fs.lstatSync(path.join(dir, child));
      const ignored = isIgnored(rules, child);
      if (!ignored) entries.push({ rel: child, stat });
      if (stat.isDirectory() && (!ignored || mayReinclude(rules, child))) walk(child);
    }
  };
  walk('');
  return { dir, ...(ignoreFile ? { ignoreFile } : {}), rules, entries, byPath: new Map(entries.map((e) => [e.rel, e])) };
}

/** The entries at and below `rel` ('' is the whole context), in walk order. */
export function entriesUnder(ctx: BuildContext, rel: string): ContextEntry[] {
  if (rel === '') return ctx.entries;
  return ctx.entries.filter((e) => e.rel === rel || e.rel.startsWith(`${rel}/`));
}

/** A source path of COPY/ADD as a context path: relative, clean, and not above the context. */
export function contextPath(src: string): string | undefined {
  const parts = src.split('/').filter((p) => p !== '' && p !== '.');
  let depth = 0;
  for (const p of parts) {
    depth += p === '..' ? -1 : 1;
    if (depth < 0) return undefined;
  }
  return cleanPath(src);
}
