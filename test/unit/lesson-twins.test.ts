// Every lesson exists in every language of the course, and the twins agree on what is not
// language: their chapter, whether they have a terminal, and their exercises, whose ids are
// those (in that order) of the one shared definition in content/exercises/<slug>.yaml.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { LANGUAGES } from '../../src/lib/i18n.ts';
import { parseExercises, readFrontmatter } from '../../src/server/checks.ts';

const REPO = path.resolve(import.meta.dirname, '..', '..');
const LESSONS = path.join(REPO, 'content', 'lessons');
const EXERCISES = path.join(REPO, 'content', 'exercises');

interface Front { chapter?: number; terminal?: boolean; exercises?: { id: string }[] }

function lessonsOf(lang: string): Map<string, Front> {
  const dir = path.join(LESSONS, lang);
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.mdx')) : [];
  return new Map(files.map((f) => [f.replace(/\.mdx$/, ''), readFrontmatter(REPO, fs.readFileSync(path.join(dir, f), 'utf8')) as Front]));
}

const byLang = new Map(LANGUAGES.map((lang) => [lang, lessonsOf(lang)]));
const slugs = [...new Set([...byLang.values()].flatMap((m) => [...m.keys()]))].sort();
const ids = (f: Front) => (f.exercises ?? []).map((e) => e.id).join(', ');

describe('lessons in every language', () => {
  it('has found the lessons', () => {
    expect(byLang.get('en')!.size).toBeGreaterThan(0);
  });

  it('has every lesson in every language (the list is what is missing)', () => {
    const missing = slugs.flatMap((slug) =>
      LANGUAGES.filter((lang) => !byLang.get(lang)!.has(slug)).map((lang) => `content/lessons/${lang}/${slug}.mdx`),
    );
    expect(missing).toEqual([]);
  });

  it('gives twins the same chapter, terminal and exercise ids as content/exercises', () => {
    const wrong: string[] = [];
    for (const slug of slugs) {
      const file = path.join(EXERCISES, `${slug}.yaml`);
      const defined = fs.existsSync(file) ? parseExercises(REPO, fs.readFileSync(file, 'utf8')).map((e) => e.id).join(', ') : '';
      for (const [lang, lessons] of byLang) {
        const front = lessons.get(slug);
        if (!front) continue; // reported by the test above
        const en = byLang.get('en')!.get(slug);
        if (ids(front) !== defined) wrong.push(`${lang}/${slug}: exercises [${ids(front)}], content/exercises/${slug}.yaml [${defined}]`);
        if (en && lang !== 'en' && (front.chapter !== en.chapter || (front.terminal ?? true) !== (en.terminal ?? true))) {
          wrong.push(`${lang}/${slug}: chapter ${front.chapter}, terminal ${front.terminal ?? true}; en has ${en.chapter}, ${en.terminal ?? true}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('has a lesson for every file in content/exercises', () => {
    const orphans = fs.readdirSync(EXERCISES).filter((f) => !slugs.includes(f.replace(/\.yaml$/, '')) || !f.endsWith('.yaml'));
    expect(orphans).toEqual([]);
  });
});
