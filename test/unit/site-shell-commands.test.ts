// Which lines of a lesson's shell block get a Run button, and what Run types.
import { describe, it, expect } from 'vitest';
import { findShellCommands, keystrokesFor } from '../../src/lib/shell-commands.ts';

const texts = (src: string) => findShellCommands(src).map((c) => c.text);

describe('findShellCommands', () => {
  it('makes each non-empty, non-comment line a command', () => {
    expect(texts('ps\n\n# list them\n  echo $$  \nhostname')).toEqual(['ps', '  echo $$  ', 'hostname']);
  });

  it('joins a line ending in a backslash with the next, as the shell does', () => {
    const cmds = findShellCommands('box run \\\n  --ns pid \\\n  busybox ps\necho done');
    expect(cmds).toEqual([
      { start: 0, end: 2, text: 'box run \\\n  --ns pid \\\n  busybox ps' },
      { start: 3, end: 3, text: 'echo done' },
    ]);
  });

  it('keeps a here-document and its body in one command, whatever the quoting', () => {
    expect(texts("cat > f <<'EOF'\nhello\n# not a comment here\nEOF\nls")).toEqual([
      "cat > f <<'EOF'\nhello\n# not a comment here\nEOF",
      'ls',
    ]);
    expect(texts('cat <<"END" | wc -l\na\nEND')).toEqual(['cat <<"END" | wc -l\na\nEND']);
    expect(texts('cat <<-X\n\tbody\n\tX\nnext')).toEqual(['cat <<-X\n\tbody\n\tX', 'next']);
  });

  it('does not take a here-string or a shift for a here-document', () => {
    expect(texts('grep a <<< "abc"\necho $((1 << 3))\nls')).toEqual(['grep a <<< "abc"', 'echo $((1 << 3))', 'ls']);
  });

  it('ends a block that stops mid-continuation or mid-heredoc at its last line', () => {
    expect(texts('echo a \\')).toEqual(['echo a \\']);
    expect(texts('cat <<EOF\nnever closed')).toEqual(['cat <<EOF\nnever closed']);
  });

  it('finds nothing in a block of comments', () => {
    expect(findShellCommands('# just\n  # comments\n')).toEqual([]);
  });

  it('counts lines the way the rendered block shows them (CRLF, one trailing newline)', () => {
    expect(findShellCommands('a\r\nb\r\n')).toEqual([
      { start: 0, end: 0, text: 'a' },
      { start: 1, end: 1, text: 'b' },
    ]);
  });
});

describe('keystrokesFor', () => {
  it('types each line followed by Enter (CR), like a reader at the keyboard', () => {
    expect(keystrokesFor('ps')).toBe('ps\r');
    expect(keystrokesFor('box run \\\n  busybox ps')).toBe('box run \\\r  busybox ps\r');
  });
});
