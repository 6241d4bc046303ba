// /fonts/noto-sans-kr-N-wght-normal.woff2: each Korean subset of the Hangul web font, copied
// from its npm package into the built site (src/lib/hangul-font.ts).
import fs from 'node:fs';
import type { APIRoute } from 'astro';
import { hangulFontFiles } from '../../lib/hangul-font.ts';

export function getStaticPaths() {
  return [...hangulFontFiles()].map(([file, source]) => ({ params: { file }, props: { source } }));
}

export const GET: APIRoute = ({ props }) =>
  new Response(fs.readFileSync((props as { source: string }).source), { headers: { 'Content-Type': 'font/woff2' } });
