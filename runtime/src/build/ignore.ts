// .boxignore (or .dockerignore): which files of the build context a build never sees.
//
// The rules are Docker's ("Dockerfile reference", .dockerignore file):
//   - one pattern per line; `#` starts a comment line; blank lines are skipped;
//   - patterns are paths relative to the context's root (a leading `/` changes nothing), in
//     Go's filepath.Match syntax: `*` any run of characters but `/`, `?` one such character,
//     `[a-z]` a class, plus `**` for any number of directories (also none);
//   - a pattern that matches a directory excludes everything in it;
//   - `!pattern` takes matching paths back in; the LAST pattern that matches a path decides.

export interface IgnoreRule {
  pattern: string;
  exclude: boolean;
  regex: RegExp;
}

/** Read the lines of an ignore file into rules, in order. */
export function parseIgnore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.replace(/\r\n?/g, '\n').split('\n')) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const exclude = !line.startsWith('!');
    if (!exclude) line = line.slice(1).trim();
    const pattern = cleanPath(line);
    if (pattern === '') continue;
    rules.push({ pattern, exclude, regex: globToRegex(pattern) });
  }
  return rules;
}

/** `./a//b/../c/` -> `a/c`, as Go's filepath.Clean does for a relative path; `/` and `.` -> ''. */
export function cleanPath(p: string): string {
  const parts: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return parts.join('/');
}

/** A glob in Go's filepath.Match syntax (plus `**`) as an anchored regular expression. */
export function globToRegex(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      // `**/` matches any number of directories; a trailing `**` matches everything below.
      i++;
      if (glob[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else {
        re += '.*';
      }
    } else if (c === '*') {
      re += '[^/]*';
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let cls = glob.slice(i + 1, end);
      if (cls.startsWith('^') || cls.startsWith('!')) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < glob.length) {
      re += escapeRegex(glob[++i]);
    } else {
      re += escapeRegex(c);
    }
  }
  return new RegExp(`^${re}$`);
}

function escapeRegex(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

/**
 * Is `rel` (a path relative to the context, `a/b/c`) left out of the build? A pattern
 * matches the path itself or any directory above it.
 */
export function isIgnored(rules: IgnoreRule[], rel: string): boolean {
  const path = cleanPath(rel);
  const prefixes: string[] = [];
  const parts = path.split('/');
  for (let i = 1; i <= parts.length; i++) prefixes.push(parts.slice(0, i).join('/'));
  let ignored = false;
  for (const rule of rules) {
    if (prefixes.some((p) => rule.regex.test(p))) ignored = rule.exclude;
  }
  return ignored;
}

/**
 * May a directory that is ignored still hold a path that a later `!` rule takes back in?
 * Then the walk must go into it (Docker does the same), else it can skip it whole.
 */
export function mayReinclude(rules: IgnoreRule[], dir: string): boolean {
  const prefix = `${cleanPath(dir)}/`;
  return rules.some((r) => !r.exclude && (r.pattern.startsWith(prefix) || r.pattern.includes('*') || r.pattern.includes('?')));
}
