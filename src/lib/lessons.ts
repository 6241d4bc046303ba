// Queries over the lessons collection: the course order, the chapter list, neighbours.
import { getCollection, type CollectionEntry } from 'astro:content';
import { langFromId, type Lang } from './i18n.ts';

export type Lesson = CollectionEntry<'lessons'>;

/** "en/pid-namespaces" -> "pid-namespaces". */
export function slugOf(lesson: Pick<Lesson, 'id'>): string {
  return lesson.id.split('/').slice(1).join('/');
}

export function lessonUrl(lesson: Pick<Lesson, 'id'>): string {
  return `/lessons/${lesson.id}/`;
}

export function homeUrl(lang: Lang): string {
  return lang === 'en' ? '/' : `/${lang}/`;
}

/** The course in one language, in chapter order. */
export async function courseLessons(lang: Lang): Promise<Lesson[]> {
  const all = await getCollection('lessons', (l) => langFromId(l.id) === lang);
  return all.sort((a, b) => a.data.chapter - b.data.chapter || a.data.title.localeCompare(b.data.title));
}

/**
 * The chapter number a reader sees: the lesson's place in its language's course, 1, 2, 3 ...
 * (the `chapter` keys in the content only order the lessons and may leave gaps for new ones).
 */
export function chapterNumber(lessons: Pick<Lesson, 'id'>[], id: string): number {
  return lessons.findIndex((l) => l.id === id) + 1;
}

/** A summary with `code` in backticks, as text and code pieces to render (no HTML parsing). */
export function inlineCodePieces(text: string): { code: boolean; text: string }[] {
  return text.split(/(`[^`]+`)/).filter(Boolean).map((t) =>
    t.length > 2 && t.startsWith('`') && t.endsWith('`') ? { code: true, text: t.slice(1, -1) } : { code: false, text: t });
}

/** The same summary as plain text (a <meta> description, a title attribute). */
export function plainSummary(text: string): string {
  return text.replace(/`([^`]+)`/g, '$1');
}

/** Languages that have at least one lesson. */
export async function courseLanguages(): Promise<Lang[]> {
  const all = await getCollection('lessons');
  return [...new Set(all.map((l) => langFromId(l.id)))];
}

export interface Part {
  title: string;
  lessons: Lesson[];
}

/** Lessons grouped by `part`, parts in the order their first chapter appears. */
export function groupByPart(lessons: Lesson[]): Part[] {
  const parts: Part[] = [];
  for (const lesson of lessons) {
    let part = parts.find((p) => p.title === lesson.data.part);
    if (!part) parts.push((part = { title: lesson.data.part, lessons: [] }));
    part.lessons.push(lesson);
  }
  return parts;
}

export function neighbours(lessons: Lesson[], id: string): { prev?: Lesson; next?: Lesson } {
  const i = lessons.findIndex((l) => l.id === id);
  return { prev: i > 0 ? lessons[i - 1] : undefined, next: i >= 0 ? lessons[i + 1] : undefined };
}
