import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ExerciseCatalog, exercisesOf, readFrontmatter } from '../../src/server/checks.ts';

const REPO = path.resolve(import.meta.dirname, '..', '..');
let lessons: string;

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
    check: |
      test "$(cat /tmp/pid)" = 1
    hint: Use \`unshare --pid --fork\`.
  - id: second
    check: 'true'
---

# Body with --- inside

\`\`\`sh
echo hi
\`\`\`
`;

beforeAll(() => {
  lessons = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-lessons-'));
  fs.mkdirSync(path.join(lessons, 'en'));
  fs.writeFileSync(path.join(lessons, 'en', 'pid-namespaces.mdx'), LESSON);
  fs.writeFileSync(path.join(lessons, 'en', 'broken.mdx'), '---\nexercises: {oops\n---\n');
  fs.writeFileSync(path.join(lessons, 'en', 'no-list.mdx'), '---\nexercises: "x"\n---\n');
  fs.writeFileSync(path.join(lessons, 'en', 'notes.txt'), 'not a lesson');
});
afterAll(() => fs.rmSync(lessons, { recursive: true, force: true }));

describe('exercise catalog', () => {
  it('parses frontmatter with the YAML parser astro uses', () => {
    const data = readFrontmatter(REPO, LESSON);
    expect(data.title).toBe('Processes and PID namespaces');
    expect(data.chapter).toBe(5);
    expect(data.summary).toBe('A shell that is PID 1.');
    expect(data.runs).toEqual(['box run --ns pid busybox ps']);
    expect(exercisesOf(data)).toEqual([
      { id: 'pid-one', task: 'Start a shell that is **PID 1**.', check: 'test "$(cat /tmp/pid)" = 1\n', hint: 'Use `unshare --pid --fork`.' },
      { id: 'second', task: '', check: 'true', hint: '' },
    ]);
  });

  it('finds an exercise by lesson id and exercise id', () => {
    const c = new ExerciseCatalog(REPO, lessons);
    const r = c.lookup('en/pid-namespaces', 'pid-one');
    expect(r.ok && r.exercise.check).toBe('test "$(cat /tmp/pid)" = 1\n');
  });

  it('names what is unknown or broken', () => {
    const c = new ExerciseCatalog(REPO, lessons);
    expect(c.lookup('en/nope', 'x')).toEqual({ ok: false, error: 'there is no lesson "en/nope"' });
    expect(c.lookup('ko/pid-namespaces', 'pid-one')).toEqual({ ok: false, error: 'there is no lesson "ko/pid-namespaces"' });
    expect(c.lookup('en/pid-namespaces', 'nope')).toEqual({ ok: false, error: 'lesson "en/pid-namespaces" has no exercise "nope"' });
    const broken = c.lookup('en/broken', 'x');
    expect(broken.ok).toBe(false);
    if (!broken.ok) expect(broken.error).toMatch(/^lesson "en\/broken" has broken exercises: /);
    expect(c.lookup('en/no-list', 'x')).toEqual({ ok: false, error: 'lesson "en/no-list" has broken exercises: "exercises" must be a list' });
  });

  it('sees a lesson added and a check edited after it started', () => {
    const c = new ExerciseCatalog(REPO, lessons);
    expect(c.lookup('en/late', 'a').ok).toBe(false);
    const file = path.join(lessons, 'en', 'late.mdx');
    fs.writeFileSync(file, '---\nexercises:\n  - id: a\n    check: "exit 0"\n---\n');
    const first = c.lookup('en/late', 'a');
    expect(first.ok && first.exercise.check).toBe('exit 0');
    fs.writeFileSync(file, '---\nexercises:\n  - id: a\n    check: "exit 1"\n---\n');
    const second = c.lookup('en/late', 'a');
    expect(second.ok && second.exercise.check).toBe('exit 1');
  });

  it('reads every real lesson in content/ without error', () => {
    const c = new ExerciseCatalog(REPO);
    const dir = path.join(REPO, 'content', 'lessons');
    const files = fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => /\.mdx?$/.test(f) && !path.basename(f).startsWith('_'));
    expect(files.length).toBeGreaterThan(0); // the course's lessons are part of the repository
    for (const f of files) {
      const data = readFrontmatter(REPO, fs.readFileSync(path.join(dir, f), 'utf8'));
      for (const e of exercisesOf(data)) {
        const id = f.replace(/\.mdx?$/, '').split(path.sep).join('/');
        const r = c.lookup(id, e.id);
        expect(r.ok, `${id} ${e.id}: ${!r.ok && r.error}`).toBe(true);
      }
    }
  });
});
