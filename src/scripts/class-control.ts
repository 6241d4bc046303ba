// In a class, the instructor may ask to type in a student's terminal (src/server/viewer.ts).
// The terminal's socket brings the request (`isolab:control` from terminal.ts); this bar above
// the terminal asks the student (Allow / Deny), and while the instructor may type it says so
// and offers to stop it. Nothing reaches the terminal from the instructor until Allow.
import { clientStrings } from './strings.ts';

interface ControlEvent { state: 'asked' | 'allowed' | 'none'; by?: string; answer(allow: boolean): void }

export function setupClassControl(pane: HTMLElement): void {
  const s = clientStrings();
  const bar = document.createElement('div');
  bar.className = 'term-notice term-control';
  bar.dataset.testid = 'control-prompt';
  bar.setAttribute('role', 'alert');
  bar.hidden = true;
  const text = document.createElement('span');
  text.className = 'notice-text';
  text.dataset.testid = 'control-text';
  const button = (label: string, testid: string) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'notice-action';
    b.textContent = label;
    b.dataset.testid = testid;
    return b;
  };
  const allow = button(s.controlAllow, 'control-allow');
  const deny = button(s.controlDeny, 'control-deny');
  const revoke = button(s.controlRevoke, 'control-revoke');
  deny.classList.add('notice-secondary');
  bar.append(text, allow, deny, revoke);
  const notice = pane.querySelector('[data-testid="terminal-notice"]');
  if (notice) notice.after(bar); else pane.prepend(bar);

  let answer: (allow: boolean) => void = () => {};
  allow.addEventListener('click', () => answer(true));
  deny.addEventListener('click', () => { answer(false); bar.hidden = true; });
  revoke.addEventListener('click', () => { answer(false); bar.hidden = true; });

  window.addEventListener('isolab:control', (e) => {
    const c = (e as CustomEvent<ControlEvent>).detail;
    answer = c.answer;
    bar.dataset.state = c.state;
    bar.hidden = c.state === 'none';
    const by = c.by ?? '';
    text.textContent = (c.state === 'allowed' ? s.controlAllowed : s.controlAsked).replace('{s}', by);
    allow.hidden = deny.hidden = c.state !== 'asked';
    revoke.hidden = c.state !== 'allowed';
    // No focus moves to Allow: an Enter meant for the shell must not grant anything.
  });
}
