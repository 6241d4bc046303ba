// Lesson pages: Copy and Run buttons on code blocks, and "read to the end" progress.
// Run does not talk to the terminal directly: it fires `isolab:run`, which the Terminal island
// (src/scripts/terminal/) handles by typing the command and focusing itself.
import { markOpened, markRead } from './progress.ts';

export interface RunDetail {
  command: string;
}

async function copyText(text: string): Promise<boolean> {
  try {
    // Only secure contexts have the async clipboard (127.0.0.1 is one; a LAN address is not).
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.cssText = 'position:fixed;opacity:0;pointer-events:none';
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}

function flash(button: HTMLElement, state: string, ms = 1200): void {
  button.dataset.state = state;
  window.setTimeout(() => {
    if (button.dataset.state === state) delete button.dataset.state;
  }, ms);
}

document.addEventListener('click', async (event) => {
  const target = event.target as HTMLElement | null;
  const run = target?.closest<HTMLButtonElement>('.run-btn');
  if (run?.dataset.command) {
    window.dispatchEvent(new CustomEvent<RunDetail>('isolab:run', { detail: { command: run.dataset.command } }));
    flash(run, 'sent', 600);
    return;
  }
  const watch = target?.closest<HTMLButtonElement>('.watch-plot');
  if (watch) {
    window.dispatchEvent(new CustomEvent('isolab:open-panel', { detail: { tab: watch.dataset.tab } }));
    return;
  }
  const copy = target?.closest<HTMLButtonElement>('.copy-btn');
  if (copy && copy.dataset.code !== undefined) {
    if (await copyText(copy.dataset.code)) {
      copy.textContent = copy.dataset.done ?? 'Copied';
      flash(copy, 'done');
      window.setTimeout(() => (copy.textContent = copy.dataset.label ?? 'Copy'), 1200);
    }
  }
});

// Read to the end: the marker after the lesson text came into view.
const article = document.querySelector<HTMLElement>('[data-lesson-id]');
const end = document.getElementById('lesson-end');
if (article) markOpened(article.dataset.lessonId!);
if (article && end && 'IntersectionObserver' in window) {
  const seen = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) {
      markRead(article.dataset.lessonId!);
      seen.disconnect();
    }
  });
  seen.observe(end);
}
