// Every page: the theme and presenter toggles, the chapter drawer on narrow screens, and the
// progress marks in the chapter list. (The theme is applied before paint by an inline script
// in the layout's <head>; this file only handles changes.)
import { drawContinueLink, drawProgressMarks, mergeClassProgress } from './progress.ts';

const root = document.documentElement;
const THEME_KEY = 'isolab.theme';
const PRESENTER_KEY = 'isolab.presenter';

function stored(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}
function store(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    /* not persisted; the toggle still works for this page */
  }
}

// Theme: an explicit choice wins; otherwise follow the system, live.
const systemDark = matchMedia('(prefers-color-scheme: dark)');
systemDark.addEventListener('change', (e) => {
  if (!stored(THEME_KEY)) root.dataset.theme = e.matches ? 'dark' : 'light';
});
for (const btn of document.querySelectorAll<HTMLButtonElement>('[data-testid="theme-toggle"]')) {
  btn.addEventListener('click', () => {
    const next = root.dataset.theme === 'dark' ? 'light' : 'dark';
    root.dataset.theme = next;
    store(THEME_KEY, next);
  });
}

// Presenter mode: larger text everywhere and a larger terminal font (the terminal watches
// the attribute).
function showPresenter(): void {
  const on = root.dataset.presenter === 'on';
  for (const btn of document.querySelectorAll('[data-testid="presenter-toggle"]')) {
    btn.setAttribute('aria-pressed', String(on));
  }
}
for (const btn of document.querySelectorAll<HTMLButtonElement>('[data-testid="presenter-toggle"]')) {
  btn.addEventListener('click', () => {
    const on = root.dataset.presenter !== 'on';
    root.dataset.presenter = on ? 'on' : 'off';
    store(PRESENTER_KEY, on ? 'on' : 'off');
    showPresenter();
  });
}
showPresenter();

// The chapter list is a drawer below 75rem.
const menu = document.querySelector<HTMLButtonElement>('[data-testid="menu-toggle"]');
function setDrawer(open: boolean): void {
  document.body.classList.toggle('sidebar-open', open);
  menu?.setAttribute('aria-expanded', String(open));
}
menu?.addEventListener('click', () => setDrawer(!document.body.classList.contains('sidebar-open')));
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') setDrawer(false);
});
document.querySelector('.content')?.addEventListener('click', () => setDrawer(false));

function drawProgress(): void {
  drawProgressMarks();
  drawContinueLink();
}
drawProgress();
window.addEventListener('isolab:progress', drawProgress);
void mergeClassProgress(); // in a class: another device's progress too (redraws by the event)
// Another tab finished a chapter: show it here too.
window.addEventListener('storage', (e) => {
  if (e.key?.startsWith('isolab.progress') || e.key?.startsWith('isolab.lastLesson')) drawProgress();
});
