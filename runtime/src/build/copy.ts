// COPY and ADD: files of the build context become the entries of a new layer.
//
// Docker's rules ("Dockerfile reference", COPY):
//   - a source is a path in the context, or a pattern (`*.txt`) matched against its paths;
//   - a source directory's CONTENTS are copied, not the directory itself;
//   - the destination is a directory if it ends in `/`, if there are several sources, or if
//     the image already has a directory there; else a single file is copied to that name;
//   - a relative destination counts from the WORKDIR; missing directories are made (0755);
//   - files keep their mode and modification time; they belong to root unless --chown says
//     otherwise; --chmod sets the mode of what is copied.
// ADD does the same, and a local tar archive (plain, gzip or zstd) is unpacked into the
// destination instead of copied. Downloads (ADD URL) are not supported.
//
// The entries are computed in full before the cache is asked, because the cache key of a
// COPY includes a digest of what it copies: a changed file is a new key.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import { comparePaths, isWhiteout, mergedLayers } from '../image/changes.ts';
import { readTar, TarError } from '../image/tar-read.ts';
import type { TarWriteEntry } from '../image/tar-write.ts';
import { KEPT_XATTRS, pathParts, symlinkStaysInside, unsafePath } from '../image/unpack.ts';
import { contextPath, entriesUnder, type BuildContext, type ContextEntry } from './context.ts';
import { globToRegex } from './ignore.ts';

// Loaded when an archive is unpacked, not at every build.
const zlib = () => process.getBuiltinModule('node:zlib') as typeof import('node:zlib');

export interface CopyRequest {
  keyword: 'COPY' | 'ADD';
  sources: string[];
  dest: string;
  /** The WORKDIR, which a relative destination counts from. */
  workdir: string;
  chown?: { uid: number; gid: number };
  chmod?: number;
  ctx: BuildContext;
  /** The unpacked layers of the image so far, lowest first: what is already there. */
  lowerDirs: string[];
  /** Modification time (seconds) for the directories the step makes. */
  now: number;
  /** Makes an error that names the Boxfile's line. */
  fail: (message: string) => UserError;
  warn: (message: string) => void;
}

export interface CopyPlan {
  /** The layer's entries, in order: each directory before what is in it. */
  entries: TarWriteEntry[];
  /** A digest of what is copied (names, kinds, modes, owners, contents; not times): part of the cache key. */
  digest: string;
}

type Meta = Pick<TarWriteEntry, 'mode' | 'uid' | 'gid' | 'mtime'>;

export function planCopy(req: CopyRequest): CopyPlan {
  const lower = lowerLookup(req.lowerDirs);
  const destAbs = path.posix.resolve(req.workdir || '/', req.dest);
  const out = new Map<string, TarWriteEntry>(); // by name inside the image, without the leading '/'
  const matched = req.sources.flatMap((src) => resolveSource(req, src));
  const many = matched.length > 1 || req.sources.length > 1;
  const destIsDir = req.dest.endsWith('/') || req.dest.endsWith('/.') || lower.isDir(destAbs);
  if (many && !destIsDir) {
    throw req.fail(`${req.keyword} of several files needs a directory as the destination: end it with a slash ('${req.dest}/')`);
  }

  const put = (target: string, entry: Omit<TarWriteEntry, 'name'>) => {
    const name = target.replace(/^\/+/, '');
    if (name === '') return; // the root directory itself is the image's, not ours
    out.set(name, { name, ...entry });
  };

  for (const m of matched) {
    if (m.kind === 'dir') {
      put(destAbs, dirEntry(lower.meta(destAbs), req, m.stat));
      for (const e of entriesUnder(req.ctx, m.rel).filter((x) => x.rel !== m.rel)) {
        const below = m.rel === '' ? e.rel : e.rel.slice(m.rel.length + 1);
        copyEntry(req, e, path.posix.join(destAbs, below), put);
      }
    } else if (req.keyword === 'ADD' && m.stat.isFile() && archiveKind(path.join(req.ctx.dir, m.rel), req)) {
      put(destAbs, dirEntry(lower.meta(destAbs), req));
      unpackArchive(req, m.rel, destAbs, put);
    } else {
      const target = destIsDir ? path.posix.join(destAbs, path.posix.basename(m.rel)) : destAbs;
      copyEntry(req, m, target, put);
    }
  }

  // Every directory above what is copied: as the image has it, or made now.
  for (const name of [...out.keys()]) {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!out.has(dir)) out.set(dir, { name: dir, ...dirEntry(lower.meta(`/${dir}`), { ...req, chown: undefined, chmod: undefined }) });
    }
  }
  const entries = [...out.values()].sort((a, b) => comparePaths(a.name, b.name));
  return { entries, digest: contentDigest(entries) };
}

/** A source as the context entries it names: a path, or every path a pattern matches. */
function resolveSource(req: CopyRequest, src: string): (ContextEntry & { kind: 'dir' | 'file' })[] {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(src)) {
    throw req.fail(req.keyword === 'ADD'
      ? `ADD from a URL ('${src}') is not supported: box builds from local files only; download it into the build context first`
      : `COPY takes files of the build context, not '${src}'; download it into the build context first`);
  }
  const rel = contextPath(src);
  if (rel === undefined) throw req.fail(`'${src}' is outside the build context; ${req.keyword} reads only files inside the directory given to box build`);
  const kind = (e: ContextEntry) => (e.stat.isDirectory() ? 'dir' as const : 'file' as const);
  if (/[*?[]/.test(rel)) {
    const re = globToRegex(rel);
    const hits = req.ctx.entries.filter((e) => re.test(e.rel)).map((e) => ({ ...e, kind: kind(e) }));
    if (!hits.length) throw req.fail(`'${src}' matches no file in the build context${ignoredNote(req)}`);
    return hits;
  }
  if (rel === '') return [{ rel: '', stat: fs.statSync(req.ctx.dir), kind: 'dir' }];
  const e = req.ctx.byPath.get(rel);
  if (!e) {
    const exists = fs.existsSync(path.join(req.ctx.dir, rel));
    throw req.fail(exists
      ? `'${src}' is left out of the build context by ${req.ctx.ignoreFile}; take it out of that file to copy it`
      : `'${src}' is not in the build context ${req.ctx.dir}; check the name (paths count from the context directory)`);
  }
  return [{ ...e, kind: kind(e) }];
}

function ignoredNote(req: CopyRequest): string {
  return req.ctx.ignoreFile ? ` (or ${req.ctx.ignoreFile} leaves it out)` : '';
}

function copyEntry(
  req: CopyRequest, e: ContextEntry, target: string,
  put: (target: string, entry: Omit<TarWriteEntry, 'name'>) => void,
): void {
  const { stat } = e;
  const full = path.join(req.ctx.dir, e.rel);
  const ids = req.chown ?? { uid: 0, gid: 0 }; // the context's owners mean nothing in the image
  const mtime = Math.floor(stat.mtimeMs / 1000);
  const mode = req.chmod ?? stat.mode & 0o7777;
  if (stat.isDirectory()) {
    put(target, { type: 'dir', mode, ...ids, mtime });
  } else if (stat.isFile()) {
    put(target, { type: 'file', mode, ...ids, mtime, data: fs.readFileSync(full) });
  } else if (stat.isSymbolicLink()) {
    const link = fs.readlinkSync(full);
    if (!symlinkStaysInside(pathParts(target), link)) {
      throw req.fail(`'${e.rel}' is a symlink to '${link}', which climbs above the image's root; box refuses such links in layers`);
    }
    put(target, { type: 'symlink', linkname: link, mode: 0o777, ...ids, mtime });
  } else {
    req.warn(`left out ${e.rel}: it is not a file, directory or symlink, and layers carry no device nodes, FIFOs or sockets`);
  }
}

/** A directory entry: as the image has it (`have`), or new (0755, or the copied directory's mode). */
function dirEntry(have: Meta | undefined, req: Pick<CopyRequest, 'chown' | 'chmod' | 'now'>, source?: fs.Stats): Omit<TarWriteEntry, 'name'> {
  if (have) return { type: 'dir', ...have, ...(req.chown ?? {}) };
  return { type: 'dir', mode: req.chmod ?? (source ? source.mode & 0o7777 : 0o755), uid: req.chown?.uid ?? 0, gid: req.chown?.gid ?? 0, mtime: req.now };
}

// ---- ADD: local archives -----------------------------------------------------------------

/** 'tar', 'gzip' or 'zstd' for an archive ADD unpacks; undefined for any other file (copied as it is). */
function archiveKind(file: string, req: CopyRequest): 'tar' | 'gzip' | 'zstd' | undefined {
  const head = Buffer.alloc(512);
  const fd = fs.openSync(file, 'r');
  let n: number;
  try {
    n = fs.readSync(fd, head, 0, 512, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (n >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (n >= 3 && head.toString('latin1', 0, 3) === 'BZh' || n >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]))) {
    throw req.fail(`ADD ${path.basename(file)}: box unpacks tar, tar.gz and tar.zst archives, not bzip2 or xz; recompress it with gzip, or COPY it to keep it packed`);
  }
  if (n === 512 && head.toString('latin1', 257, 262) === 'ustar') return 'tar';
  return undefined;
}

function unpackArchive(req: CopyRequest, rel: string, destAbs: string, put: (target: string, entry: Omit<TarWriteEntry, 'name'>) => void): void {
  const file = path.join(req.ctx.dir, rel);
  let tar = fs.readFileSync(file);
  const kind = archiveKind(file, req);
  const refuse = (why: string) => req.fail(`ADD ${rel}: ${why}`);
  try {
    if (kind === 'gzip') tar = zlib().gunzipSync(tar);
    if (kind === 'zstd') tar = zlib().zstdDecompressSync(tar);
  } catch (err) {
    throw refuse(`the archive is damaged (${(err as Error).message})`);
  }
  const inside = (name: string) => path.posix.join(destAbs, ...pathParts(name));
  try {
    for (const e of readTar(tar)) {
      const bad = unsafePath(e.name);
      if (bad) throw refuse(`entry '${e.name}' ${bad}; box unpacks only archives whose paths stay inside`);
      if (pathParts(e.name).length === 0) continue; // `./` itself
      if (path.posix.basename(e.name).startsWith('.wh.')) throw refuse(`entry '${e.name}' would be read as a layer whiteout; rename it`);
      const ids = req.chown ?? { uid: e.uid, gid: e.gid };
      const meta = { mode: req.chmod ?? e.mode, ...ids, mtime: Math.floor(e.mtime) };
      const xattrs = Object.fromEntries([...e.xattrs].filter(([k]) => KEPT_XATTRS.test(k)));
      const extra = Object.keys(xattrs).length ? { xattrs } : {};
      const target = inside(e.name);
      switch (e.type) {
        case 'dir':
          put(target, { type: 'dir', ...meta, ...extra });
          break;
        case 'file':
          put(target, { type: 'file', ...meta, ...extra, data: Buffer.from(e.data) });
          break;
        case 'symlink':
          if (!symlinkStaysInside(pathParts(target), e.linkname)) throw refuse(`entry '${e.name}' is a symlink to '${e.linkname}', which climbs above the image's root`);
          put(target, { type: 'symlink', linkname: e.linkname, ...meta });
          break;
        case 'hardlink': {
          const badLink = unsafePath(e.linkname, 'link target');
          if (badLink) throw refuse(`entry '${e.name}' ${badLink}`);
          put(target, { type: 'hardlink', linkname: inside(e.linkname).replace(/^\/+/, ''), ...meta });
          break;
        }
        default:
          throw refuse(`entry '${e.name}' is a ${e.type === 'other' ? `type '${e.typeflag}' entry` : `${e.type} device or FIFO`}; layers carry only files, directories and links`);
      }
    }
  } catch (err) {
    if (err instanceof TarError) throw refuse(`the archive is damaged (${err.message})`);
    throw err;
  }
}

// ---- what is below -------------------------------------------------------------------------

/** The image so far, as COPY needs to see it: is a path a directory, and its owner and mode. */
function lowerLookup(lowerDirs: string[]) {
  const view = mergedLayers(lowerDirs);
  const top = [...lowerDirs].reverse();
  const stat = (p: string): fs.Stats | undefined => {
    if (p === '/' || !view.has(p)) return undefined;
    for (const layer of top) {
      const st = fs.lstatSync(path.join(layer, p), { throwIfNoEntry: false });
      if (st && !isWhiteout(st)) return st;
    }
    return undefined;
  };
  return {
    isDir: (p: string) => p === '/' || Boolean(stat(p)?.isDirectory()),
    meta: (p: string): Meta | undefined => {
      const st = stat(p);
      return st?.isDirectory() ? { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) } : undefined;
    },
  };
}

/** A digest of the entries without their times: the same files copied again give the same digest. */
function contentDigest(entries: TarWriteEntry[]): string {
  const h = crypto.createHash('sha256');
  for (const e of entries) {
    h.update(JSON.stringify([e.name, e.type, e.mode, e.uid, e.gid, e.linkname ?? '', Object.keys(e.xattrs ?? {}).sort()]));
    if (e.data) h.update(crypto.createHash('sha256').update(e.data).digest());
    for (const [k, v] of Object.entries(e.xattrs ?? {}).sort()) h.update(`${k}=${Buffer.from(v).toString('hex')}`);
  }
  return `sha256:${h.digest('hex')}`;
}

/** The entries that make the directory `dir` (and those above it) exist: for WORKDIR. */
export function directoryEntries(dir: string, lowerDirs: string[], now: number): TarWriteEntry[] | undefined {
  const lower = lowerLookup(lowerDirs);
  if (lower.isDir(dir)) return undefined;
  const parts = dir.split('/').filter(Boolean);
  return parts.map((_, i) => {
    const p = `/${parts.slice(0, i + 1).join('/')}`;
    return { name: p.slice(1), ...dirEntry(lower.meta(p), { now }) };
  });
}
