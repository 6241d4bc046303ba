// Label and field selectors, as in `kubectl get pods -l app=web` and the watches the
// controllers and kubectl make (`fieldSelector=metadata.name=web-1`): only equality, the
// form box's objects need (`a=b`, `a==b`, `a!=b`, comma for "and").

import type { Obj } from './store.ts';

type Test = (o: Obj) => boolean;

function parse(selector: string | null, value: (o: Obj, key: string) => unknown): Test {
  if (!selector) return () => true;
  const tests = selector.split(',').filter(Boolean).map((term): Test => {
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(term.trim());
    if (!m) { const key = term.trim(); return (o) => value(o, key) !== undefined; } // `-l app`: has the label
    const [, key, op, want] = m;
    return op === '!=' ? (o) => value(o, key) !== want : (o) => String(value(o, key) ?? '') === want;
  });
  return (o) => tests.every((t) => t(o));
}

export const labelSelector = (s: string | null) => parse(s, (o, k) => o.metadata?.labels?.[k]);

export const fieldSelector = (s: string | null) => parse(s, (o, k) => k.split('.').reduce((v: any, p) => v?.[p], o));

/** Does a matchLabels selector select these labels? (an empty selector selects nothing) */
export function matches(selector: Obj | undefined, labels: Obj | undefined): boolean {
  const want = Object.entries(selector?.matchLabels ?? selector ?? {});
  return want.length > 0 && want.every(([k, v]) => labels?.[k] === v);
}
