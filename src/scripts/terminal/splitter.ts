// The bar between the lesson and the terminal: drag (or arrow keys) to give either more room.
// Side by side it sets the pane's width; stacked (narrow screens) its height. Remembered.

const KEY = 'isolab.split';
const STACKED = '(max-width: 56rem)';
// In presenter mode the terminal docks under the lesson across the page below this width (a
// projector's 1024 pixels hold a readable lesson or ~90 columns of terminal, not both).
const PRESENTER_STACKED = '(max-width: 80rem)';

interface Split {
  width?: number; // px, side by side
  height?: number; // px, stacked
}

function load(): Split {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? '{}') as Split;
  } catch {
    return {};
  }
}

export function setupSplitter(pane: HTMLElement, onResize: () => void): void {
  const bar = pane.querySelector<HTMLElement>('[data-testid="terminal-splitter"]');
  if (!bar) return;
  const page = pane.closest<HTMLElement>('.page') ?? document.body;
  const narrow = matchMedia(STACKED);
  const presenterNarrow = matchMedia(PRESENTER_STACKED);
  const stacked = {
    get matches() {
      return narrow.matches || (document.documentElement.dataset.presenter === 'on' && presenterNarrow.matches);
    },
  };
  const split = load();

  const clampWidth = (w: number) => Math.max(320, Math.min(w, window.innerWidth - 420));
  const clampHeight = (h: number) => Math.max(160, Math.min(h, window.innerHeight - 160));
  function apply(): void {
    if (split.width) page.style.setProperty('--term-w', `${clampWidth(split.width)}px`);
    if (split.height) pane.style.setProperty('--term-h', `${clampHeight(split.height)}px`);
    bar!.setAttribute('aria-orientation', stacked.matches ? 'horizontal' : 'vertical');
    onResize();
    // The separator's value: the terminal's share of the window, in percent.
    requestAnimationFrame(() => {
      const r = pane.getBoundingClientRect();
      const share = stacked.matches ? r.height / window.innerHeight : r.width / window.innerWidth;
      bar!.setAttribute('aria-valuenow', String(Math.round(Math.min(1, share) * 100)));
    });
  }
  function save(): void {
    try {
      localStorage.setItem(KEY, JSON.stringify(split));
    } catch {
      /* not remembered */
    }
  }
  function setFromPointer(x: number, y: number): void {
    if (stacked.matches) split.height = clampHeight(window.innerHeight - y);
    else split.width = clampWidth(window.innerWidth - x);
    apply();
  }

  bar.addEventListener('pointerdown', (e) => {
    e.preventDefault();
    bar.setPointerCapture(e.pointerId);
    document.body.classList.add('resizing');
    const move = (ev: PointerEvent) => setFromPointer(ev.clientX, ev.clientY);
    const up = () => {
      bar.removeEventListener('pointermove', move);
      document.body.classList.remove('resizing');
      save();
    };
    bar.addEventListener('pointermove', move);
    bar.addEventListener('pointerup', up, { once: true });
    bar.addEventListener('pointercancel', up, { once: true });
  });
  bar.addEventListener('keydown', (e) => {
    const step = e.shiftKey ? 96 : 32;
    const rect = pane.getBoundingClientRect();
    if (!stacked.matches && (e.key === 'ArrowLeft' || e.key === 'ArrowRight')) {
      split.width = clampWidth(rect.width + (e.key === 'ArrowLeft' ? step : -step));
    } else if (stacked.matches && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
      split.height = clampHeight(rect.height + (e.key === 'ArrowUp' ? step : -step));
    } else return;
    e.preventDefault();
    apply();
    save();
  });
  bar.addEventListener('dblclick', () => {
    delete split.width;
    delete split.height;
    page.style.removeProperty('--term-w');
    pane.style.removeProperty('--term-h');
    save();
    apply();
  });
  narrow.addEventListener('change', apply);
  presenterNarrow.addEventListener('change', apply);
  new MutationObserver(apply).observe(document.documentElement, { attributes: true, attributeFilter: ['data-presenter'] });
  window.addEventListener('resize', () => {
    if (split.width || split.height) apply();
  });
  apply();
}
