// The instructor's page: draw the roster and the exercise matrix from the server's event stream
// (src/server/instructor.ts), and send resets and the close. Text goes in by textContent only:
// names and check output come from students.

interface Student {
  id: number; name: string; connected: boolean; lesson: string; lessonsRead: number;
  passed: Record<string, number>;
  lastFail: { lesson: string; exercise: string; at: number; why: string; hint: string } | null;
}
interface Roster {
  class: { name: string; code: string; closed: boolean };
  exercises: { key: string; slug: string; exercise: string; title: string }[];
  students: Student[];
}

const root = document.querySelector<HTMLElement>('[data-testid="teach"]');
if (root) {
  const w = JSON.parse(root.dataset.words ?? '{}') as Record<string, string>;
  const $ = <T extends HTMLElement>(id: string) => root.querySelector<T>(`[data-testid="${id}"]`)!;
  const status = $('teach-status');

  const el = <K extends keyof HTMLElementTagNameMap>(tag: K, text = '', cls = ''): HTMLElementTagNameMap[K] => {
    const e = document.createElement(tag);
    if (text) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  };
  const row = (cells: HTMLElement[]) => { const tr = el('tr'); tr.append(...cells); return tr; };

  const post = (path: string, body: unknown) => fetch(path, {
    method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });

  function draw(r: Roster): void {
    $('teach-class').textContent = r.class.name;
    document.title = r.class.name;
    $('teach-code').textContent = r.class.code;
    $('teach-closed').hidden = !r.class.closed;
    $<HTMLButtonElement>('teach-close').disabled = r.class.closed;

    const roster = $<HTMLTableElement>('roster');
    roster.tHead!.replaceChildren(row([w.name, w.connected, w.lesson, w.passed, w.lastFail, w.hint, '', ''].map((t) => el('th', t))));
    const body = r.students.map((s) => {
      const reset = el('button', w.reset);
      reset.type = 'button';
      reset.dataset.testid = 'reset-student';
      reset.disabled = r.class.closed;
      reset.addEventListener('click', () => {
        if (confirm(w.resetConfirm.replace('{name}', s.name))) void post('/api/teach/reset', { student: s.id });
      });
      // Watch: the student's terminal, read-only, in a tab of its own (src/pages/view.astro).
      const watch = el('a', w.watch);
      watch.href = `${root!.dataset.lang === 'en' ? '' : `/${root!.dataset.lang}`}/view/?student=${s.id}`;
      watch.target = '_blank';
      watch.dataset.testid = 'watch-student';
      const fail = s.lastFail ? `${s.lastFail.lesson} · ${s.lastFail.exercise}: ${s.lastFail.why}` : '';
      const tr = row([
        el('td', s.name), el('td', s.connected ? `● ${w.yes}` : `○ ${w.no}`, s.connected ? 'dot-on' : 'dot-off'),
        el('td', s.lesson), el('td', String(Object.keys(s.passed).length)), el('td', fail, 'fail'), el('td', s.lastFail?.hint ?? '', 'fail'),
        (() => { const td = el('td'); td.append(watch); return td; })(),
        (() => { const td = el('td'); td.append(reset); return td; })(),
      ]);
      tr.dataset.student = s.name;
      tr.dataset.connected = String(s.connected);
      return tr;
    });
    roster.tBodies[0].replaceChildren(...(body.length ? body : [row([Object.assign(el('td', w.nobody), { colSpan: 8 })])]));

    // The matrix: only exercises someone passed or tried would be too little; all of them is
    // the course. Show the ones of lessons any student has touched, else all.
    const touched = new Set(r.students.flatMap((s) => [...Object.keys(s.passed), ...(s.lastFail ? [`${s.lastFail.lesson.split('/')[1]}/${s.lastFail.exercise}`] : [])]).map((k) => k.split('/')[0]));
    const cols = r.exercises.filter((e) => touched.size === 0 || touched.has(e.slug));
    const matrix = $<HTMLTableElement>('matrix');
    matrix.tHead!.replaceChildren(row([el('th', w.name), ...cols.map((e) => {
      const th = el('th', e.key, 'ex');
      th.title = `${e.title}: ${e.exercise}`;
      return th;
    })]));
    matrix.tBodies[0].replaceChildren(...r.students.map((s) => {
      const tr = row([el('th', s.name), ...cols.map((e) => {
        const at = s.passed[e.key];
        const td = el('td', at ? '✓' : '', at ? 'pass' : '');
        td.dataset.key = e.key;
        if (at) td.title = new Date(at).toLocaleTimeString(root!.dataset.lang);
        return td;
      })]);
      tr.dataset.student = s.name;
      return tr;
    }));
  }

  $('teach-close').addEventListener('click', () => {
    if (confirm(w.closeConfirm)) void post('/api/teach/close', {});
  });

  // EventSource reconnects by itself after a drop.
  const events = new EventSource('/api/teach/events');
  events.addEventListener('roster', (e) => {
    status.textContent = w.live;
    draw(JSON.parse((e as MessageEvent<string>).data) as Roster);
  });
  events.addEventListener('error', () => { status.textContent = w.offline; });
}
