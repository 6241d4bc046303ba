// Medians and percentiles for the benchmarks. A module of its own: the sections of
// `npm run bench` are imported by run.ts, and importing run.ts back from one of them would
// wait for run.ts's own top-level await to finish (a cycle that never settles).

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The p-th percentile, nearest rank. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
