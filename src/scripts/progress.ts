// Reading progress, kept in this browser only (localStorage): which chapters were read to the
// end and which exercises passed. Other scripts listen for `isolab:progress` to redraw marks.

import { fetchClassProgress, reportRead } from './class-progress.ts';

const KEY = 'isolab.progress.v1';

export interface LessonProgress {
  read?: boolean;
  passed?: string[];
}
type Store = Record<string, LessonProgress>;

function load(): Store {
  try {
    const raw = localStorage.getItem(KEY);
    const parsed: unknown = raw ? JSON.parse(raw) : {};
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Store) : {};
  } catch {
    return {}; // storage disabled or corrupt: progress is a convenience, never an error
  }
}

function save(store: Store): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(store));
  } catch {
    /* private mode or full: keep going without memory */
  }
  window.dispatchEvent(new CustomEvent('isolab:progress'));
}

export function lessonProgress(lessonId: string): LessonProgress {
  return load()[lessonId] ?? {};
}

export function markRead(lessonId: string): void {
  const store = load();
  const entry = (store[lessonId] ??= {});
  if (entry.read) return;
  entry.read = true;
  save(store);
  reportRead(lessonId);
}

/** In a class: add what the server knows (another device's progress) to this browser's. */
export async function mergeClassProgress(): Promise<void> {
  const p = await fetchClassProgress();
  if (!p) return;
  const store = load();
  for (const r of p.lessonsRead) (store[r.lesson] ??= {}).read = true;
  for (const e of p.exercises) {
    if (e.passedAt === null) continue;
    const entry = (store[e.lesson] ??= {});
    entry.passed = [...new Set([...(entry.passed ?? []), e.exercise])];
  }
  save(store);
}

export function markPassed(lessonId: string, exerciseId: string): void {
  const store = load();
  const entry = (store[lessonId] ??= {});
  const passed = new Set(entry.passed ?? []);
  if (passed.has(exerciseId)) return;
  passed.add(exerciseId);
  entry.passed = [...passed];
  save(store);
}

export function hasPassed(lessonId: string, exerciseId: string): boolean {
  return (lessonProgress(lessonId).passed ?? []).includes(exerciseId);
}

/** 'done' = read to the end and every exercise passed; 'started' = some progress; '' = none. */
export function chapterState(lessonId: string, exerciseIds: string[]): '' | 'started' | 'done' {
  const p = lessonProgress(lessonId);
  const passed = exerciseIds.filter((id) => (p.passed ?? []).includes(id)).length;
  if (p.read && passed === exerciseIds.length) return 'done';
  if (p.read || passed > 0) return 'started';
  return '';
}

/** Draw every `.progress-mark[data-lesson]` on the page from the store. */
export function drawProgressMarks(): void {
  for (const mark of document.querySelectorAll<HTMLElement>('.progress-mark[data-lesson]')) {
    const exercises = (mark.dataset.exercises ?? '').split(',').filter(Boolean);
    const state = chapterState(mark.dataset.lesson!, exercises);
    mark.dataset.progress = state;
    const p = lessonProgress(mark.dataset.lesson!);
    const passed = exercises.filter((id) => (p.passed ?? []).includes(id)).length;
    const parts = [];
    if (p.read) parts.push(mark.dataset.readLabel ?? 'Read');
    if (exercises.length) parts.push(`${passed}/${exercises.length} ${mark.dataset.exLabel ?? 'exercises passed'}`);
    mark.title = parts.join(' · ');
    // On the home page's cards the state is also written out ("Done", "In progress").
    const word = state === 'done' ? mark.dataset.doneLabel : state === 'started' ? mark.dataset.startedLabel : undefined;
    if (mark.dataset.doneLabel !== undefined) mark.textContent = word ?? '';
    if (state) mark.setAttribute('aria-label', mark.title);
    else mark.removeAttribute('aria-label');
  }
}

const LAST_KEY = 'isolab.lastLesson';

/** Remember the lesson the reader opened last (per language: its id starts with the language). */
export function markOpened(lessonId: string): void {
  reportRead(lessonId, 'at');
  try {
    localStorage.setItem(`${LAST_KEY}.${lessonId.split('/')[0]}`, lessonId);
  } catch {
    /* not remembered */
  }
}

export function lastOpened(lang: string): string | null {
  try {
    return localStorage.getItem(`${LAST_KEY}.${lang}`);
  } catch {
    return null;
  }
}

/**
 * The home page's "continue where you left off": the lesson opened last, or, once it is done,
 * the first lesson after it that is not. Hidden while there is no progress.
 */
export function drawContinueLink(): void {
  const link = document.querySelector<HTMLAnchorElement>('[data-testid="continue-link"]');
  if (!link) return;
  const cards = [...document.querySelectorAll<HTMLAnchorElement>('[data-testid="chapter-card"][data-lesson]')];
  const last = lastOpened(document.documentElement.lang);
  const at = cards.findIndex((c) => c.dataset.lesson === last);
  const done = (c: HTMLElement) => c.querySelector<HTMLElement>('.progress-mark')?.dataset.progress === 'done';
  const target = at < 0 ? undefined : cards.slice(at).find((c) => !done(c));
  link.hidden = !target;
  document.querySelector('[data-testid="start-link"]')?.classList.toggle('secondary', !!target);
  if (!target) return;
  link.href = target.getAttribute('href')!;
  link.querySelector('.continue-title')!.textContent = target.dataset.label ?? '';
}
