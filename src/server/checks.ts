// Exercise checks. Each exercise is defined once, in content/exercises/<slug>.yaml (a list of
// {id, check}), shared by every language; a lesson's frontmatter only says, in its own
// language, what to do (task) and what to try (hint). The browser names a lesson and an
// exercise; the command always comes from content/exercises on the server, never from the
// browser and never from a lesson file.

import { sayIn, type Said } from '../shared/server-sentences.ts';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Sandbox } from './sandbox.ts';

export const CHECK_TIMEOUT_MS = 10_000;

export interface Exercise {
  id: string;
  check: string;
}

export type Lookup = { ok: true; exercise: Exercise } | { ok: false; error: string };

export interface CheckResult {
  pass: boolean;
  /** Always "": the page shows the hint of its own language (kept for the protocol). */
  hint: string;
  detail: string;
  /** When `detail` is the server's own sentence (no output to show), its code. */
  said?: Said;
}

interface YamlModule { load(text: string): unknown }

// Parse YAML with the very parser Astro uses (js-yaml, resolved from astro's own
// dependencies), so the server reads exactly the definitions that the site builds against.
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

/** The exercises of content/exercises/<slug>.yaml; throws a one-line Error when malformed. */
export function parseExercises(repo: string, text: string): Exercise[] {
  const list = yamlParser(repo).load(text);
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new Error('the file must be a YAML list of {id, check}');
  const seen = new Set<string>();
  return list.map((item, i) => {
    const e = (item ?? {}) as Record<string, unknown>;
    for (const field of ['id', 'check'] as const) {
      if (typeof e[field] !== 'string' || (e[field] as string).trim() === '') {
        throw new Error(`exercise ${i + 1} needs a "${field}" string`);
      }
    }
    const id = e.id as string;
    if (seen.has(id)) throw new Error(`exercise "${id}" is defined twice`);
    seen.add(id);
    return { id, check: e.check as string };
  });
}

const LESSON_ID = /^([a-z]{2})\/([a-z0-9][a-z0-9-]*)$/;

/** Finds an exercise's check by lesson id ("<lang>/<slug>") and exercise id. */
export class ExerciseCatalog {
  readonly #repo: string;
  readonly #lessonsDir: string;
  readonly #exercisesDir: string;

  /** exercisesDir defaults to the "exercises" folder beside the lessons folder. */
  constructor(repo: string, lessonsDir = path.join(repo, 'content', 'lessons'), exercisesDir = path.join(lessonsDir, '..', 'exercises')) {
    this.#repo = repo;
    this.#lessonsDir = lessonsDir;
    this.#exercisesDir = exercisesDir;
  }

  lookup(lesson: string, exercise: string): Lookup {
    const m = LESSON_ID.exec(lesson);
    // The lesson must exist in that language (the page the reader is on); its file is only
    // looked at, never read: the check comes from the shared definition.
    const exists = m && ['.mdx', '.md'].some((ext) => fs.existsSync(path.join(this.#lessonsDir, m[1], m[2] + ext)));
    if (!m || !exists) return { ok: false, error: `there is no lesson "${lesson}"` };
    const file = path.join(this.#exercisesDir, `${m[2]}.yaml`);
    let exercises: Exercise[];
    try {
      // Read the file every time: it is small, and an author editing a check sees it at once.
      exercises = fs.existsSync(file) ? parseExercises(this.#repo, fs.readFileSync(file, 'utf8')) : [];
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
    return { pass: false, hint: '', ...sayIn('detail', { code: 'srvCheckTimeout', n: Math.round(timeoutMs / 1000) }) };
  }
  if (r.code === 0) return { pass: true, hint: '', detail: lastLines(r.output) };
  const shown = lastLines(r.output);
  if (shown) return { pass: false, hint: '', detail: shown };
  return { pass: false, hint: '', ...sayIn('detail', { code: 'srvCheckStatus', n: r.code ?? -1 }) };
}
