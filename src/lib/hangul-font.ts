// The web font for Hangul, for readers whose system has no Korean font (a bare Linux desktop):
// Noto Sans KR from @fontsource-variable/noto-sans-kr, served from this site (/fonts/), never
// from a CDN. Only its Korean subsets (Hangul, hanja, full-width forms; Latin text uses the
// system's fonts), each an @font-face with its unicode-range, so a browser downloads a subset
// only when a character on the page needs it and no font named before it in --font-sans has it.
// Korean pages link them all (hangul.css); pages in other languages carry only the glyphs of
// their language switcher's "한국어", inline (hangulLabelCss).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
/// <reference path="./subset-font.d.ts" />
import subsetFont from 'subset-font';

export const HANGUL_FAMILY = 'Isolab Hangul';
export const HANGUL_CSS_URL = '/fonts/hangul.css';

const PACKAGE = '@fontsource-variable/noto-sans-kr';
const KOREAN_SUBSET = /^noto-sans-kr-\d+-wght-normal\.woff2$/;

function packageDir(): string {
  return path.dirname(createRequire(path.join(process.cwd(), 'package.json')).resolve(PACKAGE));
}

/** The woff2 files of the Korean subsets: name -> absolute path. */
export function hangulFontFiles(): Map<string, string> {
  const dir = path.join(packageDir(), 'files');
  return new Map(fs.readdirSync(dir).filter((f) => KOREAN_SUBSET.test(f)).map((f) => [f, path.join(dir, f)]));
}

/** The package's @font-face rules of the Korean subsets: the file each names and its unicode-range. */
function koreanRules(): { rule: string; file: string; ranges: [number, number][] }[] {
  const css = fs.readFileSync(path.join(packageDir(), 'wght.css'), 'utf8');
  const files = hangulFontFiles();
  return (css.match(/@font-face\s*\{[^}]*\}/g) ?? []).flatMap((rule) => {
    const file = /url\(\.\/files\/([^)]+)\)/.exec(rule)?.[1];
    if (!file || !files.has(file)) return [];
    const ranges = (/unicode-range:([^;}]*)/.exec(rule)?.[1] ?? '').split(',').map((r): [number, number] => {
      const [a, b] = r.trim().replace(/^U\+/i, '').split('-');
      return [parseInt(a!, 16), parseInt(b ?? a!, 16)];
    });
    return [{ rule, file, ranges }];
  });
}

/** Pages in this language show Hangul everywhere: they get the whole web font (hangul.css). */
export function needsHangulFont(lang: string): boolean {
  return lang === 'ko';
}

/** The family of the few glyphs a page in another language shows in Hangul (hangulLabelCss). */
export const HANGUL_LABEL_FAMILY = 'Isolab Hangul Label';
const labelCss = new Map<string, Promise<string>>();

/**
 * A page in another language shows Hangul only in its language switcher ("한국어"). Those glyphs
 * alone, cut at build time from the same font (subset-font: HarfBuzz's subsetter, the weight
 * pinned at 400), inlined as @font-face rules with data: URLs: the label needs no request and
 * nothing waits for it (the 80 KB hangul.css would block the page's first paint and scripts, and
 * its subsets were nine fetches for three characters).
 */
export function hangulLabelCss(text: string): Promise<string> {
  const chars = [...new Set(text)].sort().join('');
  let css = labelCss.get(chars);
  if (!css) {
    css = makeLabelCss(chars);
    labelCss.set(chars, css);
  }
  return css;
}

async function makeLabelCss(chars: string): Promise<string> {
  const rules = koreanRules();
  const byFile = new Map<string, string>();
  for (const ch of chars) {
    const cp = ch.codePointAt(0)!;
    const rule = rules.find((r) => r.ranges.some(([a, b]) => cp >= a && cp <= b));
    if (rule) byFile.set(rule.file, (byFile.get(rule.file) ?? '') + ch);
  }
  const files = hangulFontFiles();
  const faces = await Promise.all([...byFile].map(async ([file, text]) => {
    const woff2 = await subsetFont(fs.readFileSync(files.get(file)!), text, { targetFormat: 'woff2', variationAxes: { wght: 400 } });
    const range = [...text].map((c) => `U+${c.codePointAt(0)!.toString(16)}`).join(',');
    return `@font-face { font-family: '${HANGUL_LABEL_FAMILY}'; font-style: normal; font-weight: 400; font-display: swap; src: url(data:font/woff2;base64,${woff2.toString('base64')}) format('woff2'); unicode-range: ${range}; }`;
  }));
  return faces.length ? `/* "${chars}" from Noto Sans KR (SIL Open Font License 1.1), ${PACKAGE} */\n${faces.join('\n')}\n` : '';
}

/** The package's @font-face rules for those subsets, renamed and pointing at /fonts/. */
export function hangulFontCss(): string {
  const kept = koreanRules().map(({ rule, file }) =>
    rule
      .replace(/font-family:[^;]*;/, `font-family: '${HANGUL_FAMILY}';`)
      .replace(`url(./files/${file})`, `url(/fonts/${file})`)
      .replace(/\s+/g, ' '),
  );
  if (kept.length === 0) throw new Error(`${PACKAGE}: no Korean subsets found in its wght.css; run npm install`);
  return `/* Noto Sans KR (SIL Open Font License 1.1), from ${PACKAGE} */\n${kept.join('\n')}\n`;
}
