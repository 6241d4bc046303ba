// Exercise checks. A lesson declares its exercises in its frontmatter, each with a shell
// command that passes when it exits 0. The browser only names a lesson and an exercise;
// the command always comes from the lesson file on the server, never from the browser.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Sandbox } from './sandbox.ts';

export const CHECK_TIMEOUT_MS = 10_000;

export interface Exercise {
  id: string;
  task: string;
  check: string;
  hint: string;
}

export type Lookup = { ok: true; exercise: Exercise } | { ok: false; error: string };

export interface CheckResult {
  pass: boolean;
  hint: string;
  detail: string;
}

interface YamlModule { load(text: string): unknown }

// Parse frontmatter with the very YAML parser Astro uses (js-yaml, resolved from astro's own
// dependencies), so the server reads exactly the exercises that the site renders.
let yaml: YamlModule | undefined;
function yamlParser(repo: string): YamlModule {
  yaml ??= createRequire(path.join(repo, 'node_modules', 'astro', 'package.json'))('js-yaml') as YamlModule;
  return yaml;
}

const FRONTMATTER = /^\uFEFF?\s*---\r?\n([\s\S]*?\r?\n)?---\s*(\r?\n|$)/;

/** The frontmatter of a Markdown/MDX file as an object ({} when there is none). */
export function readFrontmatter(repo: string, text: string): Record<string, unknown> {
  const m = FRONTMATTER.exec(text);
  if (!m) return {};
  const data = yamlParser(repo).load(m[1] ?? '');
  return data && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : {};
}

/** Astro's glob loader id for a file: "<lang>/<slug>", lower case, spaces as dashes. */
function slugify(name: string): string {
  return name.trim().toLowerCase().replace(/\s+/g, '-').replace(/[^\p{L}\p{N}_-]/gu, '');
}

/** The exercises of one lesson's frontmatter; throws a one-line Error on a malformed list. */
export function exercisesOf(data: Record<string, unknown>): Exercise[] {
  const list = data.exercises;
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new Error('"exercises" must be a list');
  return list.map((item, i) => {
    const e = (item ?? {}) as Record<string, unknown>;
    for (const field of ['id', 'check'] as const) {
      if (typeof e[field] !== 'string' || (e[field] as string).trim() === '') {
        throw new Error(`exercise ${i + 1} needs a "${field}" string`);
      }
    }
    return {
      id: e.id as string,
      task: typeof e.task === 'string' ? e.task : '',
      check: e.check as string,
      hint: typeof e.hint === 'string' ? e.hint : '',
    };
  });
}

/** Finds exercises by lesson id in content/lessons/<lang>/<slug>.md(x). */
export class ExerciseCatalog {
  readonly #repo: string;
  readonly #lessonsDir: string;
  #files = new Map<string, string>(); // lesson id -> file

  constructor(repo: string, lessonsDir = path.join(repo, 'content', 'lessons')) {
    this.#repo = repo;
    this.#lessonsDir = lessonsDir;
  }

  /** Rebuild the id -> file index (cheap: a couple of directory listings). */
  #index(): void {
    const files = new Map<string, string>();
    let langs: string[] = [];
    try { langs = fs.readdirSync(this.#lessonsDir); } catch { /* no lessons yet */ }
    for (const lang of langs) {
      const dir = path.join(this.#lessonsDir, lang);
      let entries: string[] = [];
      try { entries = fs.readdirSync(dir); } catch { continue; }
      for (const entry of entries) {
        const ext = path.extname(entry);
        if (ext !== '.md' && ext !== '.mdx') continue;
        const file = path.join(dir, entry);
        let id = `${lang}/${slugify(path.basename(entry, ext))}`;
        try {
          const slug = readFrontmatter(this.#repo, fs.readFileSync(file, 'utf8')).slug;
          if (typeof slug === 'string' && slug) id = `${lang}/${slug}`;
        } catch { /* a broken file is reported when it is asked for */ }
        files.set(id, file);
      }
    }
    this.#files = files;
  }

  lookup(lesson: string, exercise: string): Lookup {
    if (!this.#files.has(lesson)) this.#index(); // a lesson added since we last looked
    const file = this.#files.get(lesson);
    if (!file) return { ok: false, error: `there is no lesson "${lesson}"` };
    let exercises: Exercise[];
    try {
      // Read the file every time: it is small, and an author editing a check sees it at once.
      exercises = exercisesOf(readFrontmatter(this.#repo, fs.readFileSync(file, 'utf8')));
    } catch (e) {
      return { ok: false, error: `lesson "${lesson}" has broken exercises: ${(e as Error).message.split('\n')[0]}` };
    }
    const found = exercises.find((x) => x.id === exercise);
    if (!found) return { ok: false, error: `lesson "${lesson}" has no exercise "${exercise}"` };
    return { ok: true, exercise: found };
  }
}

/** The last few lines of a check's output, for the reader to see why it failed. */
function lastLines(text: string, lines = 6, chars = 600): string {
  return text.trim().split('\n').slice(-lines).join('\n').slice(-chars);
}

/** Run an exercise's check in the reader's sandbox: exit 0 passes. */
export async function runCheck(sandbox: Sandbox, exercise: Exercise, timeoutMs = CHECK_TIMEOUT_MS): Promise<CheckResult> {
  const r = await sandbox.exec(exercise.check, timeoutMs);
  if (r.timedOut) {
    return { pass: false, hint: exercise.hint, detail: `the check did not finish within ${Math.round(timeoutMs / 1000)} s` };
  }
  if (r.code === 0) return { pass: true, hint: '', detail: lastLines(r.output) };
  return { pass: false, hint: exercise.hint, detail: lastLines(r.output) || `the check exited with status ${r.code}` };
}
