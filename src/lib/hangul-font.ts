// The web font for Hangul, for readers whose system has no Korean font (a bare Linux desktop):
// Noto Sans KR from @fontsource-variable/noto-sans-kr, served from this site (/fonts/), never
// from a CDN. Only its Korean subsets (Hangul, hanja, full-width forms; Latin text uses the
// system's fonts), each an @font-face with its unicode-range, so a browser downloads a subset
// only when a character on the page needs it and no font named before it in --font-sans has it.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

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

/** The package's @font-face rules for those subsets, renamed and pointing at /fonts/. */
export function hangulFontCss(): string {
  const css = fs.readFileSync(path.join(packageDir(), 'wght.css'), 'utf8');
  const rules = css.match(/@font-face\s*\{[^}]*\}/g) ?? [];
  const files = hangulFontFiles();
  const kept = rules.flatMap((rule) => {
    const file = /url\(\.\/files\/([^)]+)\)/.exec(rule)?.[1];
    if (!file || !files.has(file)) return [];
    return [
      rule
        .replace(/font-family:[^;]*;/, `font-family: '${HANGUL_FAMILY}';`)
        .replace(`url(./files/${file})`, `url(/fonts/${file})`)
        .replace(/\s+/g, ' '),
    ];
  });
  if (kept.length === 0) throw new Error(`${PACKAGE}: no Korean subsets found in its wght.css; run npm install`);
  return `/* Noto Sans KR (SIL Open Font License 1.1), from ${PACKAGE} */\n${kept.join('\n')}\n`;
}
