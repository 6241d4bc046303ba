// Builds the site (Astro, for real) and reads the HTML a reader's browser would get.
//
// Two builds into temporary directories, never touching dist/:
//  - the fixture lessons in test/fixtures/site/ (every kind of code block, a terminal: false
//    chapter, an exercise), where the exact expected markup is known;
//  - the course's own lessons in content/lessons/, where every page must exist and follow
//    the same rules.
// A third build of test/fixtures/site-broken/ must fail with a message naming the mistake.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ASTRO = path.join(ROOT, 'node_modules/astro/bin/astro.mjs');
// Inside the project on purpose: with an outDir outside the working directory Astro puts its
// prerender chunks in the shared .astro/, where a concurrent `npm start` build would meet them.
const cacheRoot = path.join(ROOT, 'node_modules/.cache');
fs.mkdirSync(cacheRoot, { recursive: true });
const tmp = fs.mkdtempSync(path.join(cacheRoot, 'isolab-site-test-'));

function build(lessonsDir: string, name: string): { ok: boolean; out: string; log: string } {
  const out = path.join(tmp, name, 'dist');
  const r = spawnSync(process.execPath, [ASTRO, 'build'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      ...process.env,
      ASTRO_TELEMETRY_DISABLED: '1',
      ISOLAB_LESSONS_DIR: lessonsDir,
      ISOLAB_SITE_OUT: out,
      ISOLAB_SITE_CACHE: path.join(tmp, name, 'cache'),
    },
  });
  return { ok: r.status === 0, out, log: `${r.stdout}\n${r.stderr}` };
}

// ---- reading built HTML (the markup is ours, so small regular expressions suffice) ----

function decode(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&amp;/g, '&');
}

function attrs(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w:-]+)(?:="([^"]*)")?/g)) out[m[1]] = decode(m[2] ?? '');
  return out;
}

/** Opening tags of elements whose class list contains `cls`. */
function tagsWithClass(html: string, tagName: string, cls: string): Record<string, string>[] {
  // Attribute values may hold '>' (data-command="cat > f"): skip over quoted values.
  const tags = html.match(new RegExp(`<${tagName}\\b(?:[^>"']|"[^"]*"|'[^']*')*>`, 'g')) ?? [];
  return tags.map(attrs).filter((a) => (a.class ?? '').split(/\s+/).includes(cls));
}

interface Block {
  kind: 'runnable' | 'output';
  lang: string;
  runCommands: string[];
  copy: string;
}

/** Each code block on a page: its kind, its Run buttons' commands and its Copy text. */
function codeBlocks(html: string): Block[] {
  const parts = html.split(/(?=<div class="code-block )/).slice(1);
  return parts.map((part) => {
    const end = part.indexOf('</pre>');
    const toolbarEnd = part.indexOf('</div></div>');
    const open = attrs(part.slice(0, part.indexOf('>') + 1));
    const pre = part.slice(0, end);
    const toolbar = part.slice(end, toolbarEnd);
    return {
      kind: open.class.includes('runnable') ? 'runnable' : 'output',
      lang: open['data-lang'],
      runCommands: tagsWithClass(pre, 'button', 'run-btn').map((a) => a['data-command']),
      copy: tagsWithClass(toolbar, 'button', 'copy-btn')[0]?.['data-code'],
    };
  });
}

/** Every JS file a page loads, following static and dynamic imports between bundles. */
function reachableScripts(dist: string, html: string): string[] {
  const seen = new Set<string>();
  const visit = (code: string, from: string) => {
    for (const m of code.matchAll(/(?:import|from)\s*\(?\s*["']([^"']+\.js)["']/g)) {
      const file = path.resolve(from, m[1].startsWith('/') ? path.join(dist, m[1]) : m[1]);
      const abs = m[1].startsWith('/') ? path.join(dist, m[1]) : file;
      if (!seen.has(abs) && fs.existsSync(abs)) {
        seen.add(abs);
        visit(fs.readFileSync(abs, 'utf8'), path.dirname(abs));
      }
    }
  };
  for (const tag of html.match(/<script\b[^>]*>/g) ?? []) {
    const src = attrs(tag).src;
    if (src) visit(`import "${src}"`, dist);
  }
  for (const m of html.matchAll(/<script type="module">([\s\S]*?)<\/script>/g)) visit(m[1], dist);
  return [...seen];
}

const XTERM_JS = 'xterm-helper-textarea'; // a class name xterm.js creates
function loadsXterm(dist: string, html: string): boolean {
  return reachableScripts(dist, html).some((f) => fs.readFileSync(f, 'utf8').includes(XTERM_JS));
}

const PANEL_JS = 'kp-ns-procs'; // a class name only the kernel panel's script creates
function loadsPanel(dist: string, html: string): boolean {
  return reachableScripts(dist, html).some((f) => fs.readFileSync(f, 'utf8').includes(PANEL_JS));
}

/** A page without its language switcher and alternate links (which name the other language's pages). */
function withoutSwitcher(html: string): string {
  return html.replace(/<nav class="lang-switch"[\s\S]*?<\/nav>/g, '').replace(/<link rel="alternate"[^>]*>/g, '');
}

function page(dist: string, url: string): string {
  const file = path.join(dist, url, url.endsWith('/') ? 'index.html' : '');
  expect(fs.existsSync(file), `${url} was built (${file})`).toBe(true);
  return fs.readFileSync(file, 'utf8');
}

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('site build: fixture lessons', () => {
  let dist = '';
  beforeAll(() => {
    const r = build('./test/fixtures/site/lessons', 'fixture');
    if (!r.ok) throw new Error(`astro build failed:\n${r.log}`);
    dist = r.out;
  });

  it('builds a page per lesson, the home page, 401 and 404', () => {
    for (const url of ['/', '/401/', '/lessons/en/reading/', '/lessons/en/runnable/', '/lessons/en/third/']) page(dist, url);
    expect(fs.existsSync(path.join(dist, '404.html'))).toBe(true);
  });

  it('lists chapters by part and chapter number, with previous/next in that order', () => {
    const home = page(dist, '/');
    const order = [...home.matchAll(/<a class="card" href="([^"]+)"/g)].map((m) => m[1]);
    expect(order).toEqual(['/lessons/en/reading/', '/lessons/en/runnable/', '/lessons/en/third/']);
    const sidebar = page(dist, '/lessons/en/runnable/');
    // Part titles are not headings there: the page's h1 is its first heading.
    const parts = [...sidebar.matchAll(/<nav class="sidebar"[\s\S]*?<\/nav>/g)][0][0].match(/<p class="part-title">([^<]+)<\/p>/g);
    expect(parts).toEqual(['<p class="part-title">Fixture part A</p>', '<p class="part-title">Fixture part B</p>']);
    expect(sidebar).toMatch(/<a class="chapter-link" href="\/lessons\/en\/runnable\/" aria-current="page"/);
    expect(sidebar).toMatch(/<a class="prev" href="\/lessons\/en\/reading\/" rel="prev"/);
    expect(sidebar).toMatch(/<a class="next" href="\/lessons\/en\/third\/" rel="next"/);
  });

  it('puts a Run button on each command line of shell blocks and none on output blocks', () => {
    const blocks = codeBlocks(page(dist, '/lessons/en/runnable/'));
    expect(blocks.map((b) => [b.kind, b.lang])).toEqual([
      ['runnable', 'sh'],
      ['runnable', 'bash'],
      ['output', 'text'],
      ['output', 'console'],
    ]);
    expect(blocks[0].runCommands).toEqual([
      'echo one',
      'box run \\\n  --ns pid \\\n  busybox ps',
      "cat > /tmp/f <<'END'\nnot a command\nEND",
      `echo "two" && echo 'three' <tag>`,
    ]);
    expect(blocks[1].runCommands).toEqual(['ls -l /proc/self/ns']);
    expect(blocks[2].runCommands).toEqual([]);
    expect(blocks[3].runCommands).toEqual([]);
    // Copy takes the whole block, exactly as written.
    expect(blocks[0].copy.split('\n')[0]).toBe('# a comment line is not a command');
    expect(blocks[2].copy).toBe('PID   USER\n1     root');
    for (const b of blocks) expect(b.copy, `${b.lang} block has a Copy button`).toBeTypeOf('string');
  });

  it('gives a terminal: false lesson no Run buttons, no terminal and none of its code', () => {
    const html = page(dist, '/lessons/en/reading/');
    const blocks = codeBlocks(html);
    expect(blocks).toHaveLength(1);
    expect(blocks[0]).toMatchObject({ kind: 'output', runCommands: [], copy: 'echo not-runnable-here' });
    expect(html).not.toContain('data-testid="terminal-pane"');
    expect(loadsXterm(dist, html)).toBe(false);
    expect(html).not.toContain('.xterm .xterm-helpers'); // nor xterm's stylesheet
    expect(html).not.toContain('data-testid="kernel-panel"');
    expect(loadsPanel(dist, html)).toBe(false);
  });

  it('loads the terminal script on lesson pages with a terminal and nowhere else', () => {
    const withTerminal = ['/lessons/en/runnable/', '/lessons/en/third/'];
    const without = ['/', '/401/', '/lessons/en/reading/'];
    for (const url of withTerminal) {
      const html = page(dist, url);
      expect(html, url).toContain('data-testid="terminal-pane"');
      expect(html, url).toContain('data-testid="connection-status"');
      expect(loadsXterm(dist, html), `${url} loads xterm`).toBe(true);
      // The kernel panel comes with the terminal: its markup, tabs and script.
      expect(html, url).toContain('data-testid="kernel-panel"');
      for (const tab of ['trace', 'resources', 'namespaces']) expect(html, url).toContain(`data-testid="panel-tab-${tab}"`);
      expect(loadsPanel(dist, html), `${url} loads the kernel panel`).toBe(true);
    }
    for (const url of without) {
      expect(loadsXterm(dist, page(dist, url)), `${url} loads xterm`).toBe(false);
      expect(loadsPanel(dist, page(dist, url)), `${url} loads the kernel panel`).toBe(false);
    }
    expect(loadsXterm(dist, fs.readFileSync(path.join(dist, '404.html'), 'utf8'))).toBe(false);
  });

  it('renders an exercise with its task and hint, but never its check command', () => {
    const html = page(dist, '/lessons/en/runnable/');
    const [box] = tagsWithClass(html, 'section', 'exercise');
    expect(box).toMatchObject({ 'data-exercise': 'make-file', 'data-lesson': 'en/runnable', 'data-status': 'idle' });
    expect(html).toContain('data-testid="check-button"');
    expect(html).toContain('data-testid="exercise-status"');
    expect(html).toContain('Create <code>/tmp/marker</code> with <strong>anything</strong> in it.');
    expect(html).toMatch(/data-testid="exercise-hint" hidden/);
    expect(html).toContain('Try <code>echo hi &gt; /tmp/marker</code>.');
    // The browser only asks "check make-file of en/runnable"; what runs stays on the server.
    expect(html).not.toContain('SECRET-CHECK');
    expect(html).toContain('class="aside tip"');
  });

  it('gives a Korean lesson a Korean page: lang, interface strings, its own chapter list', () => {
    const home = page(dist, '/ko/');
    expect(home).toMatch(/<html lang="ko"/);
    expect(home).toContain('/lessons/ko/third/');
    expect(withoutSwitcher(home)).not.toContain('/lessons/en/');
    const html = page(dist, '/lessons/ko/third/');
    expect(html).toMatch(/<html lang="ko"/);
    expect(tagsWithClass(html, 'button', 'run-btn')[0]).toMatchObject({ 'data-label': '실행', 'data-command': 'hostname' });
    expect(html).toContain('"stateConnected":"연결됨"');
    expect(withoutSwitcher(html)).not.toContain('/lessons/en/');
    // and the English course does not list it
    expect(withoutSwitcher(page(dist, '/'))).not.toContain('/lessons/ko/');
  });

  it('numbers chapters as readers count them in each language, without the content keys\' gaps', () => {
    // en: chapter keys 1, 2, 30 -> 1, 2, 3; ko: its only lesson (key 3) is its chapter 1.
    expect(page(dist, '/lessons/en/third/')).toContain('<p class="eyebrow">Chapter 3 · Fixture part B</p>');
    expect(page(dist, '/lessons/ko/third/')).toContain('<p class="eyebrow">제1장 · 부록</p>');
    expect(page(dist, '/ko/')).toContain('<span class="num">제1장</span>');
    expect(page(dist, '/ko/')).toMatch(/data-testid="start-link">제1장부터 시작하기: 세 번째 →/);
    expect(page(dist, '/')).toMatch(/data-testid="start-link">Start with chapter 1: Reading only →/);
    expect(page(dist, '/lessons/ko/third/')).toContain('<title>세 번째 · Isolab</title>');
  });

  it('renders `code` in a summary as code, on the home page and the lesson, and as text in <meta>', () => {
    expect(page(dist, '/')).toContain('exercises every kind of <code>code</code> block');
    expect(page(dist, '/lessons/en/runnable/')).toContain('<p class="summary">A lesson that exercises every kind of <code>code</code> block.</p>');
    expect(page(dist, '/lessons/en/runnable/')).toContain('<meta name="description" content="A lesson that exercises every kind of code block.">');
    expect(page(dist, '/')).not.toContain('`code`');
  });

  it('switches every page to the same page in the other language, or its home without a twin', () => {
    const expected: [string, string, string][] = [
      ['/lessons/en/third/', 'ko', '/lessons/ko/third/'],
      ['/lessons/ko/third/', 'en', '/lessons/en/third/'],
      ['/lessons/en/runnable/', 'ko', '/ko/'], // no Korean twin in the fixtures
      ['/', 'ko', '/ko/'],
      ['/ko/', 'en', '/'],
    ];
    for (const [url, lang, href] of expected) {
      const html = page(dist, url);
      const links = tagsWithClass(html, 'a', 'lang-link');
      expect(links.map((a) => [a.hreflang, a.href, a.lang]), url).toEqual([[lang, href, lang]]);
      expect(html, url).toContain(`<link rel="alternate" hreflang="${lang}" href="${href}">`);
    }
    const notFound = fs.readFileSync(path.join(dist, '404.html'), 'utf8');
    expect(tagsWithClass(notFound, 'a', 'lang-link').map((a) => a.href)).toEqual(['/ko/']);
    expect(page(dist, '/401/')).not.toContain('data-testid="language-switch"');
    // Only `/` chooses the reader's language; every page remembers a choice made with the switcher.
    expect(page(dist, '/')).toContain('location.replace(homes[want]');
    expect(page(dist, '/ko/')).not.toContain('location.replace(');
    expect(page(dist, '/lessons/en/third/')).toContain("localStorage.setItem('isolab.lang'");
  });

  it('serves the Hangul web font from the site, Korean subsets only, each with its unicode-range', () => {
    const css = fs.readFileSync(path.join(dist, 'fonts', 'hangul.css'), 'utf8');
    const faces = css.match(/@font-face \{[^}]*\}/g) ?? [];
    expect(faces.length).toBeGreaterThan(50);
    for (const face of faces) {
      expect(face).toContain("font-family: 'Isolab Hangul';");
      expect(face).toMatch(/unicode-range: U\+/);
      const file = /url\(\/fonts\/([^)]+)\)/.exec(face)![1];
      expect(fs.readFileSync(path.join(dist, 'fonts', file)).subarray(0, 4).toString('latin1'), file).toBe('wOF2');
    }
    expect(css).not.toMatch(/latin|cyrillic|vietnamese/);
    // Hangul syllables (U+AC00..U+D7A3) are covered
    expect(css).toMatch(/U\+ac[0-9a-f]{2}/);
    for (const url of ['/ko/', '/lessons/ko/third/']) {
      expect(page(dist, url), url).toContain('<link rel="stylesheet" href="/fonts/hangul.css">');
    }
    // An English page shows Hangul only in its switcher's "한국어": those three glyphs, inline
    // (a WOFF2 subset of the same font as a data: URL), and no request for the rest.
    const english = page(dist, '/');
    expect(english).not.toContain('/fonts/hangul.css');
    const label = english.match(/@font-face \{ font-family: 'Isolab Hangul Label';[^}]*\}/g) ?? [];
    expect(label.length).toBeGreaterThan(0);
    const covered = label.flatMap((face) => /unicode-range: ([^;]*);/.exec(face)![1]!.split(',').map((u) => String.fromCodePoint(parseInt(u.slice(2), 16))));
    expect(covered.sort().join('')).toBe([...'한국어'].sort().join(''));
    for (const face of label) {
      const woff2 = Buffer.from(/url\(data:font\/woff2;base64,([^)]+)\)/.exec(face)![1]!, 'base64');
      expect(woff2.subarray(0, 4).toString('latin1')).toBe('wOF2');
    }
    // The Korean fonts come before system-ui (which can claim Hangul and draw empty boxes).
    const global = fs.readFileSync(path.join(ROOT, 'src/styles/global.css'), 'utf8');
    const stack = /--font-sans:([^;]*);/.exec(global)![1].split(',').map((f) => f.trim().replace(/'/g, ''));
    const at = (family: string) => stack.indexOf(family);
    for (const family of ['Apple SD Gothic Neo', 'Malgun Gothic', 'Noto Sans KR', 'Noto Sans CJK KR', 'Isolab Hangul']) {
      expect(at(family), family).toBeGreaterThan(-1);
      expect(at(family), `${family} before system-ui`).toBeLessThan(at('system-ui'));
    }
    expect(at('Isolab Hangul')).toBe(at('system-ui') - 1);
  });

  it("lists each module a lesson page runs, its imports too, as modulepreload at the top of its head", () => {
    const html = page(dist, '/lessons/en/third/');
    const preloaded = [...html.matchAll(/<link rel="modulepreload" href="([^"]+)">/g)].map((m) => m[1]!);
    const scripts = [...html.matchAll(/<script type="module" src="([^"]+)"/g)].map((m) => m[1]!);
    expect(scripts.length).toBeGreaterThan(0);
    for (const src of scripts) expect(preloaded, src).toContain(src);
    // xterm.js is imported by the terminal's script, never named by the page itself.
    expect(preloaded.some((p) => /\/_astro\/xterm\.[\w-]+\.js$/.test(p))).toBe(true);
    for (const p of preloaded) expect(fs.existsSync(path.join(dist, p)), p).toBe(true);
    expect(html.indexOf('rel="modulepreload"')).toBeLessThan(html.indexOf('<style'));
  });

  it('serves a self-contained 401 page that points at the URL npm start printed', () => {
    const html = page(dist, '/401/');
    expect(html).toContain('?token=');
    expect(html).not.toMatch(/<script\b[^>]*\bsrc=/);
    expect(html).not.toMatch(/<link\b[^>]*rel="stylesheet"/); // not even the Hangul font's
    expect(html).toMatch(/<style>/);
  });
});

describe('site build: the course lessons', () => {
  const lessonsDir = path.join(ROOT, 'content/lessons');
  const sources = fs.readdirSync(lessonsDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.mdx'));
  let dist = '';
  beforeAll(() => {
    const r = build('./content/lessons', 'course');
    if (!r.ok) throw new Error(`astro build failed:\n${r.log}`);
    dist = r.out;
  });

  it('has a page for every lesson, following the code block rules', () => {
    expect(sources.length).toBeGreaterThan(0); // the course's lessons are part of the repository
    for (const file of sources) {
      const id = file.replace(/\.mdx$/, '');
      const src = fs.readFileSync(path.join(lessonsDir, file), 'utf8');
      const html = page(dist, `/lessons/${id}/`);
      const terminal = !/^terminal:\s*false\s*$/m.test(src.split(/^---$/m)[1] ?? '');
      for (const b of codeBlocks(html)) {
        if (b.kind === 'output') expect(b.runCommands, `${id}: ${b.lang} block`).toEqual([]);
        else expect(b.runCommands.length, `${id}: a shell block with Run buttons`).toBeGreaterThan(0);
        if (!terminal) expect(b.kind, `${id} has no terminal`).toBe('output');
      }
      if (terminal && /```(sh|bash|shell)\n/.test(src)) {
        expect(tagsWithClass(html, 'button', 'run-btn').length, `${id} has Run buttons`).toBeGreaterThan(0);
      }
      expect(loadsXterm(dist, html), `${id} loads the terminal`).toBe(terminal);
    }
  });
});

describe('site build: mistakes in a lesson', () => {
  it('fails with a message naming the exercise that the frontmatter does not declare', () => {
    const r = build('./test/fixtures/site-broken/lessons', 'broken');
    expect(r.ok).toBe(false);
    expect(r.log).toContain('<Exercise id="no-such-exercise"> in en/broken: no such exercise in its frontmatter (declared: real-one)');
  });

  it('fails when content/exercises does not define the check of a placed exercise', () => {
    const r = build('./test/fixtures/site-broken-check/lessons', 'broken-check');
    expect(r.ok).toBe(false);
    expect(r.log).toContain('<Exercise id="defined-here-only"> in en/unchecked: no check for it in content/exercises/unchecked.yaml');
  });

  it('fails when a lesson without a terminal places an exercise', () => {
    const r = build('./test/fixtures/site-broken-terminal/lessons', 'broken-terminal');
    expect(r.ok).toBe(false);
    expect(r.log).toContain('<Exercise id="needs-shell"> in en/quiet: the lesson has terminal: false');
  });
});
