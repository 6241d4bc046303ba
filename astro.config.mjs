// The course site. Static output: the lab server (src/server/) serves dist/ and the terminal
// WebSocket from one process. Build with ASTRO_TELEMETRY_DISABLED=1 (no telemetry).
import { defineConfig } from 'astro/config';
import mdx from '@astrojs/mdx';
import { satteri } from '@astrojs/markdown-satteri';
import { runnableCode } from './src/lib/runnable-code.ts';
import { searchIndex } from './src/lib/search-index.ts';
import { modulePreload } from './src/lib/module-preload.ts';

export default defineConfig({
  output: 'static',
  // Overridable so a test can build fixtures next to a real build without touching it.
  outDir: process.env.ISOLAB_SITE_OUT ?? './dist',
  cacheDir: process.env.ISOLAB_SITE_CACHE ?? './node_modules/.astro',
  trailingSlash: 'always',
  build: {
    format: 'directory',
    // Every page carries its CSS: the 401 page must look right even when the server refuses
    // every other request from a reader without the token.
    inlineStylesheets: 'always',
  },
  devToolbar: { enabled: false },
  integrations: [mdx(), modulePreload(), searchIndex()],
  vite: {
    build: {
      rollupOptions: {
        // Astro's own MDX glue carries a "use astro:head-inject" directive that the bundler
        // warns about on every lesson; it is expected and harmless.
        onwarn(warning, warn) {
          if (warning.code === 'MODULE_LEVEL_DIRECTIVE' && String(warning.message).includes('astro:head-inject')) return;
          warn(warning);
        },
      },
    },
  },
  markdown: {
    // Astro 7 renders Markdown with Sätteri; its hast plugins run after Shiki highlighting.
    processor: satteri({ hastPlugins: [runnableCode] }),
    shikiConfig: { themes: { light: 'github-light', dark: 'github-dark' } },
  },
});
