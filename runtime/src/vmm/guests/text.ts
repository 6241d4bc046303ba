// A guest's message as assembly `db` lines. Printable ASCII goes in quotes, so the listing
// (`box vm asm`) reads as text; any other byte (a newline, the UTF-8 bytes of 한글) as a number.

/** The longest message `--message` puts into a guest: a few lines, not a file. */
export const MAX_MESSAGE_BYTES = 4096;

/** One `db` line per line of `text`, each ending with a newline byte (10). */
export function dbLines(text: string): string {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop(); // a trailing newline ends the last line, it starts none
  return lines.map((line) => `    db ${[...items(Buffer.from(line, 'utf8')), '10'].join(', ')}`).join('\n');
}

function items(bytes: Buffer): string[] {
  const out: string[] = [];
  let run = '';
  for (const b of bytes) {
    const quotable = b >= 0x20 && b <= 0x7e && b !== 0x22 && b !== 0x5c; // not " or \
    if (quotable) {
      run += String.fromCharCode(b);
      continue;
    }
    if (run) out.push(`"${run}"`);
    run = '';
    out.push(String(b));
  }
  if (run) out.push(`"${run}"`);
  return out;
}

/** A reader's message made ready for a guest: a newline at its end, and within the bounds. */
export function guestMessage(text: string): string {
  if (text.length === 0) throw new RangeError('the message is empty');
  if (text.includes('\0')) throw new RangeError('the message holds a NUL byte, which ends the hello guest\'s string');
  const withNewline = text.endsWith('\n') ? text : text + '\n';
  const size = Buffer.byteLength(withNewline, 'utf8');
  if (size > MAX_MESSAGE_BYTES) throw new RangeError(`the message is ${size} bytes; at most ${MAX_MESSAGE_BYTES}`);
  return withNewline;
}
