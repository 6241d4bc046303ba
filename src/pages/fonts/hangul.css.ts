// /fonts/hangul.css: the @font-face rules of the Hangul web font (src/lib/hangul-font.ts).
import type { APIRoute } from 'astro';
import { hangulFontCss } from '../../lib/hangul-font.ts';

export const GET: APIRoute = () => new Response(hangulFontCss(), { headers: { 'Content-Type': 'text/css; charset=utf-8' } });
