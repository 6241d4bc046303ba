// The build step that lists every module a page runs as <link rel="modulepreload"> at the top of
// its head (src/lib/module-preload.ts), on chunks as Vite writes them.
import { describe, expect, it } from 'vitest';
import { moduleGraph, staticImports, withModulePreload } from '../../src/lib/module-preload.ts';

const chunks: Record<string, string> = {
  '/_astro/Terminal.abc.js': 'import{n as e,r as t}from"./xterm.123.js";import{n as r}from"./server-messages.456.js";e();const x=()=>import("./lazy.789.js");',
  '/_astro/xterm.123.js': 'var a=1;export{a as n,a as r};',
  '/_astro/server-messages.456.js': 'import"./strings.000.js";export{};',
  '/_astro/strings.000.js': 'export const s=1;',
  '/_astro/Site.def.js': 'import{s}from"./strings.000.js";',
};
const page = `<!doctype html><html><head><meta charset="utf-8"><script>early()</script><title>x</title><style>body{}</style></head><body>
<script type="module" src="/_astro/Terminal.abc.js"></script><script type="module" src="/_astro/Site.def.js"></script></body></html>`;

describe('modulepreload links from the build', () => {
  it("reads a chunk's static imports, not its dynamic ones", () => {
    expect(staticImports(chunks['/_astro/Terminal.abc.js']!, '/_astro/Terminal.abc.js')).toEqual(['/_astro/xterm.123.js', '/_astro/server-messages.456.js']);
    expect(staticImports(chunks['/_astro/server-messages.456.js']!, '/_astro/server-messages.456.js')).toEqual(['/_astro/strings.000.js']);
  });

  it('lists every module of the page once, imports before the script that needs them', () => {
    expect(moduleGraph(page, (p) => chunks[p])).toEqual([
      '/_astro/xterm.123.js', '/_astro/strings.000.js', '/_astro/server-messages.456.js', '/_astro/Terminal.abc.js', '/_astro/Site.def.js',
    ]);
  });

  it('puts the links in the head before its first style, after the early scripts; once', () => {
    const out = withModulePreload(page, ['/_astro/xterm.123.js', '/_astro/Terminal.abc.js']);
    expect(out).toContain('<script>early()</script><title>x</title><link rel="modulepreload" href="/_astro/xterm.123.js"><link rel="modulepreload" href="/_astro/Terminal.abc.js"><style>');
    expect(withModulePreload(out, ['/_astro/xterm.123.js'])).toBe(out);
    expect(withModulePreload(page, [])).toBe(page);
  });
});
