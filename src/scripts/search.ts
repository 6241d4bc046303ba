// The header's search box over the lessons: Pagefind's browser API on the static index in
// /pagefind/ (built with the site), loaded on first use. Results are links to the lessons with
// the matching words marked; Up/Down move through them, Escape closes, Enter follows.
import { isRelevant } from './search-relevance.ts';

interface PagefindResult {
  data(): Promise<{ url: string; excerpt: string; meta: { title?: string } }>;
}
interface Pagefind {
  options(o: Record<string, unknown>): Promise<void>;
  debouncedSearch(q: string, o?: unknown, ms?: number): Promise<{ results: PagefindResult[] } | null>;
}

const MAX_RESULTS = 8;
let loading: Promise<Pagefind> | undefined;

function loadPagefind(): Promise<Pagefind> {
  // A path the bundler leaves alone: the index is written after the site is bundled.
  const url = '/pagefind/pagefind.js';
  loading ??= (import(/* @vite-ignore */ url) as Promise<Pagefind>).then(async (pf) => {
    await pf.options({ excerptLength: 18 });
    return pf;
  });
  return loading;
}

/** Pagefind's excerpt marks matches with <mark>; keep only the text and those marks. */
function safeExcerpt(html: string): DocumentFragment {
  const frag = document.createDocumentFragment();
  for (const part of html.split(/(<mark>[^<]*<\/mark>)/)) {
    const m = /^<mark>([^<]*)<\/mark>$/.exec(part);
    const text = (m ? m[1]! : part).replace(/<[^>]*>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
    if (m) {
      const mark = document.createElement('mark');
      mark.textContent = text;
      frag.append(mark);
    } else frag.append(text);
  }
  return frag;
}

export function mountSearch(): void {
  const input = document.querySelector<HTMLInputElement>('[data-testid="search-input"]');
  const list = document.querySelector<HTMLElement>('[data-testid="search-results"]');
  const status = document.querySelector<HTMLElement>('[data-testid="search-status"]');
  if (!input || !list || !status) return;
  let active = -1;
  let seq = 0;

  function open(on: boolean): void {
    list!.hidden = !on;
    input!.setAttribute('aria-expanded', String(on));
    if (!on) input!.removeAttribute('aria-activedescendant');
  }
  function links(): HTMLAnchorElement[] {
    return [...list!.querySelectorAll<HTMLAnchorElement>('a')];
  }
  function highlight(i: number): void {
    const all = links();
    active = all.length ? (i + all.length) % all.length : -1;
    all.forEach((a, n) => a.setAttribute('aria-selected', String(n === active)));
    if (active >= 0) {
      input!.setAttribute('aria-activedescendant', all[active]!.id);
      all[active]!.scrollIntoView({ block: 'nearest' });
    }
  }

  async function run(): Promise<void> {
    const q = input!.value.trim();
    const mine = ++seq;
    if (!q) {
      list!.replaceChildren();
      open(false);
      return;
    }
    let results: PagefindResult[] = [];
    try {
      const found = await (await loadPagefind()).debouncedSearch(q, {}, 120);
      if (found === null || mine !== seq) return; // a newer query replaced this one
      // Fetch a few more than are shown: some are dropped as stray matches (search-relevance.ts).
      results = found.results.slice(0, MAX_RESULTS * 2);
    } catch {
      if (mine !== seq) return;
      list!.replaceChildren(Object.assign(document.createElement('p'), { className: 'search-none', textContent: input!.dataset.unavailable ?? '' }));
      open(true);
      return;
    }
    const data = (await Promise.all(results.map((r) => r.data()))).filter((d) => isRelevant(q, d.excerpt)).slice(0, MAX_RESULTS);
    if (mine !== seq) return;
    list!.replaceChildren(
      ...data.map((d, i) => {
        const a = document.createElement('a');
        a.href = d.url.replace(/index\.html$/, '');
        a.id = `search-result-${i}`;
        a.role = 'option';
        a.dataset.testid = 'search-result';
        const title = document.createElement('span');
        title.className = 'search-title';
        title.textContent = d.meta.title ?? d.url;
        const excerpt = document.createElement('span');
        excerpt.className = 'search-excerpt';
        excerpt.append(safeExcerpt(d.excerpt));
        a.append(title, excerpt);
        return a;
      }),
    );
    if (!data.length) list!.append(Object.assign(document.createElement('p'), { className: 'search-none', textContent: input!.dataset.none ?? '' }));
    status!.textContent = data.length ? `${data.length}` : (input!.dataset.none ?? '');
    active = -1;
    open(true);
  }

  input.addEventListener('focus', () => void loadPagefind().catch(() => {}));
  input.addEventListener('input', () => void run());
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      if (list.hidden) return;
      e.preventDefault();
      highlight(active + (e.key === 'ArrowDown' ? 1 : -1));
    } else if (e.key === 'Enter' && active >= 0) {
      e.preventDefault();
      links()[active]?.click();
    } else if (e.key === 'Escape') {
      if (!list.hidden) {
        e.preventDefault();
        open(false);
      }
    }
  });
  document.addEventListener('click', (e) => {
    if (!(e.target as Element | null)?.closest('[data-testid="search"]')) open(false);
  });
  // "/" focuses the search box, unless the reader is typing somewhere (a field, the terminal).
  document.addEventListener('keydown', (e) => {
    if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target as HTMLElement | null;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName) || t.closest('.xterm'))) return;
    e.preventDefault();
    input.focus();
  });
}
