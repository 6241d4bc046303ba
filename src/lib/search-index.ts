// The search index: after `astro build`, Pagefind reads the built lesson pages (the parts marked
// data-pagefind-body) and writes a static index to dist/pagefind/, one per language (from each
// page's <html lang>). The search box (src/scripts/search.ts) loads it in the browser; nothing
// runs on the server.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AstroIntegration } from 'astro';

export function searchIndex(): AstroIntegration {
  return {
    name: 'isolab-search-index',
    hooks: {
      'astro:build:done': async ({ dir, logger }) => {
        const pagefind = await import('pagefind');
        const site = fileURLToPath(dir);
        const { index, errors } = await pagefind.createIndex({});
        if (!index) throw new Error(`the search index could not start: ${errors.join('; ')}`);
        try {
          const added = await index.addDirectory({ path: site });
          if (added.errors.length) throw new Error(`the search index: ${added.errors.join('; ')}`);
          const written = await index.writeFiles({ outputPath: path.join(site, 'pagefind') });
          if (written.errors.length) throw new Error(`the search index: ${written.errors.join('; ')}`);
          logger.info(`search index: ${added.page_count} pages`);
        } finally {
          await index.deleteIndex();
          await pagefind.close();
        }
      },
    },
  };
}
