// Build-time HTML plugin that makes lesson code blocks runnable.
//
// Astro 7 renders Markdown/MDX with Sätteri, which runs its own "hast plugins" (objects with a
// visitor per element) instead of unified's rehype plugins. Astro runs Shiki before user
// plugins, so a block arrives here as <pre data-language="sh"><code><span class="line">…
//
// For every code block we add a toolbar with a Copy button. For shell blocks we also put a Run
// button at the start of each command line and mark the lines a command continues onto; the
// client script (src/scripts/lesson.ts) turns a Run click into an `isolab:run` event.
// Lessons with `terminal: false` in their frontmatter get no Run buttons.

import type { Element, ElementContent, Text } from 'hast';
import { findShellCommands, codeLines, SHELL_LANGUAGES } from './shell-commands.ts';
import { uiStrings, langFromPath } from './i18n.ts';

type Props = Element['properties'];

/** The language a code block was fenced with (`sh` in ```sh), whatever ran before us. */
export function blockLanguage(pre: Element): string {
  const fromPre = pre.properties?.dataLanguage;
  if (typeof fromPre === 'string' && fromPre) return fromPre;
  const code = codeChild(pre);
  const lang = (code?.data as { lang?: string } | undefined)?.lang;
  if (lang) return lang;
  const cls = code?.properties?.className;
  const found = Array.isArray(cls)
    ? cls.find((c) => typeof c === 'string' && c.startsWith('language-'))
    : undefined;
  return typeof found === 'string' ? found.slice('language-'.length) : 'plaintext';
}

function codeChild(pre: Element): Element | undefined {
  return pre.children.find((c): c is Element => c.type === 'element' && c.tagName === 'code');
}

function hasClass(el: ElementContent, name: string): el is Element {
  if (el.type !== 'element') return false;
  const cls = el.properties?.className ?? el.properties?.class;
  if (Array.isArray(cls)) return cls.includes(name);
  return typeof cls === 'string' && cls.split(/\s+/).includes(name);
}

function el(tagName: string, properties: Props, children: ElementContent[] = []): Element {
  return { type: 'element', tagName, properties, children };
}

function text(value: string): Text {
  return { type: 'text', value };
}

interface Ctx {
  textContent(node: unknown): string;
  prependChild(node: unknown, child: unknown): void;
  setProperty(node: unknown, key: string, value: unknown): void;
  replaceNode(node: unknown, replacement: unknown): void;
  wrapNode(node: unknown, parent: unknown): void;
  data: { astro?: { frontmatter?: Record<string, unknown> } };
  fileURL: URL | undefined;
}

function lineClass(existing: unknown, extra: string): string {
  return [typeof existing === 'string' ? existing : Array.isArray(existing) ? existing.join(' ') : '', extra]
    .join(' ')
    .trim();
}

/** Visit one <pre>: add the toolbar, and Run buttons on command lines of shell blocks. */
function enhance(pre: Element, ctx: Ctx): void {
  const code = codeChild(pre);
  if (!code) return;
  const lang = blockLanguage(pre);
  const source = ctx.textContent(code).replace(/\n$/, '');
  const strings = uiStrings(langFromPath(ctx.fileURL?.pathname ?? ''));
  const terminal = ctx.data.astro?.frontmatter?.terminal !== false;
  const runnable = terminal && SHELL_LANGUAGES.has(lang);

  if (runnable) {
    // Commands wrap instead of scrolling, and their Run buttons are the tab stops: the block
    // itself is not one (a keyboard reader reaches the first Run without stopping at every <pre>).
    ctx.setProperty(pre, 'tabIndex', undefined);
    ctx.setProperty(pre, 'tabindex', undefined);
    const commands = findShellCommands(source);
    const runButton = (command: string): Element =>
      el('button', {
        type: 'button',
        className: ['run-btn'],
        dataTestid: 'run-button',
        dataCommand: command,
        dataLabel: strings.run,
        title: strings.runTitle,
        ariaLabel: `${strings.run}: ${command.replace(/\s*\\?\n\s*/g, ' ')}`,
      });
    const roleOf = (n: number): string =>
      commands.some((c) => c.start === n) ? 'cmd' : commands.some((c) => n > c.start && n <= c.end) ? 'cmd-cont' : '';
    const lines = code.children.filter((c) => hasClass(c, 'line')) as Element[];
    if (lines.length > 0) {
      // Highlighted: one <span class="line"> per source line.
      lines.forEach((line, n) => {
        const role = roleOf(n);
        if (role) ctx.setProperty(line, 'class', lineClass(line.properties?.class ?? line.properties?.className, role));
      });
      for (const cmd of commands) if (lines[cmd.start]) ctx.prependChild(lines[cmd.start], runButton(cmd.text));
    } else {
      // No highlighter ran: the code is plain text. Rebuild it as line spans with the buttons.
      const rebuilt: ElementContent[] = [];
      codeLines(source).forEach((line, n) => {
        if (n > 0) rebuilt.push(text('\n'));
        const role = roleOf(n);
        const cmd = commands.find((c) => c.start === n);
        rebuilt.push(el('span', { className: role ? ['line', role] : ['line'] }, cmd ? [runButton(cmd.text), text(line)] : [text(line)]));
      });
      ctx.replaceNode(code, el('code', {}, rebuilt));
    }
  }

  const toolbar = el('div', { className: ['code-toolbar'], dataPagefindIgnore: '' }, [
    el('span', { className: ['code-lang'] }, [text(runnable ? 'shell' : lang === 'plaintext' ? '' : lang)]),
    el(
      'button',
      {
        type: 'button',
        className: ['copy-btn'],
        dataTestid: 'copy-button',
        dataCode: source,
        dataLabel: strings.copy,
        dataDone: strings.copied,
        title: strings.copyTitle,
      },
      [text(strings.copy)],
    ),
  ]);
  ctx.wrapNode(
    pre,
    el('div', { className: ['code-block', runnable ? 'runnable' : 'output'], dataLang: lang }, [toolbar]),
  );
}

/** The Sätteri hast plugin; put it in `satteri({ hastPlugins: [runnableCode] })`. */
export const runnableCode = {
  name: 'isolab-runnable-code',
  element: {
    filter: ['pre'],
    visit(node: Element, ctx: Ctx) {
      enhance(node, ctx);
    },
  },
};
