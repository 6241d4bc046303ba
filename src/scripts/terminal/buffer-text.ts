// A terminal's text as its program wrote it: the lines of xterm.js's buffer, a long line the
// terminal wrapped joined again, the empty lines at the end left out. The page's API and each
// tab read a terminal this way (tests and the checks' "what did the reader see").
import type { Terminal } from '@xterm/xterm';

export function bufferText(term: Terminal): string {
  const buffer = term.buffer.active;
  const lines: string[] = [];
  for (let i = 0; i < buffer.length; i++) {
    const line = buffer.getLine(i);
    if (!line) continue;
    const text = line.translateToString(true);
    if (line.isWrapped && lines.length) lines[lines.length - 1] += text;
    else lines.push(text);
  }
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines.join('\n');
}
