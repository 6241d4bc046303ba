import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ExerciseCatalog, parseExercises, readFrontmatter } from '../../src/server/checks.ts';

const REPO = path.resolve(import.meta.dirname, '..', '..');
let root: string;
let lessons: string;
let exercises: string;

const LESSON = `---
title: "Processes and PID namespaces"
chapter: 5
part: Namespaces
summary: >-
  A shell that is PID 1.
runs: ["box run --ns pid busybox ps"]
exercises:
  - id: pid-one
    task: "Start a shell that is **PID 1**."
    hint: Use \`unshare --pid --fork\`.
---

# Body with --- inside
`;

const CHECKS = `# a comment
- id: pid-one
  check: |
    test "$(cat /tmp/pid)" = 1
- id: second
  check: 'true'
`;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-catalog-'));
  lessons = path.join(root, 'lessons');
  exercises = path.join(root, 'exercises');
  for (const d of ['en', 'ko']) fs.mkdirSync(path.join(lessons, d), { recursive: true });
  fs.mkdirSync(exercises);
  fs.writeFileSync(path.join(lessons, 'en', 'pid-namespaces.mdx'), LESSON);
  fs.writeFileSync(path.join(lessons, 'ko', 'pid-namespaces.mdx'), LESSON.replace('Processes', '프로세스'));
  fs.writeFileSync(path.join(exercises, 'pid-namespaces.yaml'), CHECKS);
  for (const name of ['broken', 'no-list', 'no-check', 'twice', 'none']) fs.writeFileSync(path.join(lessons, 'en', `${name}.mdx`), '---\ntitle: x\n---\n');
  fs.writeFileSync(path.join(exercises, 'broken.yaml'), '- id: [oops\n');
  fs.writeFileSync(path.join(exercises, 'no-list.yaml'), 'id: x\ncheck: "true"\n');
  fs.writeFileSync(path.join(exercises, 'no-check.yaml'), '- id: x\n');
  fs.writeFileSync(path.join(exercises, 'twice.yaml'), '- id: x\n  check: "true"\n- id: x\n  check: "false"\n');
  // A lesson file that still carries a check in its frontmatter: the server never reads it.
  fs.writeFileSync(path.join(lessons, 'en', 'stale.mdx'), '---\nexercises:\n  - id: a\n    check: "exit 0"\n---\n');
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('exercise catalog', () => {
  it('parses definitions with the YAML parser astro uses', () => {
    expect(parseExercises(REPO, CHECKS)).toEqual([
      { id: 'pid-one', check: 'test "$(cat /tmp/pid)" = 1\n' },
      { id: 'second', check: 'true' },
    ]);
    expect(readFrontmatter(REPO, LESSON).summary).toBe('A shell that is PID 1.');
  });

  it('finds a check by lesson id and exercise id, the same one in every language', () => {
    const c = new ExerciseCatalog(REPO, lessons);
    const en = c.lookup('en/pid-namespaces', 'pid-one');
    const ko = c.lookup('ko/pid-namespaces', 'pid-one');
    expect(en).toEqual({ ok: true, exercise: { id: 'pid-one', check: 'test "$(cat /tmp/pid)" = 1\n' } });
    expect(ko).toEqual(en);
  });

  it('names what is unknown or broken', () => {
    const c = new ExerciseCatalog(REPO, lessons);
    expect(c.lookup('en/nope', 'x')).toEqual({ ok: false, error: 'there is no lesson "en/nope"' });
    expect(c.lookup('fr/pid-namespaces', 'pid-one')).toEqual({ ok: false, error: 'there is no lesson "fr/pid-namespaces"' });
    expect(c.lookup('en/../../etc/passwd', 'x')).toEqual({ ok: false, error: 'there is no lesson "en/../../etc/passwd"' });
    expect(c.lookup('en/pid-namespaces', 'nope')).toEqual({ ok: false, error: 'lesson "en/pid-namespaces" has no exercise "nope"' });
    expect(c.lookup('en/none', 'x')).toEqual({ ok: false, error: 'lesson "en/none" has no exercise "x"' });
    const broken = c.lookup('en/broken', 'x');
    expect(broken.ok).toBe(false);
    if (!broken.ok) expect(broken.error).toMatch(/^lesson "en\/broken" has broken exercises: /);
    expect(c.lookup('en/no-list', 'x')).toEqual({ ok: false, error: 'lesson "en/no-list" has broken exercises: the file must be a YAML list of {id, check}' });
    expect(c.lookup('en/no-check', 'x')).toEqual({ ok: false, error: 'lesson "en/no-check" has broken exercises: exercise 1 needs a "check" string' });
    expect(c.lookup('en/twice', 'x')).toEqual({ ok: false, error: 'lesson "en/twice" has broken exercises: exercise "x" is defined twice' });
  });

  it('never takes a check from a lesson file', () => {
    const c = new ExerciseCatalog(REPO, lessons);
    expect(c.lookup('en/stale', 'a')).toEqual({ ok: false, error: 'lesson "en/stale" has no exercise "a"' });
  });

  it('sees a lesson added and a check edited after it started', () => {
    const c = new ExerciseCatalog(REPO, lessons);
    expect(c.lookup('en/late', 'a').ok).toBe(false);
    fs.writeFileSync(path.join(lessons, 'en', 'late.mdx'), '---\ntitle: late\n---\n');
    const file = path.join(exercises, 'late.yaml');
    fs.writeFileSync(file, '- id: a\n  check: "exit 0"\n');
    const first = c.lookup('en/late', 'a');
    expect(first.ok && first.exercise.check).toBe('exit 0');
    fs.writeFileSync(file, '- id: a\n  check: "exit 1"\n');
    const second = c.lookup('en/late', 'a');
    expect(second.ok && second.exercise.check).toBe('exit 1');
  });

  it('finds a check for every exercise of every real lesson in content/', () => {
    const c = new ExerciseCatalog(REPO);
    const dir = path.join(REPO, 'content', 'lessons');
    const files = fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => /\.mdx$/.test(f));
    expect(files.length).toBeGreaterThan(0);
    let seen = 0;
    for (const f of files) {
      const data = readFrontmatter(REPO, fs.readFileSync(path.join(dir, f), 'utf8'));
      const id = f.replace(/\.mdx$/, '').split(path.sep).join('/');
      for (const e of (data.exercises ?? []) as { id: string }[]) {
        const r = c.lookup(id, e.id);
        expect(r.ok, `${id} ${e.id}: ${!r.ok && r.error}`).toBe(true);
        seen++;
      }
    }
    expect(seen).toBeGreaterThan(0);
  });
});
