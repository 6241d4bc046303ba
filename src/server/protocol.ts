// The JSON control frames of the terminal WebSocket (see PROTOCOL.md). Parsing never
// throws: anything a client sends becomes either a message or a one-line reason. Every field
// is read as an own property and checked for its type before it is used: a frame is a
// stranger's data, and `String(x)` of {"toString":1} throws (issue 12: it took the lab down).

export const MAX_MESSAGE_BYTES = 64 * 1024;
export const COLS = { min: 1, max: 500 } as const;
export const ROWS = { min: 1, max: 200 } as const;
/** Session ids are made by the page (sessionStorage); we only accept a plain, bounded shape. */
export const SESSION_ID = /^[A-Za-z0-9_-]{8,64}$/;
const LESSON_ID = /^[a-z]{2}(-[a-z]{2,4})?\/[a-z0-9][a-z0-9-]{0,99}$/;
const EXERCISE_ID = /^[a-z0-9][a-z0-9-]{0,99}$/;

export type ClientMessage =
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'ack'; bytes: number }
  | { type: 'check'; lesson: string; exercise: string }
  | { type: 'panel'; on: boolean; tab?: PanelTab }
  | { type: 'close' }
  // In a class: the student's answer to the instructor's request to type (viewer.ts).
  | { type: 'control'; allow: boolean };

/** The kernel panel's views; the server samples namespaces only while theirs is shown. */
export const PANEL_TABS = ['trace', 'resources', 'namespaces'] as const;
export type PanelTab = (typeof PANEL_TABS)[number];

export type ServerMessage =
  | { type: 'hello'; session: string; sandbox: string; resumed: boolean; term: number }
  | { type: 'exit'; code: number; reason?: string }
  | { type: 'check'; exercise: string; pass: boolean; hint: string; detail: string }
  // `exercise` (and `lesson`): the error answers that exercise's check (refused, or could not run).
  | { type: 'error'; message: string; lesson?: string; exercise?: string }
  | { type: 'full'; message?: string }
  | { type: 'control'; state: 'asked' | 'allowed' | 'none'; by?: string }
  // The kernel panel (panel.ts): sent only while the page says it shows the panel.
  | { type: 'trace'; reset: boolean; events: unknown[] }
  | { type: 'stats'; t?: number; version?: 1 | 2; groups?: unknown[]; unavailable?: string }
  | { type: 'namespaces'; unavailable?: string; [key: string]: unknown };

export type Parsed = { ok: true; message: ClientMessage } | { ok: false; error: string };

export function validSize(cols: unknown, rows: unknown): cols is number {
  return Number.isInteger(cols) && Number.isInteger(rows)
    && (cols as number) >= COLS.min && (cols as number) <= COLS.max
    && (rows as number) >= ROWS.min && (rows as number) <= ROWS.max;
}

const SIZE_ERROR = `resize needs whole numbers: cols ${COLS.min}..${COLS.max}, rows ${ROWS.min}..${ROWS.max}`;

/** An own property of a parsed JSON object: "__proto__", "constructor"... are only data here. */
function field(o: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(o, name) ? o[name] : undefined;
}

/** A client's value, shown back to it in an error: strings cut short, anything else by its kind. */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.slice(0, 32));
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : typeof v;
}

export function parseClientMessage(text: string): Parsed {
  let value: unknown;
  try { value = JSON.parse(text); } catch { return { ok: false, error: 'malformed JSON in a text frame' }; }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, error: 'a text frame must be a JSON object with a "type"' };
  }
  const m = value as Record<string, unknown>;
  const type = field(m, 'type');
  switch (type) {
    case 'resize': {
      const cols = field(m, 'cols');
      const rows = field(m, 'rows');
      if (!validSize(cols, rows)) return { ok: false, error: SIZE_ERROR };
      return { ok: true, message: { type: 'resize', cols, rows: rows as number } };
    }
    case 'ack': {
      const bytes = field(m, 'bytes');
      if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) {
        return { ok: false, error: 'ack needs "bytes": a whole number >= 0' };
      }
      return { ok: true, message: { type: 'ack', bytes } };
    }
    case 'check': {
      const lesson = field(m, 'lesson');
      const exercise = field(m, 'exercise');
      if (typeof lesson !== 'string' || !LESSON_ID.test(lesson)) {
        return { ok: false, error: 'check needs "lesson" like "en/pid-namespaces"' };
      }
      if (typeof exercise !== 'string' || !EXERCISE_ID.test(exercise)) {
        return { ok: false, error: 'check needs "exercise" like "pid-one"' };
      }
      return { ok: true, message: { type: 'check', lesson, exercise } };
    }
    case 'panel': {
      const on = field(m, 'on');
      const tab = field(m, 'tab');
      if (typeof on !== 'boolean') return { ok: false, error: 'panel needs "on": true or false' };
      if (tab !== undefined && !(typeof tab === 'string' && (PANEL_TABS as readonly string[]).includes(tab))) {
        return { ok: false, error: `panel "tab" must be one of ${PANEL_TABS.join(', ')}` };
      }
      return { ok: true, message: { type: 'panel', on, ...(tab !== undefined ? { tab: tab as PanelTab } : {}) } };
    }
    case 'close':
      return { ok: true, message: { type: 'close' } };
    case 'control': {
      const allow = field(m, 'allow');
      if (typeof allow !== 'boolean') return { ok: false, error: 'control needs "allow": true or false' };
      return { ok: true, message: { type: 'control', allow } };
    }
    default:
      return { ok: false, error: `unknown message type ${describeValue(type)}` };
  }
}

/** The terminal's number from the WebSocket URL (`term`): absent -> 1; a plain number 1..99, else null. */
export function terminalIndex(term: string | null): number | null {
  if (term === null) return 1;
  return /^[1-9]\d?$/.test(term) ? Number(term) : null;
}

/** cols/rows from the WebSocket URL: absent -> 80x24; present but out of range -> null. */
export function initialSize(cols: string | null, rows: string | null): { cols: number; rows: number } | null {
  if (cols === null && rows === null) return { cols: 80, rows: 24 };
  const c = cols === null ? 80 : /^\d{1,6}$/.test(cols) ? Number(cols) : NaN;
  const r = rows === null ? 24 : /^\d{1,6}$/.test(rows) ? Number(rows) : NaN;
  return validSize(c, r) ? { cols: c, rows: r } : null;
}
