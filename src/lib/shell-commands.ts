// Which lines of a shell code block are commands a reader can run.
//
// The contract for lessons: in a `sh`/`bash`/`shell` block every non-empty line that does not
// start with `#` is a command; a line ending in `\` continues onto the next one. Here-documents
// (`cat <<EOF` ... `EOF`) are one command too: the shell reads their body as input, so a Run
// button on a body line would type text that is not a command at all.

/** A command in a code block: lines `start`..`end` (0-based, inclusive) and its text. */
export interface ShellCommand {
  start: number;
  end: number;
  /** The lines joined with "\n", exactly as written (continuations and heredoc bodies kept). */
  text: string;
}

export const SHELL_LANGUAGES: ReadonlySet<string> = new Set(['sh', 'bash', 'shell', 'shellscript']);

/** `<<EOF`, `<<-EOF`, `<< 'EOF'`, `<<"EOF"` — but not the here-string `<<<`. */
const HEREDOC = /(?<!<)<<(?!<)(-?)\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\2/g;

export function codeLines(text: string): string[] {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function isCommandStart(line: string): boolean {
  const t = line.trim();
  return t !== '' && !t.startsWith('#');
}

function continues(line: string): boolean {
  return /\\$/.test(line.trimEnd());
}

/** The commands in a shell code block, in order. */
export function findShellCommands(text: string): ShellCommand[] {
  const lines = codeLines(text);
  const commands: ShellCommand[] = [];
  let i = 0;
  while (i < lines.length) {
    if (!isCommandStart(lines[i])) {
      i++;
      continue;
    }
    const start = i;
    while (continues(lines[i]) && i + 1 < lines.length) i++;
    // Here-documents opened anywhere in the command: their bodies follow, in order.
    const opened = [...lines.slice(start, i + 1).join('\n').matchAll(HEREDOC)];
    for (const [, dash, , word] of opened) {
      while (i + 1 < lines.length) {
        i++;
        // `<<-` lets the terminator be indented with tabs.
        const candidate = dash ? lines[i].replace(/^\t+/, '') : lines[i];
        if (candidate === word) break;
      }
    }
    commands.push({ start, end: i, text: lines.slice(start, i + 1).join('\n') });
    i++;
  }
  return commands;
}

/** What the Run button types into the terminal: the lines as typed, each ended by Enter (CR). */
export function keystrokesFor(command: string): string {
  return command.replace(/\n/g, '\r') + '\r';
}
