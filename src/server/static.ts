// Serve the built site (dist/) as static files. Every request path is decoded, resolved
// against dist and checked to still lie inside it, so "/../../etc/passwd", "%2e%2e",
// encoded slashes and NUL bytes never leave the site directory.

import fs from 'node:fs';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { localLocation, requestUrl } from './auth.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.xml': 'application/xml; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
  '.webmanifest': 'application/manifest+json',
  '.pdf': 'application/pdf',
};

export function contentType(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

export type Resolved =
  | { kind: 'file'; file: string }
  | { kind: 'redirect'; location: string }
  | { kind: 'missing' };

function isFile(p: string): boolean {
  try { return fs.statSync(p).isFile(); } catch { return false; }
}

function isDir(p: string): boolean {
  try { return fs.statSync(p).isDirectory(); } catch { return false; }
}

/**
 * Map a URL path (no query) to a file in `root`. "/a/" -> a/index.html, "/a" -> a.html,
 * or a redirect to "/a/" when a/ is a directory (so relative links in the page work).
 */
export function resolveStatic(root: string, urlPath: string): Resolved {
  let decoded: string;
  try { decoded = decodeURIComponent(urlPath); } catch { return { kind: 'missing' }; }
  if (decoded.includes('\0') || decoded.includes('\\') || !decoded.startsWith('/')) return { kind: 'missing' };
  const base = path.resolve(root);
  const target = path.resolve(base, '.' + decoded);
  // The check that matters: after resolving "..", the target is the root or below it.
  if (target !== base && !target.startsWith(base + path.sep)) return { kind: 'missing' };
  // A symlink inside dist must not point outside it either.
  let real: string;
  try { real = fs.realpathSync(target); } catch { real = target; }
  const realBase = fs.realpathSync(base);
  if (real !== realBase && !real.startsWith(realBase + path.sep)) return { kind: 'missing' };

  if (decoded.endsWith('/')) {
    const index = path.join(target, 'index.html');
    return isFile(index) ? { kind: 'file', file: index } : { kind: 'missing' };
  }
  if (isFile(target)) return { kind: 'file', file: target };
  if (isDir(target) && isFile(path.join(target, 'index.html'))) {
    // "//evil.example/" in a Location is another site: localLocation keeps it a path here.
    return { kind: 'redirect', location: localLocation(urlPath + '/') };
  }
  if (isFile(target + '.html')) return { kind: 'file', file: target + '.html' };
  return { kind: 'missing' };
}

const FALLBACK_404 = `<!doctype html><meta charset="utf-8"><title>Not found</title>
<body style="font-family:system-ui;max-width:40em;margin:4em auto">
<h1>Not found</h1><p>There is no page at this address. <a href="/">Go to the course</a>.</p></body>`;

export function sendFile(req: IncomingMessage, res: ServerResponse, file: string, status = 200): void {
  const stat = fs.statSync(file);
  const headers: Record<string, string | number> = {
    'Content-Type': contentType(file),
    'Content-Length': stat.size,
    'X-Content-Type-Options': 'nosniff',
    'Last-Modified': stat.mtime.toUTCString(),
  };
  // Astro puts content-hashed bundles in /_astro/: they never change under the same name.
  headers['Cache-Control'] = file.includes(`${path.sep}_astro${path.sep}`)
    ? 'public, max-age=31536000, immutable'
    : 'no-cache';
  res.writeHead(status, headers);
  if (req.method === 'HEAD') { res.end(); return; }
  const stream = fs.createReadStream(file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

export function sendNotFound(req: IncomingMessage, res: ServerResponse, root: string): void {
  const page = path.join(root, '404.html');
  if (isFile(page)) { sendFile(req, res, page, 404); return; }
  res.writeHead(404, { 'Content-Type': 'text/html; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  res.end(req.method === 'HEAD' ? undefined : FALLBACK_404);
}

/** Answer a GET/HEAD for a static file (the caller has already authenticated it). */
export function serveStatic(req: IncomingMessage, res: ServerResponse, root: string): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('Method not allowed\n');
    return;
  }
  const url = requestUrl(req.url);
  if (!url) { sendNotFound(req, res, root); return; }
  const found = resolveStatic(root, url.pathname);
  if (found.kind === 'file') sendFile(req, res, found.file);
  else if (found.kind === 'redirect') {
    res.writeHead(301, { Location: localLocation(found.location + url.search) });
    res.end();
  } else sendNotFound(req, res, root);
}
