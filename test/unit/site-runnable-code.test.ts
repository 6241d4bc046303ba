// The build-time plugin that turns lesson code blocks into runnable ones, run through Astro's
// own Markdown processor with and without syntax highlighting.
import { describe, it, expect } from 'vitest';
import { createSatteriMarkdownProcessor } from '@astrojs/markdown-satteri';
import { runnableCode } from '../../src/lib/runnable-code.ts';

const SOURCE = ['```sh', '# set up', 'echo a \\', '  b', 'ls', '```', '', '```text', 'out', '```', ''].join('\n');

async function render(syntaxHighlight: false | 'shiki', frontmatter: Record<string, unknown> = {}) {
  const processor = await createSatteriMarkdownProcessor({ syntaxHighlight, hastPlugins: [runnableCode as never] });
  return (await processor.render(SOURCE, { frontmatter })).code;
}

const commands = (html: string) => [...html.matchAll(/data-command="([^"]*)"/g)].map((m) => m[1]);

describe('runnableCode', () => {
  for (const highlight of ['shiki', false] as const) {
    it(`marks command lines and adds Run and Copy buttons (highlighting: ${highlight})`, async () => {
      const html = await render(highlight);
      expect(commands(html)).toEqual(['echo a \\\n  b', 'ls']);
      expect(html.match(/class="line cmd"/g)).toHaveLength(2);
      expect(html.match(/class="line cmd-cont"/g)).toHaveLength(1);
      expect(html).toContain('<div class="code-block runnable" data-lang="sh">');
      expect(html).toContain('<div class="code-block output" data-lang="text">');
      expect(html.match(/data-testid="copy-button"/g)).toHaveLength(2);
      expect(html).toContain('data-code="# set up\necho a \\\n  b\nls"');
    });
  }

  it('adds no Run buttons to a lesson with terminal: false', async () => {
    const html = await render('shiki', { terminal: false });
    expect(commands(html)).toEqual([]);
    expect(html).not.toContain('code-block runnable');
    expect(html.match(/data-testid="copy-button"/g)).toHaveLength(2);
  });
});
