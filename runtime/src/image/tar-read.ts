// Reading a tar archive, the format of every image layer.
//
// A tar file is a list of 512-byte headers, each followed by the entry's data rounded up to
// 512 bytes, ended by two blocks of zeros. The classic (ustar) header has room for a
// 100-byte name (plus a 155-byte prefix) and 8 GiB of data; longer values travel in an
// extra entry just before the real one: a POSIX pax header ('x', "key=value" records) or a
// GNU long name ('L') / long link name ('K'). This reader folds those into the entry they
// describe and hands out plain entries. It only parses: unpack.ts decides what is safe.

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'other';

export interface TarEntry {
  /** The path as written in the archive (not yet checked: may be absolute or hold `..`). */
  name: string;
  type: TarEntryType;
  /** The raw type flag: '0' file, '1' hard link, '2' symlink, '3' char, '4' block, '5' dir, '6' FIFO... */
  typeflag: string;
  /** Permission bits with setuid, setgid and sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (a pax header may give a fraction). */
  mtime: number;
  /** Target of a symlink, or the archive path a hard link points to. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** File contents: a view into the archive, not a copy. Empty for everything but files. */
  data: Buffer;
  /** Extended attributes from pax `SCHILY.xattr.NAME` records. */
  xattrs: Map<string, Buffer>;
  /** Byte offset of the entry's header, for error messages. */
  offset: number;
}

/** The archive itself is malformed (as opposed to an entry being unsafe). */
export class TarError extends Error {}

const BLOCK = 512;

const TYPES: Record<string, TarEntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', // '7' is "contiguous file": a plain file everywhere today
  '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

/** The entries of an uncompressed tar archive, in order. */
export function* readTar(tar: Buffer): Generator<TarEntry> {
  let offset = 0;
  let pax = new Map<string, Buffer>(); // from an 'x' header, for the next entry only
  let longName: string | undefined; //   from a GNU 'L' entry
  let longLink: string | undefined; //   from a GNU 'K' entry

  while (offset < tar.length) {
    if (offset + BLOCK > tar.length) throw new TarError(`the archive ends in the middle of a header at byte ${offset}`);
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) return; // end-of-archive marker
    checkChecksum(header, offset);

    const typeflag = String.fromCharCode(header[156]);
    let size = number(header, 124, 12, 'size', offset);
    const isMeta = typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K';
    if (!isMeta && pax.has('size')) size = paxNumber(pax, 'size', offset);
    const dataStart = offset + BLOCK;
    if (dataStart + size > tar.length) {
      throw new TarError(`the archive is truncated: the entry at byte ${offset} needs ${size} bytes of data`);
    }
    const data = tar.subarray(dataStart, dataStart + size);
    const headerOffset = offset;
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    switch (typeflag) {
      case 'x':
        for (const [k, v] of parsePax(data, headerOffset)) pax.set(k, v);
        continue;
      case 'g': // global pax records (git archive puts a commit id here): nothing box needs
        continue;
      case 'L':
        longName = cString(data, 0, data.length);
        continue;
      case 'K':
        longLink = cString(data, 0, data.length);
        continue;
    }

    // POSIX ustar keeps a path prefix at 345; GNU tar uses those bytes for other things.
    const isUstar = header.toString('latin1', 257, 263) === 'ustar\0';
    const prefix = isUstar ? cString(header, 345, 155) : '';
    const shortName = cString(header, 0, 100);
    let name = paxString(pax, 'path') ?? longName ?? (prefix ? `${prefix}/${shortName}` : shortName);
    const linkname = paxString(pax, 'linkpath') ?? longLink ?? cString(header, 157, 100);
    let type = TYPES[typeflag] ?? 'other';
    if (type === 'file' && name.endsWith('/')) type = 'dir'; // pre-POSIX tars marked directories this way
    if (type === 'dir') name = name.replace(/(.)\/+$/, '$1');
    if ([...pax.keys()].some((k) => k.startsWith('GNU.sparse.'))) {
      throw new TarError(`entry '${name}' is a sparse file, which box does not unpack`);
    }

    const xattrs = new Map<string, Buffer>();
    for (const [k, v] of pax) if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice('SCHILY.xattr.'.length), v);

    yield {
      name,
      type,
      typeflag,
      mode: number(header, 100, 8, 'mode', headerOffset) & 0o7777,
      uid: pax.has('uid') ? paxNumber(pax, 'uid', headerOffset) : number(header, 108, 8, 'uid', headerOffset),
      gid: pax.has('gid') ? paxNumber(pax, 'gid', headerOffset) : number(header, 116, 8, 'gid', headerOffset),
      mtime: pax.has('mtime') ? paxNumber(pax, 'mtime', headerOffset) : number(header, 136, 12, 'mtime', headerOffset),
      linkname,
      devmajor: number(header, 329, 8, 'devmajor', headerOffset),
      devminor: number(header, 337, 8, 'devminor', headerOffset),
      data: type === 'file' ? data : data.subarray(0, 0),
      xattrs,
      offset: headerOffset,
    };
    pax = new Map();
    longName = longLink = undefined;
  }
}

/** The header checksum: the byte sum of the header with the checksum field read as spaces. */
function checkChecksum(header: Buffer, offset: number): void {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : header[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b; // some old tars summed signed chars
  }
  const stored = number(header, 148, 8, 'checksum', offset);
  if (stored !== unsigned && stored !== signed) {
    throw new TarError(`the header at byte ${offset} has a bad checksum (not a tar archive, or a damaged one)`);
  }
}

/** A NUL-terminated string field. Names are bytes in tar; box reads them as UTF-8. */
function cString(buf: Buffer, start: number, length: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end === -1 || end > start + length ? start + length : end);
}

/**
 * A numeric field: octal digits (padded with spaces or NULs), or, when the first byte has
 * its top bit set, GNU's base-256 big-endian binary for values octal cannot hold.
 */
function number(buf: Buffer, start: number, length: number, field: string, offset: number): number {
  if (buf[start] & 0x80) {
    let value = buf[start] & 0x7f;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + buf[i];
    return value;
  }
  const text = buf.toString('latin1', start, start + length).replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarError(`the header at byte ${offset} has a bad ${field} field (${JSON.stringify(text)})`);
  return parseInt(text, 8);
}

/** pax records: "LENGTH KEY=VALUE\n", where LENGTH counts the whole record in bytes. */
function parsePax(data: Buffer, offset: number): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let i = 0;
  while (i < data.length) {
    if (data[i] === 0) break; // padding
    const space = data.indexOf(0x20, i);
    const length = space > i ? Number(data.toString('latin1', i, space)) : NaN;
    if (!Number.isInteger(length) || length <= 0 || i + length > data.length || data[i + length - 1] !== 0x0a) {
      throw new TarError(`the pax header at byte ${offset} has a malformed record`);
    }
    const record = data.subarray(space + 1, i + length - 1);
    const eq = record.indexOf(0x3d); // '='
    if (eq <= 0) throw new TarError(`the pax header at byte ${offset} has a record without '='`);
    records.set(record.toString('utf8', 0, eq), Buffer.from(record.subarray(eq + 1)));
    i += length;
  }
  return records;
}

function paxString(pax: Map<string, Buffer>, key: string): string | undefined {
  return pax.get(key)?.toString('utf8');
}

function paxNumber(pax: Map<string, Buffer>, key: string, offset: number): number {
  const text = paxString(pax, key)!;
  const value = Number(text);
  if (text === '' || !Number.isFinite(value) || value < 0) {
    throw new TarError(`the pax header at byte ${offset} has a bad ${key} (${JSON.stringify(text)})`);
  }
  return value;
}
