// The terminal for keyboard and screen-reader users:
//  - Ctrl+Shift+L leaves the terminal (which keeps Tab for the shell's completion): focus goes
//    back to the Run button that last sent a command, else to the lesson text. The key is shown
//    under the terminal while it has focus, and is its textarea's description.
//  - a screen-reader mode toggle (xterm.js's screenReaderMode: output goes to a live region),
//    remembered in this browser.
import type { Terminal } from '@xterm/xterm';

const SR_KEY = 'isolab.screenReader';
export const LEAVE_KEY = { ctrlKey: true, shiftKey: true, code: 'KeyL' } as const;

export function isLeaveKey(e: KeyboardEvent): boolean {
  return e.type === 'keydown' && e.ctrlKey && e.shiftKey && !e.altKey && e.code === LEAVE_KEY.code;
}

export function setupAccess(pane: HTMLElement, term: Terminal): { leave(): void } {
  let lastRun: HTMLElement | null = null;
  document.addEventListener('click', (e) => {
    const run = (e.target as Element | null)?.closest<HTMLElement>('.run-btn');
    if (run) lastRun = run;
  });
  const hint = pane.querySelector<HTMLElement>('[data-testid="terminal-keyhint"]');
  if (hint && term.textarea) term.textarea.setAttribute('aria-describedby', hint.id);

  function leave(): void {
    const content = document.getElementById('content');
    const target = lastRun?.isConnected ? lastRun : content;
    if (!target) return;
    if (target === content && !content.hasAttribute('tabindex')) content.setAttribute('tabindex', '-1');
    target.focus();
  }

  const toggle = pane.querySelector<HTMLButtonElement>('[data-testid="terminal-screen-reader"]');
  function setReader(on: boolean, remember: boolean): void {
    term.options.screenReaderMode = on;
    toggle?.setAttribute('aria-pressed', String(on));
    if (remember) {
      try {
        localStorage.setItem(SR_KEY, on ? 'on' : 'off');
      } catch {
        /* not remembered */
      }
    }
  }
  let stored: string | null = null;
  try {
    stored = localStorage.getItem(SR_KEY);
  } catch {
    /* no storage */
  }
  setReader(stored === 'on', false);
  toggle?.addEventListener('click', () => setReader(!term.options.screenReaderMode, true));
  return { leave };
}
