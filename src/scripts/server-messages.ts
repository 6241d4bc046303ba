// The lab server speaks English (its sentences are in SERVER_SENTENCES); a page in another
// language shows each sentence it recognises in its own language, and any other text as it
// came (a check's own output, box's messages: those stay English, as Docker's do).
import { SERVER_SENTENCES, type ServerSentence } from '../lib/i18n.ts';

type Strings = Record<ServerSentence | 'srvSeconds' | 'srvMinutes', string>;

const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** 'after {s} without' -> /^after (?<s>.+) without$/ */
function pattern(template: string): RegExp {
  const body = escape(template).replace('\\{n\\}', '(?<n>\\d+)').replace('\\{s\\}', '(?<s>.+?)');
  return new RegExp(`^${body}$`, 's');
}

const PATTERNS = (Object.keys(SERVER_SENTENCES) as ServerSentence[]).map((key) => [key, pattern(SERVER_SENTENCES[key])] as const);

/** "60 minutes" (the server's duration()) in the page's words. */
function duration(text: string, s: Strings): string {
  const m = /^(\d+) (second|minute)s?$/.exec(text);
  if (!m) return text;
  return (m[2] === 'second' ? s.srvSeconds : s.srvMinutes).replace('{n}', m[1]);
}

/** A sentence from the lab server in the page's language; unknown text is returned as it is. */
export function localizeServerMessage(text: string, s: Strings, lang = document.documentElement.lang): string {
  if (!text || lang === 'en') return text;
  for (const [key, re] of PATTERNS) {
    const m = re.exec(text.trim());
    if (!m) continue;
    const n = m.groups?.n ?? '';
    const rest = m.groups?.s ?? '';
    return s[key].replace('{n}', n).replace('{s}', key === 'srvIdleRemoved' ? duration(rest, s) : rest);
  }
  return text;
}
