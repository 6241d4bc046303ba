// In a class, progress also lives on the lab server (src/server/class-http.ts), so it follows
// the student to another device. On each page the server's copy is merged into this browser's
// (progress.ts); a lesson read to the end is reported back. Exercises are recorded by the
// server itself when its check passes, so a page cannot claim one.

export const CLASS_FLAG = 'isolab.class';

function inClass(): boolean {
  try { return localStorage.getItem(CLASS_FLAG) === '1'; } catch { return false; }
}

interface ServerProgress {
  lessonsRead: { lesson: string; at: number }[];
  exercises: { lesson: string; exercise: string; passedAt: number | null }[];
}

/** Fetch the student's progress; null outside a class (the flag is then dropped). */
export async function fetchClassProgress(): Promise<ServerProgress | null> {
  if (!inClass()) return null;
  try {
    const res = await fetch('/api/class/me', { cache: 'no-store', credentials: 'same-origin' });
    if (res.status === 401 || res.status === 404) {
      try { localStorage.removeItem(CLASS_FLAG); } catch { /* nothing to forget */ }
      return null;
    }
    if (!res.ok) return null;
    return ((await res.json()) as { progress: ServerProgress }).progress;
  } catch {
    return null;
  }
}

/** 'read': read to the end; 'at': the page now open (the instructor's roster shows it). */
export function reportRead(lessonId: string, what: 'read' | 'at' = 'read'): void {
  if (!inClass()) return;
  fetch(`/api/class/${what}`, {
    method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ lesson: lessonId }),
  }).catch(() => { /* the next page load merges again */ });
}
