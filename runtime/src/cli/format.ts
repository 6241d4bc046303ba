// How box prints for people: sizes, durations and tables the way docker prints them, so a
// reader who knows `docker ps` and `docker images` reads box's output the same way. One copy,
// used by every command that prints a table (ps, images, history, trust ls...).

import { UserError } from '../sys/errors.ts';

// Durations live with the container's status (the engine says "Up 5 minutes" too); one copy.
export { ago, humanDuration } from '../container/status.ts';

/** Bytes as Docker prints them: decimal units, three significant digits ("4.26MB", "772kB", "0B"). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let u = 0;
  while (u < units.length - 1 && Number(v.toPrecision(3)) >= 1000) {
    v /= 1000;
    u++;
  }
  return `${Number(v.toPrecision(3))}${units[u]}`;
}

/** Columns padded to the widest cell plus three spaces, as `docker` and `box ps` print them. */
export function formatTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 3))).join('').trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

/** Shorten to `max` characters with an ellipsis, as docker does without --no-trunc. */
export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The part of Go templates that `docker inspect -f` users reach for: {{.A.B}} and {{json .A}}. */
export function formatTemplate(format: string, value: Record<string, unknown>): string {
  return format.replace(/\{\{\s*(json\s+)?\.([A-Za-z0-9_.]*)\s*\}\}/g, (_m, json: string | undefined, field: string) => {
    let v: unknown = value;
    for (const key of field.split('.').filter(Boolean)) {
      if (v === null || typeof v !== 'object' || !(key in (v as object))) {
        throw new UserError(`--format: no field '${field}'; the fields are those of \`box inspect\` (e.g. .State.Pid)`);
      }
      v = (v as Record<string, unknown>)[key];
    }
    return json || (v !== null && typeof v === 'object') ? JSON.stringify(v) : String(v);
  });
}
