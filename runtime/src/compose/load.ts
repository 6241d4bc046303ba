// Reading one Compose file: YAML (with the line of every node kept, for errors), variables
// interpolated in its values, then checked against the specification's schema and against
// what box runs. The result is plain data plus a way back from a key to its line.

import fs from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import { ComposeError } from './errors.ts';
import { interpolate, InterpolationError } from './interpolate.ts';
import { checkSchema } from './schema.ts';
import { checkSupported } from './supported.ts';

export interface LoadedFile {
  file: string;
  data: Record<string, unknown>;
  /** The line of the key at `path` (of the nearest key above it that this file has, with `exact` false). */
  lineOf(path: (string | number)[], exact?: boolean): number | undefined;
  /** Variables used but not set, each with its first line. */
  unset: { name: string; line: number }[];
}

// After interpolation a value is a string; Compose casts these keys back to what the schema
// wants (replicas: ${N} is a number, read_only: ${RO} a boolean).
const INT_KEYS = new Set(['replicas', 'pids_limit', 'retries', 'target', 'pids']);
const BOOL_KEYS = new Set(['read_only', 'init', 'external', 'internal', 'disable', 'required', 'nocopy', 'create_host_path']);

export function loadFile(file: string, env: Record<string, string | undefined>): LoadedFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ComposeError(file, undefined, `cannot read it (${(err as NodeJS.ErrnoException).code})`);
  }
  const lines = new LineCounter();
  // merge: the `<<: *anchor` merge key of YAML 1.1, which Compose reads (spec, 10-fragments.md).
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, merge: true });
  const lineAt = (offset: number | undefined) => (offset === undefined ? undefined : lines.linePos(offset).line);
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new ComposeError(file, lineAt(e.pos[0]), `not valid YAML: ${e.message.split('\n')[0]}`);
  }
  const unset: LoadedFile['unset'] = [];
  visit(doc, {
    Pair(_key, pair) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      const v = pair.value;
      if (!isScalar(v) || typeof v.value !== 'string' || !v.value.includes('$')) return;
      cast(v, key, expandScalar(v.value, v.range?.[0]));
    },
    Seq(_key, seq) {
      for (const item of seq.items) {
        if (isScalar(item) && typeof item.value === 'string' && item.value.includes('$')) item.value = expandScalar(item.value, item.range?.[0]);
      }
    },
  });
  function expandScalar(value: string, offset: number | undefined): string {
    try {
      const r = interpolate(value, env);
      for (const name of r.unset) if (!unset.some((u) => u.name === name)) unset.push({ name, line: lineAt(offset) ?? 0 });
      return r.value;
    } catch (err) {
      if (err instanceof InterpolationError) throw new ComposeError(file, lineAt(offset), err.message);
      throw err;
    }
  }
  function cast(node: { value: unknown }, key: string, value: string): void {
    if (INT_KEYS.has(key) && /^-?\d+$/.test(value)) node.value = Number(value);
    else if (BOOL_KEYS.has(key) && /^(true|false)$/i.test(value)) node.value = value.toLowerCase() === 'true';
    else node.value = value;
  }

  const data = (doc.toJS({ maxAliasCount: 1000 }) ?? {}) as Record<string, unknown>;
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ComposeError(file, 1, 'a Compose file is a mapping of keys (services:, networks:, volumes:)');
  }
  const lineOf = (path: (string | number)[], exact = false) => lineAt(rangeOf(doc, path, exact));
  const problem = checkSchema(data) ?? checkSupported(data);
  if (problem) {
    throw new ComposeError(file, lineOf(problem.key !== undefined ? [...problem.path, problem.key] : problem.path), problem.message);
  }
  return { file, data, lineOf, unset };
}

/** The offset of the key at `path` (its key node when it is a mapping's key, else the item). */
function rangeOf(doc: Document, path: (string | number)[], exact: boolean): number | undefined {
  let node: unknown = doc.contents;
  let offset = (node as Node | null)?.range?.[0];
  for (const k of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(k));
      if (!pair) return exact ? undefined : offset;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof k === 'number' && k < node.items.length) {
      node = node.items[k];
      offset = (node as Node | null)?.range?.[0] ?? offset;
    } else {
      return exact ? undefined : offset;
    }
  }
  return offset;
}
