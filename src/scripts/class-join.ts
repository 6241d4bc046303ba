// The join form: post the code and name to the lab server; on success the server has set the
// student's cookie, and the course's home page opens. Failures are shown in the page's language.
import { CLASS_FLAG } from './class-progress.ts';

const form = document.querySelector<HTMLFormElement>('form.class-join');
if (form) {
  const messages = JSON.parse(form.dataset.messages ?? '{}') as Record<string, string>;
  const error = form.querySelector<HTMLElement>('.join-error')!;
  const button = form.querySelector<HTMLButtonElement>('button')!;
  const label = button.textContent;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    error.textContent = '';
    button.disabled = true;
    button.textContent = messages.busy;
    try {
      const res = await fetch('/api/class/join', {
        method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ code: data.get('code'), name: data.get('name') }),
      });
      if (res.ok) {
        try { localStorage.setItem(CLASS_FLAG, '1'); } catch { /* progress then shows after the first check */ }
        location.href = form.dataset.home ?? '/';
        return;
      }
      error.textContent = res.status === 403 ? messages.wrongCode : res.status === 429 ? messages.tooMany : res.status === 400 ? messages.badName : res.status === 409 ? messages.classFull : messages.failed;
    } catch {
      error.textContent = messages.failed;
    }
    button.disabled = false;
    button.textContent = label;
  });
}
