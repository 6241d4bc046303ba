import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { contentType, resolveStatic } from '../../src/server/static.ts';

let root: string;
let outside: string;

beforeAll(() => {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-static-'));
  root = path.join(top, 'dist');
  outside = path.join(top, 'secret.txt');
  fs.mkdirSync(path.join(root, 'lessons', 'en', 'pid'), { recursive: true });
  fs.mkdirSync(path.join(root, '_astro'));
  fs.writeFileSync(path.join(root, 'index.html'), 'home');
  fs.writeFileSync(path.join(root, 'about.html'), 'about');
  fs.writeFileSync(path.join(root, 'lessons', 'en', 'pid', 'index.html'), 'pid');
  fs.writeFileSync(path.join(root, '_astro', 'app.1234.js'), 'js');
  fs.writeFileSync(outside, 'secret');
  fs.symlinkSync(outside, path.join(root, 'leak.txt'));
  fs.symlinkSync('/etc', path.join(root, 'etc'));
});
afterAll(() => fs.rmSync(path.dirname(root), { recursive: true, force: true }));

describe('static file resolution', () => {
  it('serves index.html for directories and .html for bare names', () => {
    expect(resolveStatic(root, '/')).toEqual({ kind: 'file', file: path.join(root, 'index.html') });
    expect(resolveStatic(root, '/lessons/en/pid/')).toEqual({ kind: 'file', file: path.join(root, 'lessons/en/pid/index.html') });
    expect(resolveStatic(root, '/about')).toEqual({ kind: 'file', file: path.join(root, 'about.html') });
    expect(resolveStatic(root, '/_astro/app.1234.js')).toEqual({ kind: 'file', file: path.join(root, '_astro/app.1234.js') });
  });

  it('redirects a directory without its slash, never to another host', () => {
    expect(resolveStatic(root, '/lessons/en/pid')).toEqual({ kind: 'redirect', location: '/lessons/en/pid/' });
    const r = resolveStatic(root, '//lessons/en/pid');
    expect(r).toEqual({ kind: 'redirect', location: '/lessons/en/pid/' });
  });

  it.each([
    '/../secret.txt', '/..%2fsecret.txt', '/%2e%2e/secret.txt', '/lessons/../../secret.txt',
    '/%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/..\\secret.txt', '/index.html%00.js', '/%E0%A4%A',
    '/leak.txt', '/etc/passwd', '/nope', '/lessons/en/missing/',
  ])('refuses %s', (p) => {
    expect(resolveStatic(root, p)).toEqual({ kind: 'missing' });
  });

  it('names content types', () => {
    expect(contentType('a.html')).toBe('text/html; charset=utf-8');
    expect(contentType('a.JS')).toBe('text/javascript; charset=utf-8');
    expect(contentType('a.css')).toBe('text/css; charset=utf-8');
    expect(contentType('a.svg')).toBe('image/svg+xml');
    expect(contentType('a.woff2')).toBe('font/woff2');
    expect(contentType('a.unknown')).toBe('application/octet-stream');
  });
});
