// Markdown in frontmatter (an exercise's task and hint) rendered the way lesson bodies are.
import { createSatteriMarkdownProcessor } from '@astrojs/markdown-satteri';

let renderer: ReturnType<typeof createSatteriMarkdownProcessor> | undefined;

export async function markdownToHtml(source: string): Promise<string> {
  renderer ??= createSatteriMarkdownProcessor({ syntaxHighlight: false });
  const { code } = await (await renderer).render(source);
  return code;
}
