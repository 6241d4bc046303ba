// Which Compose files, which project name and which variables: as `docker compose` decides.

import fs from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { UserError } from '../sys/errors.ts';

/** The names Compose looks for, in its order of preference. */
export const DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'];

/**
 * `-f FILE...`, else COMPOSE_FILE (paths separated by ':'), else the first default name found
 * in the working directory or, as Compose does, in the nearest parent that has one.
 */
export function findFiles(given: string[], env: Record<string, string | undefined>, cwd: string): string[] {
  const list = given.length ? given : env.COMPOSE_FILE ? env.COMPOSE_FILE.split(':').filter(Boolean) : [];
  if (list.length) {
    return list.map((f) => {
      const abs = f === '-' ? f : path.resolve(cwd, f);
      if (abs === '-') throw new UserError(`-f -: reading the file from standard input is not supported; give a path`);
      if (!fs.existsSync(abs)) throw new UserError(`${f}: no such file; check the path given to -f`);
      return abs;
    });
  }
  for (let dir = cwd; ; dir = path.dirname(dir)) {
    const found = DEFAULT_FILES.map((n) => path.join(dir, n)).find((p) => fs.existsSync(p));
    if (found) return [found];
    if (path.dirname(dir) === dir) break;
  }
  throw new UserError(`no configuration file provided: not found (looked for ${DEFAULT_FILES.join(', ')} here and in the parent directories); give one with -f`);
}

/** Compose's rule for a project name: lowercase letters, digits, '-' and '_', starting with a letter or digit. */
const PROJECT_NAME = /^[a-z0-9][a-z0-9_-]*$/;

/** A directory's name made into a project name, as Compose normalizes it. */
export function normalizeProjectName(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[_-]+/, '');
}

/** -p, then COMPOSE_PROJECT_NAME, then the file's top-level `name`, then the directory's name. */
export function projectName(flag: string | undefined, env: Record<string, string | undefined>, topLevel: unknown, dir: string): string {
  for (const [given, from] of [[flag, '-p'], [env.COMPOSE_PROJECT_NAME, 'COMPOSE_PROJECT_NAME'], [topLevel, "the file's 'name'"]] as const) {
    if (given === undefined || given === '') continue;
    if (typeof given !== 'string' || !PROJECT_NAME.test(given)) {
      throw new UserError(`project name '${String(given)}' (${from}) is not valid: use lowercase letters, digits, '-' and '_', starting with a letter or digit`);
    }
    return given;
  }
  const name = normalizeProjectName(path.basename(dir));
  if (!name) throw new UserError(`the directory '${path.basename(dir)}' makes no valid project name; give one with -p NAME`);
  return name;
}

/**
 * The variables a file is interpolated with: the project directory's `.env`, overridden by
 * the environment box runs in (Compose gives the shell's variables precedence).
 */
export function projectEnv(dir: string, env: Record<string, string | undefined>): Record<string, string | undefined> {
  const file = path.join(dir, '.env');
  let dotenv: Record<string, string> = {};
  if (fs.existsSync(file)) dotenv = readEnvFile(file);
  return { ...dotenv, ...env };
}

/** A `.env` or `env_file`: NAME=value lines, # comments, quotes (Node's own parser). */
export function readEnvFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code}); check the path`);
  }
  return parseEnv(text) as Record<string, string>;
}
