// The layering of runtime/src, checked from its imports (static and dynamic): cli -> container
// -> (image, cgroups, security, rootfs, ns...) -> sys. Nothing outside cli/ imports cli/, and
// no two top-level folders reach each other (no cycle through any number of folders), so a
// reader can take the folders in an order where each uses only the ones before it.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../../runtime/src');

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Its top-level folder under runtime/src ('.' for a file at the top, such as home.ts). */
const folder = (file: string) => {
  const parts = path.relative(ROOT, file).split(path.sep);
  return parts.length > 1 ? parts[0] : '.';
};

/** Every relative import of every file: [from file, to file]. */
function imports(): [string, string][] {
  return tsFiles(ROOT).flatMap((f) => {
    const src = fs.readFileSync(f, 'utf8');
    return [...src.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)'(\.{1,2}\/[^']+)'/gm)]
      .map((m) => [f, path.resolve(path.dirname(f), m[1])] as [string, string]);
  });
}

/** Folders that reach each other (strongly connected components of more than one folder). */
function cycles(edges: Map<string, Set<string>>): string[][] {
  const reach = (from: string) => {
    const seen = new Set<string>();
    const todo = [from];
    while (todo.length) for (const n of edges.get(todo.pop()!) ?? []) if (!seen.has(n)) { seen.add(n); todo.push(n); }
    return seen;
  };
  const out: string[][] = [];
  const placed = new Set<string>();
  for (const a of [...edges.keys()].sort()) {
    if (placed.has(a)) continue;
    const group = [...reach(a)].filter((b) => b !== a && reach(b).has(a));
    if (group.length) {
      out.push([a, ...group].sort());
      for (const g of group) placed.add(g);
    }
    placed.add(a);
  }
  return out;
}

describe('layering of runtime/src', () => {
  const all = imports();

  it('finds the imports it checks (the scan itself works)', () => {
    expect(all.some(([f, t]) => f.endsWith('cli/main.ts') && t.endsWith('cli/commands.ts'))).toBe(true);
    expect(all.some(([f, t]) => folder(f) === 'container' && folder(t) === 'sys')).toBe(true);
  });

  it('nothing outside cli/ imports from cli/', () => {
    const offending = all.filter(([f, t]) => folder(t) === 'cli' && folder(f) !== 'cli')
      .map(([f, t]) => `${path.relative(ROOT, f)} -> ${path.relative(ROOT, t)}`);
    expect(offending).toEqual([]);
  });

  it('no cycle between top-level folders', () => {
    const edges = new Map<string, Set<string>>();
    const why = new Map<string, string>();
    for (const [f, t] of all) {
      const a = folder(f), b = folder(t);
      if (a === b) continue;
      if (!edges.has(a)) edges.set(a, new Set());
      edges.get(a)!.add(b);
      why.set(`${a}->${b}`, `${path.relative(ROOT, f)} -> ${path.relative(ROOT, t)}`);
    }
    const found = cycles(edges).map((group) => ({
      folders: group,
      edges: [...why].filter(([k]) => { const [a, b] = k.split('->'); return group.includes(a) && group.includes(b); }).map(([, v]) => v),
    }));
    expect(found).toEqual([]);
  });

  it('no two cli/ files import each other, not even lazily (the commands share cli/command.ts and cli/format.ts)', () => {
    const edges = new Map<string, Set<string>>();
    for (const [f, t] of all) {
      if (folder(f) !== 'cli' || folder(t) !== 'cli') continue;
      const a = path.relative(ROOT, f), b = path.relative(ROOT, t);
      if (!edges.has(a)) edges.set(a, new Set());
      edges.get(a)!.add(b);
    }
    expect(edges.get('cli/commands.ts')?.has('cli/image-commands.ts')).toBe(true); // the dispatcher loads it
    expect(cycles(edges)).toEqual([]);
  });
});
