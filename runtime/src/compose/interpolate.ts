// Variable interpolation, as Compose does it before anything else reads the file: `$VAR`,
// `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset), `${VAR:?error}`,
// `${VAR?error}`, `${VAR:+alt}` (set and not empty), `${VAR+alt}` (set), and `$$` for a
// literal `$`. A default or an alternative may itself hold `${...}`. Only values are
// interpolated, never keys.

export interface Interpolated {
  value: string;
  /** Variables that were used but not set (Compose warns and puts an empty string). */
  unset: string[];
}

export class InterpolationError extends Error {}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

export function interpolate(text: string, env: Record<string, string | undefined>): Interpolated {
  const unset: string[] = [];
  const value = expand(text, env, unset);
  return { value, unset };
}

function expand(text: string, env: Record<string, string | undefined>, unset: string[]): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      out += '$';
      i = dollar + 2;
    } else if (next === '{') {
      const close = matchingBrace(text, dollar + 1);
      if (close < 0) throw new InterpolationError(`invalid interpolation format for '${text}': '\${' is never closed; write $$ for a literal $`);
      out += braced(text.slice(dollar + 2, close), env, unset, text);
      i = close + 1;
    } else {
      const m = NAME.exec(text.slice(dollar + 1));
      if (!m) {
        // A lone `$` before something that is not a name: Compose refuses it too.
        throw new InterpolationError(`invalid interpolation format for '${text}': a '$' must start \${NAME} or $NAME; write $$ for a literal $`);
      }
      out += lookup(m[0], env, unset);
      i = dollar + 1 + m[0].length;
    }
  }
  return out;
}

/** The index of the `}` closing the `{` at `open`, counting nested `${`. */
function matchingBrace(text: string, open: number): number {
  let depth = 0;
  for (let k = open; k < text.length; k++) {
    if (text[k] === '{') depth++;
    else if (text[k] === '}' && --depth === 0) return k;
  }
  return -1;
}

function lookup(name: string, env: Record<string, string | undefined>, unset: string[]): string {
  const v = env[name];
  if (v === undefined) {
    if (!unset.includes(name)) unset.push(name);
    return '';
  }
  return v;
}

function braced(inner: string, env: Record<string, string | undefined>, unset: string[], whole: string): string {
  const m = NAME.exec(inner);
  if (!m) throw new InterpolationError(`invalid interpolation format for '${whole}': '\${${inner}}' does not start with a variable name`);
  const name = m[0];
  const rest = inner.slice(name.length);
  if (rest === '') return lookup(name, env, unset);
  const op = /^(:?[-?+])/.exec(rest)?.[1];
  if (!op) throw new InterpolationError(`invalid interpolation format for '${whole}': after '${name}' use :-, -, :?, ?, :+ or +`);
  const arg = rest.slice(op.length);
  const v = env[name];
  const emptyCounts = op.startsWith(':');
  const missing = v === undefined || (emptyCounts && v === '');
  switch (op.replace(':', '')) {
    case '-':
      return missing ? expand(arg, env, unset) : v!;
    case '+':
      return missing ? '' : expand(arg, env, unset);
    default: // '?'
      if (missing) {
        const msg = expand(arg, env, unset);
        throw new InterpolationError(`required variable ${name} is missing a value${msg ? `: ${msg}` : ''}`);
      }
      return v!;
  }
}
