// <link rel="modulepreload"> for every module a built page runs, added after `astro build`.
// A page's module scripts sit at the end of its body, and each names its imports only inside
// itself: the browser learns of xterm.js (the terminal's 336 KB chunk) only once the terminal's
// own script has arrived and been parsed, a waterfall of round trips. Listed at the top of the
// page, all of them are fetched (and compiled, off the main thread) while the HTML is parsed.
// Vite emits content-hashed chunk names, so the list is read from the build itself: each page's
// <script type="module" src>, and the static imports inside each chunk, followed to the end.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AstroIntegration } from 'astro';

const SCRIPT = /<script type="module" src="(\/_astro\/[^"]+\.js)"/g;
/** `import{a as b}from"./x.js"`, `import"./x.js"`, `export{a}from"./x.js"`: static imports only. */
const STATIC_IMPORT = /(?:\bimport|\bexport)\s*(?:[\w*{}\s,$]*?\s*from\s*)?["'](\.\/[^"']+\.js)["']/g;

/** The chunk's static imports, as site paths ("/_astro/x.js"). */
export function staticImports(source: string, chunkPath: string): string[] {
  const dir = path.posix.dirname(chunkPath);
  return [...source.matchAll(STATIC_IMPORT)].map((m) => path.posix.join(dir, m[1]!));
}

/** Every module the page's module scripts load, in the order they are first met (imports before the script that needs them). */
export function moduleGraph(html: string, read: (sitePath: string) => string | undefined): string[] {
  const seen = new Set<string>();
  const order: string[] = [];
  const visit = (p: string) => {
    if (seen.has(p)) return;
    seen.add(p);
    const source = read(p);
    if (source === undefined) return;
    for (const dep of staticImports(source, p)) visit(dep);
    order.push(p);
  };
  for (const m of html.matchAll(SCRIPT)) visit(m[1]!);
  return order;
}

/** The page with a modulepreload link per module, at the top of its head (after <meta charset> and any script there). */
export function withModulePreload(html: string, modules: string[]): string {
  if (modules.length === 0 || html.includes('rel="modulepreload"')) return html;
  const links = modules.map((m) => `<link rel="modulepreload" href="${m}">`).join('');
  const head = html.indexOf('</head>');
  if (head < 0) return html;
  // Before the first stylesheet or style of the head, so the fetches start before its CSS is parsed.
  const styles = [html.indexOf('<style'), html.indexOf('<link rel="stylesheet"')].filter((i) => i >= 0 && i < head);
  const at = styles.length ? Math.min(...styles) : head;
  return html.slice(0, at) + links + html.slice(at);
}

function htmlFiles(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.html')).map((f) => path.join(dir, f));
}

export function modulePreload(): AstroIntegration {
  return {
    name: 'isolab-module-preload',
    hooks: {
      'astro:build:done': ({ dir, logger }) => {
        const site = fileURLToPath(dir);
        const cache = new Map<string, string | undefined>();
        const read = (p: string) => {
          if (!cache.has(p)) {
            try {
              cache.set(p, fs.readFileSync(path.join(site, p), 'utf8'));
            } catch {
              cache.set(p, undefined);
            }
          }
          return cache.get(p);
        };
        let pages = 0;
        for (const file of htmlFiles(site)) {
          const html = fs.readFileSync(file, 'utf8');
          const next = withModulePreload(html, moduleGraph(html, read));
          if (next !== html) {
            fs.writeFileSync(file, next);
            pages++;
          }
        }
        logger.info(`modulepreload: ${pages} pages`);
      },
    },
  };
}
