// The lab server's sentences in the page's language. The server sends each with its code
// (`said`, src/shared/server-sentences.ts) beside the English text; a page in another language
// writes its own sentence for the code. Text without a code (a check's own output, box's
// messages) is shown as it came: those stay English, as Docker's do.
import { fill, isSaid, type ServerSentence } from '../shared/server-sentences.ts';

type Strings = Record<ServerSentence | 'srvSeconds' | 'srvMinutes', string>;

/** "60 minutes" in the page's words, from the seconds the server sent beside it. */
function duration(seconds: number, s: Strings): string {
  return seconds < 60 ? s.srvSeconds.replace('{n}', String(seconds)) : s.srvMinutes.replace('{n}', String(Math.round(seconds / 60)));
}

/** What the server said, in the page's language: by its code when it sent one, else `text` as it is. */
export function localizeServerMessage(text: string, said: unknown, s: Strings, lang = document.documentElement.lang): string {
  if (lang === 'en' || !isSaid(said)) return text;
  if (said.code === 'srvIdleRemoved' && said.n !== undefined) return fill(s[said.code], { ...said, s: duration(said.n, s) });
  return fill(s[said.code], said);
}
