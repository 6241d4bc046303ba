// Room for the terminal: a toggle that gives it the whole page (the lesson and the chapter
// list step aside until it is pressed again, or Escape is pressed on the toggle), remembered
// per browser, so a reader who works mostly in the terminal keeps it wide.

const KEY = 'isolab.termMax';

export function setupRoom(pane: HTMLElement, onResize: () => void, focusTerminal: () => void): void {
  const button = pane.querySelector<HTMLButtonElement>('[data-testid="terminal-maximise"]');
  if (!button) return;
  function set(on: boolean, remember = true): void {
    document.body.classList.toggle('term-max', on);
    button!.setAttribute('aria-pressed', String(on));
    button!.title = on ? button!.dataset.restore! : button!.dataset.maximise!;
    button!.querySelector('.sr-only')!.textContent = button!.title;
    if (remember) {
      try {
        localStorage.setItem(KEY, on ? 'on' : 'off');
      } catch {
        /* not remembered */
      }
    }
    onResize();
  }
  let stored: string | null = null;
  try {
    stored = localStorage.getItem(KEY);
  } catch {
    /* no storage */
  }
  set(stored === 'on', false);
  button.addEventListener('click', () => {
    set(!document.body.classList.contains('term-max'));
    focusTerminal();
  });
}
