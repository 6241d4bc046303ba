// Writing a tar archive: how box makes the layers of its built-in images (and how the tests
// make the archives they feed to the reader, hostile ones included). It writes exactly the
// entries it is given, in that order, checking nothing; sorting and safety are the caller's.

import type { TarEntryType } from './tar-read.ts';

export interface TarWriteEntry {
  name: string;
  type: Exclude<TarEntryType, 'other'>;
  /** Write this raw type flag instead of the one `type` implies (tests use it for odd kinds). */
  typeflag?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  data?: Buffer | string;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Written as pax `SCHILY.xattr.NAME` records. */
  xattrs?: Record<string, string | Buffer>;
}

export interface TarWriteOptions {
  /** How a name longer than the 100-byte field travels: a pax header (default) or GNU 'L'/'K'. */
  longNames?: 'pax' | 'gnu';
}

const BLOCK = 512;
const FLAGS: Record<TarWriteEntry['type'], string> = {
  file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6',
};

export function writeTar(entries: TarWriteEntry[], opts: TarWriteOptions = {}): Buffer {
  const gnu = opts.longNames === 'gnu';
  const out: Buffer[] = [];
  for (const e of entries) {
    const data = e.type === 'file' ? Buffer.from(e.data ?? '') : Buffer.alloc(0);
    const name = e.type === 'dir' && !e.name.endsWith('/') ? `${e.name}/` : e.name;
    const linkname = e.linkname ?? '';
    const pax: [string, string | Buffer][] = [];

    if (Buffer.byteLength(name) > 100) {
      if (gnu) out.push(...record('L', '././@LongLink', Buffer.from(name + '\0'), gnu));
      else pax.push(['path', name]);
    }
    if (Buffer.byteLength(linkname) > 100) {
      if (gnu) out.push(...record('K', '././@LongLink', Buffer.from(linkname + '\0'), gnu));
      else pax.push(['linkpath', linkname]);
    }
    for (const [k, v] of Object.entries(e.xattrs ?? {})) pax.push([`SCHILY.xattr.${k}`, v]);
    if (pax.length) out.push(...record('x', `PaxHeaders/${name.slice(-80)}`, paxRecords(pax), gnu));

    out.push(header({ ...e, name, linkname, typeflag: e.typeflag ?? FLAGS[e.type] }, data.length, gnu), data, padding(data.length));
  }
  out.push(Buffer.alloc(2 * BLOCK)); // end of archive
  return Buffer.concat(out);
}

/**
 * The header block of one entry whose `size` bytes of data the caller writes itself, followed
 * by tarPadding(size): for archives too big to build in memory (`box save`). Names must fit
 * the 100-byte field; TAR_END closes the archive.
 */
export function tarHeader(e: TarWriteEntry, size: number): Buffer {
  if (Buffer.byteLength(e.name) > 100) throw new Error(`tar name too long for a plain header: ${e.name}`);
  return header({ ...e, linkname: e.linkname ?? '', typeflag: e.typeflag ?? FLAGS[e.type] }, size, false);
}

export const tarPadding = (size: number): Buffer => padding(size);

/** Two zero blocks: the end of an archive. */
export const TAR_END = Buffer.alloc(2 * BLOCK);

/** A metadata entry (pax or GNU long name) and its data. */
function record(typeflag: string, name: string, data: Buffer, gnu: boolean): Buffer[] {
  return [header({ name, typeflag, type: 'file', mode: 0o644 }, data.length, gnu), data, padding(data.length)];
}

function header(e: TarWriteEntry & { typeflag: string }, size: number, gnu: boolean): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(e.name, 0, 100, 'utf8');
  octal(h, 100, 8, e.mode ?? (e.type === 'dir' ? 0o755 : e.type === 'symlink' ? 0o777 : 0o644));
  octal(h, 108, 8, e.uid ?? 0);
  octal(h, 116, 8, e.gid ?? 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, Math.floor(e.mtime ?? 0));
  h.write(e.typeflag, 156, 1, 'latin1');
  h.write(e.linkname ?? '', 157, 100, 'utf8');
  h.write(gnu ? 'ustar  \0' : 'ustar\x0000', 257, 8, 'latin1');
  h.write(e.uid ? '' : 'root', 265, 32, 'latin1');
  h.write(e.gid ? '' : 'root', 297, 32, 'latin1');
  octal(h, 329, 8, e.devmajor ?? 0);
  octal(h, 337, 8, e.devminor ?? 0);
  h.fill(0x20, 148, 156); // the checksum is summed with its own field as spaces
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

/** An octal field: digits, zero-padded, NUL-terminated; base-256 when octal cannot hold it. */
function octal(h: Buffer, start: number, length: number, value: number): void {
  const text = value.toString(8);
  if (text.length < length) {
    h.write(text.padStart(length - 1, '0') + '\0', start, length, 'latin1');
    return;
  }
  let v = value;
  for (let i = start + length - 1; i > start; i--) {
    h[i] = v % 256;
    v = Math.floor(v / 256);
  }
  h[start] = 0x80;
}

/** "LENGTH KEY=VALUE\n", where LENGTH counts its own digits too. */
function paxRecords(records: [string, string | Buffer][]): Buffer {
  return Buffer.concat(records.map(([key, value]) => {
    const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
    let length = body.length + 1;
    while (String(length).length + body.length !== length) length++;
    return Buffer.concat([Buffer.from(String(length)), body]);
  }));
}

function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}
