// From the command line to the model: which files, their variables, each file read and
// checked, merged, named and normalized.

import path from 'node:path';
import { ComposeError, shownPath } from './errors.ts';
import { findFiles, projectEnv, projectName } from './files.ts';
import { loadFile, type LoadedFile } from './load.ts';
import { mergeFiles } from './merge.ts';
import type { Project } from './model.ts';
import { normalize } from './normalize.ts';

export interface LoadOptions {
  files: string[];
  projectName?: string;
  cwd: string;
  env: Record<string, string | undefined>;
}

export interface Loaded {
  project: Project;
  /** What Compose would warn about: unset variables, the obsolete `version`. */
  warnings: string[];
}

export function loadProject(opts: LoadOptions): Loaded {
  const files = findFiles(opts.files, opts.env, opts.cwd);
  const workingDir = path.dirname(files[0]);
  const env = projectEnv(workingDir, opts.env);
  let loaded = files.map((f) => loadFile(f, env));
  // The project's name is a variable of the file and of its services too
  // (COMPOSE_PROJECT_NAME, spec 04-version-and-name.md); it can come from the file's own
  // `name`, so a file that uses it while unset is read again once the name is known.
  if (env.COMPOSE_PROJECT_NAME === undefined) {
    env.COMPOSE_PROJECT_NAME = projectName(opts.projectName, env, mergeFiles(loaded.map((l) => l.data)).name, workingDir);
    if (loaded.some((l) => l.unset.some((u) => u.name === 'COMPOSE_PROJECT_NAME'))) loaded = files.map((f) => loadFile(f, env));
  }
  const warnings: string[] = [];
  for (const l of loaded) {
    for (const u of l.unset) warnings.push(`${rel(l.file)}:${u.line}: the "${u.name}" variable is not set; using an empty string`);
    if (l.data.version !== undefined) warnings.push(`${rel(l.file)}:${l.lineOf(['version'])}: the attribute 'version' is obsolete and ignored; remove it`);
  }
  const data = mergeFiles(loaded.map((l) => l.data));
  const fail = (at: (string | number)[], message: string): never => {
    const [file, line] = locate(loaded, at);
    throw new ComposeError(file, line, message);
  };
  if (!data.services || Object.keys(data.services as object).length === 0) {
    throw new ComposeError(files[0], undefined, 'no services: a Compose file needs a services: key with at least one service');
  }
  const name = projectName(opts.projectName, opts.env, data.name, workingDir);
  const project = normalize({ name, workingDir, files, data, env, fail });
  return { project, warnings };
}

/** The file and line of a key of the merged data: the last file that sets it. */
function locate(loaded: LoadedFile[], at: (string | number)[]): [string, number | undefined] {
  for (let n = at.length; n > 0; n--) {
    for (const l of [...loaded].reverse()) {
      const line = l.lineOf(at.slice(0, n), true);
      if (line !== undefined) return [l.file, line];
    }
  }
  return [loaded[0].file, undefined];
}

const rel = shownPath;
