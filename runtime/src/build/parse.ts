// Reading a Boxfile (a Dockerfile: same grammar, box's name for it) into instructions.
//
// The grammar, as Docker's reference ("Dockerfile reference", Format) gives it:
//   - one instruction per line: a keyword (any case) and its arguments;
//   - a line ending in the escape character (`\`, or what `# escape=` chooses) goes on
//     onto the next line; comment lines and empty lines inside such a run are dropped;
//   - a line whose first non-blank character is `#` is a comment, except the parser
//     directives (`# escape=`, `# syntax=`) at the very top.
// Parsing checks everything that can be checked without running anything, so a Boxfile
// with an instruction box does not support fails before the first step, naming its line.

import { UserError } from '../sys/errors.ts';

export interface Instruction {
  /** Line number (1-based) where the instruction starts. */
  line: number;
  /** Upper case: RUN, COPY, ... */
  keyword: string;
  /** The arguments after the keyword and its flags, continuation lines joined. */
  args: string;
  /** `--name=value` flags before the arguments (COPY --chown=1:1, --chmod=644). */
  flags: Record<string, string>;
  /** The arguments as a JSON array (the exec form of RUN, CMD, ENTRYPOINT, COPY, ADD), when they are one. */
  json?: string[];
}

export interface Boxfile {
  instructions: Instruction[];
  /** The escape character: `\` unless `# escape=` says otherwise. */
  escape: string;
}

/** What box runs: the instructions a build gives meaning to. */
export const SUPPORTED = [
  'FROM', 'RUN', 'COPY', 'ADD', 'ENV', 'ARG', 'WORKDIR', 'USER', 'LABEL', 'EXPOSE', 'CMD', 'ENTRYPOINT', 'STOPSIGNAL', 'MAINTAINER',
  'HEALTHCHECK',
];

/** Real Dockerfile instructions box does not run, and what to do instead. */
const UNSUPPORTED: Record<string, string> = {
  ONBUILD: 'box images carry no triggers for later builds; put the instructions in the later Boxfile itself',
  SHELL: 'box runs shell-form commands with /bin/sh -c; write RUN ["bash", "-c", "..."] in exec form instead',
  VOLUME: 'box images declare no volumes; give them when you run: box run -v HOST:CONTAINER',
};

/** Flags each instruction accepts; any other flag is refused by name. */
const FLAGS: Record<string, string[]> = {
  COPY: ['chown', 'chmod'], ADD: ['chown', 'chmod'], HEALTHCHECK: ['interval', 'timeout', 'start-period', 'retries'],
};

/** Where a flag is a feature box lacks, say which and what to do. */
const UNSUPPORTED_FLAGS: Record<string, string> = {
  from: 'copying from another stage or image (multi-stage builds) is not supported; build the files in one stage',
  platform: 'box builds for this machine only; remove --platform',
  mount: 'RUN --mount (cache, secret and bind mounts) is not supported; COPY what the command needs first',
  network: 'RUN --network is not supported; RUN steps share the network of the machine that builds',
  link: 'COPY --link is not supported; remove it (the layer is the same without it)',
  checksum: 'ADD --checksum is for downloads, which box does not make; put the file in the build context',
};

function fail(file: string, line: number, message: string): UserError {
  return new UserError(`${file} line ${line}: ${message}`);
}

/** Parse a Boxfile's text. `file` names it in messages ("Boxfile", "Dockerfile"). */
export function parseBoxfile(text: string, file = 'Boxfile'): Boxfile {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  let escape = '\\';
  let i = 0;
  // Parser directives: `# key=value` lines before anything else.
  for (; i < lines.length; i++) {
    const m = /^\s*#\s*([a-zA-Z]+)\s*=\s*(\S*)\s*$/.exec(lines[i]);
    if (!m) break;
    const key = m[1].toLowerCase();
    if (key === 'escape') {
      if (m[2] !== '\\' && m[2] !== '`') throw fail(file, i + 1, `the escape directive takes \\ or \`, not '${m[2]}'`);
      escape = m[2];
    } else if (key !== 'syntax' && key !== 'check') {
      break; // an ordinary comment that looks like a directive
    }
  }

  const instructions: Instruction[] = [];
  for (; i < lines.length; i++) {
    const start = i;
    if (isBlankOrComment(lines[i])) continue;
    let text = lines[i];
    // Continuation: the escape character at the end of a line (blanks after it allowed).
    while (endsWithEscape(text, escape)) {
      text = text.replace(/\s*$/, '').slice(0, -1);
      do i++; while (i < lines.length && isBlankOrComment(lines[i]));
      if (i >= lines.length) break;
      text += lines[i];
    }
    instructions.push(parseInstruction(text.trim(), start + 1, file));
  }
  checkOrder(instructions, file);
  return { instructions, escape };
}

function isBlankOrComment(line: string): boolean {
  return /^\s*(#.*)?$/.test(line);
}

function endsWithEscape(text: string, escape: string): boolean {
  return text.replace(/\s*$/, '').endsWith(escape);
}

function parseInstruction(text: string, line: number, file: string): Instruction {
  const m = /^(\S+)\s*(.*)$/s.exec(text)!;
  const keyword = m[1].toUpperCase();
  let rest = m[2];
  if (UNSUPPORTED[keyword]) throw fail(file, line, `${keyword} is not supported: ${UNSUPPORTED[keyword]}`);
  if (!SUPPORTED.includes(keyword)) {
    throw fail(file, line, `unknown instruction '${m[1]}'; box knows ${SUPPORTED.join(', ')}`);
  }

  const flags: Record<string, string> = {};
  for (let f = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest); f; f = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest)) {
    const name = f[1];
    if (UNSUPPORTED_FLAGS[name]) throw fail(file, line, `${keyword} --${name}: ${UNSUPPORTED_FLAGS[name]}`);
    if (!(FLAGS[keyword] ?? []).includes(name)) throw fail(file, line, `${keyword} has no flag --${name}`);
    if (f[2] === undefined || f[2] === '') throw fail(file, line, `${keyword} --${name} needs a value: --${name}=VALUE`);
    flags[name] = f[2];
    rest = rest.slice(f[0].length);
  }
  if (rest === '') throw fail(file, line, `${keyword} needs arguments`);
  if (['RUN', 'COPY', 'ADD'].includes(keyword) && /(^|\s)<<-?\s*["']?[A-Za-z_]/.test(rest)) {
    throw fail(file, line, `${keyword} with a here-document (<<) is not supported; put the text in a file in the build context and COPY it`);
  }
  const json = jsonForm(rest);
  if (json && keyword !== 'RUN' && keyword !== 'CMD' && keyword !== 'ENTRYPOINT' && keyword !== 'COPY' && keyword !== 'ADD') {
    return { line, keyword, args: rest, flags };
  }
  return { line, keyword, args: rest, flags, ...(json ? { json } : {}) };
}

/** `["sh", "-c", "x"]`: a JSON array of strings, or undefined (then it is the shell form, as Docker falls back). */
function jsonForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(args) as unknown;
    return Array.isArray(v) && v.every((s) => typeof s === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}

/** One stage: ARGs, then one FROM, then the rest. */
function checkOrder(instructions: Instruction[], file: string): void {
  const first = instructions.find((ins) => ins.keyword !== 'ARG');
  if (!first) throw new UserError(`${file} has no FROM instruction; start it with FROM IMAGE (or FROM scratch)`);
  if (first.keyword !== 'FROM') throw fail(file, first.line, `${first.keyword} before FROM; the first instruction must be FROM (only ARG may come before it)`);
  const second = instructions.filter((ins) => ins.keyword === 'FROM')[1];
  if (second) throw fail(file, second.line, 'a second FROM (a multi-stage build) is not supported; build each stage as an image of its own');
}

// ---- words and variables ------------------------------------------------------------------

/**
 * Split arguments into words as Docker's shell-like lexer does: blanks separate words,
 * quotes group them, `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alternative}` are
 * replaced from `vars` (not inside single quotes), and the escape character makes the next
 * character literal.
 */
export function words(text: string, vars: Map<string, string>, escape = '\\'): string[] {
  const out: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | '' = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = '';
      else word += c;
      continue;
    }
    if (c === escape && i + 1 < text.length) {
      const next = text[++i];
      // Inside double quotes the escape keeps its meaning only before ", $ and itself.
      word += quote === '"' && next !== '"' && next !== '$' && next !== escape ? c + next : next;
      inWord = true;
      continue;
    }
    if (c === '$') {
      const { value, end } = variable(text, i, vars);
      word += value;
      i = end - 1;
      inWord = true;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = '';
      else word += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new UserError(`unmatched ${quote} in: ${text}`);
  if (inWord) out.push(word);
  return out;
}

/** Replace variables in text, keeping everything else as it is (WORKDIR, USER, the exec form). */
export function expand(text: string, vars: Map<string, string>, escape = '\\'): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] === escape && text[i + 1] === '$') {
      out += '$';
      i++;
    } else if (text[i] === '$') {
      const { value, end } = variable(text, i, vars);
      out += value;
      i = end - 1;
    } else {
      out += text[i];
    }
  }
  return out;
}

/** The variable starting at text[i] === '$': its value, and where it ends. */
function variable(text: string, i: number, vars: Map<string, string>): { value: string; end: number } {
  const simple = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(i));
  if (simple) return { value: vars.get(simple[1]) ?? '', end: i + simple[0].length };
  const braced = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}/.exec(text.slice(i));
  if (!braced) return { value: '$', end: i + 1 };
  const [, name, op, word] = braced;
  const value = vars.get(name);
  const set = op?.startsWith(':') ? Boolean(value) : value !== undefined;
  let result = value ?? '';
  if (op?.endsWith('-') && !set) result = expand(word, vars);
  if (op?.endsWith('+')) result = set ? expand(word, vars) : '';
  return { value: result, end: i + braced[0].length };
}

/**
 * `K=V K2="a b"` pairs (ENV, LABEL, ARG), or the old form `K the rest of the line` where
 * `allowOldForm` (ENV, LABEL). ARG takes `NAME` alone too: a value is then optional.
 */
export function keyValues(text: string, vars: Map<string, string>, opts: { escape?: string; allowOldForm?: boolean; valueOptional?: boolean } = {}): [string, string | undefined][] {
  const escape = opts.escape ?? '\\';
  const m = /^([^\s=]+)(\s+|$)/.exec(text);
  if (m && opts.allowOldForm && m[2] !== '') {
    return [[m[1], words(text.slice(m[0].length), vars, escape).join(' ')]];
  }
  return words(text, vars, escape).map((w) => {
    const eq = w.indexOf('=');
    if (eq > 0) return [w.slice(0, eq), w.slice(eq + 1)];
    if (opts.valueOptional && eq < 0) return [w, undefined];
    throw new UserError(`'${w}' is not NAME=value`);
  });
}
