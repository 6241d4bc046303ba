// Docker-style argument parsing: options first, then positionals; everything after the
// first positional that starts the command (the image for `run`, the container for `exec`)
// belongs to the command. `-it` is `-i -t`; `--name=x` is `--name x`.

import { UserError } from '../sys/errors.ts';
import { invocation } from '../sys/invocation.ts';

export interface OptionSpec {
  /** Long name without dashes, e.g. "memory". */
  name: string;
  short?: string;
  /** Takes a value (`--memory 64m`); otherwise a boolean flag. */
  value?: boolean;
  /** May be given more than once (`-e A=1 -e B=2`). */
  repeat?: boolean;
  help: string;
}

export interface Parsed {
  opts: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/**
 * @param stopAfter positionals after which parsing stops (the rest is the command), e.g. 1 for
 *   `run IMAGE CMD...`; Infinity to parse all.
 */
export function parseArgs(argv: string[], specs: OptionSpec[], command: string, stopAfter = Infinity): Parsed {
  const opts: Parsed['opts'] = {};
  const positionals: string[] = [];
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const set = (spec: OptionSpec, value: string | boolean) => {
    if (spec.repeat) ((opts[spec.name] ??= []) as string[]).push(value as string);
    else opts[spec.name] = value;
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (positionals.length >= stopAfter) break;
    if (arg === '--') {
      i++;
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq > 0 ? eq : undefined);
      const spec = byLong.get(name);
      if (!spec) throw new UserError(`unknown flag: --${name}; see 'box ${command} --help'`, 'usage');
      if (spec.value) {
        const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
        if (value === undefined) throw new UserError(`flag needs a value: --${name}; see 'box ${command} --help'`);
        set(spec, value);
      } else {
        if (eq > 0) throw new UserError(`flag --${name} takes no value`);
        set(spec, true);
      }
    } else if (arg.startsWith('-') && arg.length > 1) {
      // A cluster of short flags: -it, or -e VALUE / -eVALUE for the last one.
      for (let k = 1; k < arg.length; k++) {
        const spec = byShort.get(arg[k]);
        if (!spec) throw new UserError(`unknown flag: -${arg[k]}; see 'box ${command} --help'`);
        if (spec.value) {
          const rest = arg.slice(k + 1);
          const value = rest || argv[++i];
          if (value === undefined) throw new UserError(`flag needs a value: -${arg[k]}; see 'box ${command} --help'`);
          set(spec, value);
          break;
        }
        set(spec, true);
      }
    } else {
      positionals.push(arg);
    }
  }
  return { opts, positionals: [...positionals, ...argv.slice(i)] };
}

export function helpText(usage: string, summary: string, specs: OptionSpec[]): string {
  const lines = specs.map((s) => {
    const flag = `${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.value ? ' VALUE' : ''}`;
    return `  ${flag.padEnd(28)} ${s.help}`;
  });
  return `Usage: ${usage}\n\n${summary}\n${lines.length ? `\nOptions:\n${lines.join('\n')}\n` : ''}`;
}

/** `-e K=V`, or `-e K` to pass K from box's own environment, as Docker does. */
export function parseEnv(spec: string): string | null {
  const eq = spec.indexOf('=');
  if (eq === 0) throw new UserError(`-e '${spec}': the name is missing; use -e NAME=value`);
  if (eq > 0) return spec;
  const v = invocation().env[spec];
  return v === undefined ? null : `${spec}=${v}`;
}

/** `--time-offset 3600`, `90m`, `2h`, `1d`: seconds. */
export function parseDuration(s: string, flag: string): number {
  const m = /^(-?\d+)([smhd]?)$/.exec(s.trim());
  if (!m) throw new UserError(`${flag} '${s}': use seconds or a number with s, m, h or d, e.g. ${flag} 2d`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}
