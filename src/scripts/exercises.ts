// Exercise boxes: Check asks the lab server (through the Terminal island's `isolab:check`
// event) to run that exercise's check in this reader's sandbox; the answer arrives as an
// `isolab:check-result` event. Passed exercises are remembered in localStorage.
import { hasPassed, markPassed } from './progress.ts';
import { clientStrings } from './strings.ts';
import { localizeServerMessage } from './server-messages.ts';

export interface CheckRequest {
  lesson: string;
  exercise: string;
}
export interface CheckResult {
  type: 'check';
  exercise: string;
  pass: boolean;
  hint?: string;
  detail?: string;
  /** The code of the server's own sentence in `detail`, when it is one (a timeout, a bare status). */
  said?: unknown;
}

const TIMEOUT_MS = 20_000;
/** The solution (when the lesson gives one) is offered after this many failed checks. */
const SOLUTION_AFTER_FAILS = 2;

/**
 * Why the check failed, in the reader's words: its last `fail: <key>` line, looked up in the
 * exercise's reasons (the lesson's frontmatter, in the page's language). '' when it gave none.
 */
export function failReason(detail: string, reasons: Record<string, string>): string {
  const keys = [...detail.matchAll(/^fail: ([a-z0-9-]+)\s*$/gm)].map((m) => m[1]!);
  const key = keys[keys.length - 1];
  return key !== undefined && Object.hasOwn(reasons, key) ? reasons[key]! : '';
}

function reasonsOf(box: HTMLElement): Record<string, string> {
  try {
    const r: unknown = JSON.parse(box.dataset.reasons ?? '{}');
    return r && typeof r === 'object' ? (r as Record<string, string>) : {};
  } catch {
    return {};
  }
}
let mounted = false;

function parts(box: HTMLElement) {
  return {
    status: box.querySelector<HTMLElement>('[data-testid="exercise-status"]')!,
    result: box.querySelector<HTMLElement>('[data-testid="exercise-result"]')!,
    hint: box.querySelector<HTMLElement>('[data-testid="exercise-hint"]')!,
    hintText: box.querySelector<HTMLElement>('.hint-text')!,
    button: box.querySelector<HTMLButtonElement>('[data-testid="check-button"]')!,
  };
}

function show(box: HTMLElement, status: 'idle' | 'checking' | 'pass' | 'fail', message = ''): void {
  const s = clientStrings();
  const p = parts(box);
  box.dataset.status = status;
  p.status.textContent =
    status === 'pass' ? `✓ ${s.passed}` : status === 'fail' ? `✗ ${s.failed}` : status === 'checking' ? s.checking : s.notChecked;
  p.result.textContent = message;
  p.button.disabled = status === 'checking';
  p.hint.hidden = status !== 'fail' || !p.hintText.textContent?.trim();
}

export function mountExercises(): void {
  if (mounted) return;
  mounted = true;
  const boxes = [...document.querySelectorAll<HTMLElement>('[data-testid="exercise"]')];
  const timers = new Map<string, number>();
  const fails = new Map<HTMLElement, number>();

  for (const box of boxes) {
    const { lesson, exercise } = box.dataset as { lesson: string; exercise: string };
    if (hasPassed(lesson, exercise)) show(box, 'pass');
    parts(box).button.addEventListener('click', () => {
      const s = clientStrings();
      if (!window.isolab) {
        show(box, 'fail', s.needsTerminal);
        parts(box).hint.hidden = true;
        return;
      }
      show(box, 'checking');
      window.dispatchEvent(new CustomEvent<CheckRequest>('isolab:check', { detail: { lesson, exercise } }));
      window.clearTimeout(timers.get(exercise));
      timers.set(
        exercise,
        window.setTimeout(() => {
          if (box.dataset.status === 'checking') show(box, 'idle', s.checkTimeout);
        }, TIMEOUT_MS),
      );
    });
  }

  // The server did not run the check (too many at once, one already running, the sandbox gone):
  // the box goes back to idle with the server's words, and this is not counted as a failure.
  window.addEventListener('isolab:check-refused', (event) => {
    const r = (event as CustomEvent<{ exercise: string; message: string }>).detail;
    for (const box of boxes.filter((b) => b.dataset.exercise === r.exercise && b.dataset.status === 'checking')) {
      window.clearTimeout(timers.get(r.exercise));
      show(box, 'idle', r.message.slice(0, 400));
    }
  });

  window.addEventListener('isolab:check-result', (event) => {
    const r = (event as CustomEvent<CheckResult>).detail;
    for (const box of boxes.filter((b) => b.dataset.exercise === r.exercise)) {
      window.clearTimeout(timers.get(r.exercise));
      if (r.pass) {
        markPassed(box.dataset.lesson!, r.exercise);
        show(box, 'pass', r.detail ?? '');
      } else {
        const reason = failReason(r.detail ?? '', reasonsOf(box));
        show(box, 'fail', reason || localizeServerMessage(r.detail ?? '', r.said, clientStrings()).slice(0, 400));
        box.dataset.reason = reason ? 'yes' : '';
        const n = (fails.get(box) ?? 0) + 1;
        fails.set(box, n);
        const solution = box.querySelector<HTMLElement>('[data-testid="exercise-solution"]');
        if (solution && n >= SOLUTION_AFTER_FAILS) solution.hidden = false;
      }
    }
  });
}
