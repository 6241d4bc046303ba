// .boxignore patterns, as Docker reads .dockerignore: Go's filepath.Match plus `**`, a
// matched directory takes everything in it, and the last matching line decides.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { contextPath, readContext } from '../../runtime/src/build/context.ts';
import { cleanPath, globToRegex, isIgnored, parseIgnore } from '../../runtime/src/build/ignore.ts';
import { userError } from './user-error.ts';

const ignored = (patterns: string, p: string) => isIgnored(parseIgnore(patterns), p);

describe('ignore patterns', () => {
  it('matches * and ? within one path component only', () => {
    expect(ignored('*.log', 'debug.log')).toBe(true);
    expect(ignored('*.log', 'logs/debug.log')).toBe(false);
    expect(ignored('*/*.log', 'logs/debug.log')).toBe(true);
    expect(ignored('file?.txt', 'file1.txt')).toBe(true);
    expect(ignored('file?.txt', 'file10.txt')).toBe(false);
  });

  it('matches ** across any number of directories, none included', () => {
    expect(ignored('**/*.pyc', 'a.pyc')).toBe(true);
    expect(ignored('**/*.pyc', 'a/b/c.pyc')).toBe(true);
    expect(ignored('src/**/test', 'src/test')).toBe(true);
    expect(ignored('src/**/test', 'src/x/y/test')).toBe(true);
    expect(ignored('build/**', 'build/out/a.o')).toBe(true);
  });

  it('reads character classes, negated ones too', () => {
    expect(ignored('[a-c].txt', 'b.txt')).toBe(true);
    expect(ignored('[^a-c].txt', 'b.txt')).toBe(false);
    expect(ignored('[!a-c].txt', 'd.txt')).toBe(true);
  });

  it('takes everything inside a matched directory', () => {
    expect(ignored('node_modules', 'node_modules/x/index.js')).toBe(true);
    expect(ignored('/secret/', 'secret/key')).toBe(true);
  });

  it('lets a later ! line take a path back in, and a later plain line out again', () => {
    expect(ignored('*.md\n!README.md', 'README.md')).toBe(false);
    expect(ignored('*.md\n!README.md', 'NOTES.md')).toBe(true);
    expect(ignored('*.md\n!README.md\nREADME*', 'README.md')).toBe(true);
    expect(ignored('docs\n!docs/keep.txt', 'docs/keep.txt')).toBe(false);
  });

  it('skips comments and blank lines, and cleans paths', () => {
    expect(parseIgnore('# comment\n\n  ./a//b/../c/  \n').map((r) => r.pattern)).toEqual(['a/c']);
    expect(cleanPath('/x/./y/')).toBe('x/y');
    expect(globToRegex('a.b').test('aXb')).toBe(false);
  });
});

describe('the build context', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'box-ctx-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('leaves out what .boxignore says, and prefers it to .dockerignore', () => {
    for (const f of ['app/main.c', 'app/main.o', 'docs/a.md', 'docs/keep.md', 'secret.key', 'Boxfile']) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), f);
    }
    fs.writeFileSync(path.join(dir, '.boxignore'), '*.key\n**/*.o\ndocs\n!docs/keep.md\n');
    fs.writeFileSync(path.join(dir, '.dockerignore'), 'app\n');
    const ctx = readContext(dir);
    expect(ctx.ignoreFile).toBe('.boxignore');
    expect(ctx.entries.map((e) => e.rel)).toEqual(['.boxignore', '.dockerignore', 'Boxfile', 'app', 'app/main.c', 'docs/keep.md']);
  });

  it('uses .dockerignore when there is no .boxignore', () => {
    fs.rmSync(path.join(dir, '.boxignore'));
    expect(readContext(dir).entries.map((e) => e.rel)).not.toContain('app/main.c');
  });

  it('refuses a context that is not a directory, and sources above it', () => {
    expect(userError(() => readContext(path.join(dir, 'Boxfile')))).toMatch(/is not a directory/);
    expect(contextPath('../etc/passwd')).toBeUndefined();
    expect(contextPath('a/../../b')).toBeUndefined();
    expect(contextPath('./a/../b/')).toBe('b');
  });
});
