// Which of Pagefind's results really match the reader's words.
//
// Pagefind stems English, but it has no stemmer for Korean (its index says `wasm: null` for
// ko), and there it falls back to the longest indexed word the query starts with: "zebra"
// finds the "-Z" of `id -Z`, and "없는단어입니다" finds every "없는". That fallback is what
// lets "네임스페이스에서" find "네임스페이스" (Korean glues particles to words), so it stays,
// but only when the shared start is a real part of the word the reader typed.

/** The text inside each <mark> of a Pagefind excerpt, lower-cased, edge punctuation cut. */
export function markedWords(excerpt: string): string[] {
  return [...excerpt.matchAll(/<mark>([^<]*)<\/mark>/g)]
    .map((m) => m[1]!.toLowerCase().replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, ''))
    .filter((w) => w.length > 0);
}

function commonStart(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  let n = 0;
  while (n < x.length && n < y.length && x[n] === y[n]) n++;
  return n;
}

/** Does word `found` (from the page) match `typed` (one word of the query)? */
export function wordMatches(typed: string, found: string): boolean {
  const t = typed.toLowerCase();
  const shared = commonStart(t, found);
  const length = [...t].length;
  // The whole typed word starts the page's word (Pagefind's prefix search), or they share a
  // start of at least two letters and four tenths of what was typed ("running" and "runs"
  // through the English stemmer, "네임스페이스에서" and "네임스페이스"): not one stray letter.
  return shared >= length || shared >= Math.max(2, Math.ceil(length * 0.4));
}

/** Keep a result when some typed word matches some marked word; a result with no marks (a match in
 *  its title or metadata) is kept as Pagefind ranked it. */
export function isRelevant(query: string, excerpt: string): boolean {
  const found = markedWords(excerpt);
  if (found.length === 0) return true;
  const typed = query.split(/\s+/).filter(Boolean);
  return typed.some((t) => found.some((f) => wordMatches(t, f)));
}
