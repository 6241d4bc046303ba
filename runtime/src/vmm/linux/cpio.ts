// A cpio archive in the "newc" format, the one the Linux kernel unpacks into its first root
// filesystem (the initramfs, Documentation/driver-api/early-userspace/buffer-format.rst).
//
// Each entry is a 110-byte ASCII header (the magic 070701 and thirteen 8-digit hex fields),
// the path name with its NUL, padding to 4 bytes, the file's data, padding to 4 bytes. The
// archive ends with an entry named TRAILER!!!. No compression: the kernel accepts a plain
// archive, and unpacking it costs the guest nothing but copying.

export type CpioEntry =
  | { path: string; type: 'dir'; mode?: number }
  | { path: string; type: 'file'; data: Uint8Array; mode?: number }
  | { path: string; type: 'symlink'; target: string }
  | { path: string; type: 'chardev'; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const HEADER_FIELDS = [
  'ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'filesize',
  'devmajor', 'devminor', 'rdevmajor', 'rdevminor', 'namesize', 'check',
] as const;
type Header = Record<(typeof HEADER_FIELDS)[number], number>;

const pad4 = (n: number) => (4 - (n % 4)) % 4;

function header(h: Header): string {
  return '070701' + HEADER_FIELDS.map((f) => {
    const v = h[f];
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`cpio: ${f} ${v} does not fit in 8 hex digits`);
    return v.toString(16).padStart(8, '0');
  }).join('');
}

function record(h: Omit<Header, 'namesize' | 'check'>, name: string, data: Uint8Array): Buffer[] {
  const nameBytes = Buffer.from(name + '\0');
  const head = Buffer.from(header({ ...h, namesize: nameBytes.length, check: 0 }), 'ascii');
  return [
    head, nameBytes, Buffer.alloc(pad4(head.length + nameBytes.length)),
    Buffer.from(data), Buffer.alloc(pad4(data.length)),
  ];
}

/** The archive for `entries`, in order (a directory must come before what is in it). */
export function cpioNewc(entries: CpioEntry[], mtime = 0): Buffer {
  const parts: Buffer[] = [];
  entries.forEach((e, i) => {
    // Paths in an initramfs are relative: "init", "bin/sh".
    const name = e.path.replace(/^\/+/, '');
    if (!name || name.split('/').includes('..')) throw new Error(`cpio: bad path '${e.path}'`);
    const base = { ino: i + 1, uid: 0, gid: 0, nlink: 1, mtime, devmajor: 0, devminor: 0, rdevmajor: 0, rdevminor: 0 };
    switch (e.type) {
      case 'dir':
        parts.push(...record({ ...base, nlink: 2, mode: S_IFDIR | (e.mode ?? 0o755), filesize: 0 }, name, new Uint8Array()));
        break;
      case 'file':
        parts.push(...record({ ...base, mode: S_IFREG | (e.mode ?? 0o644), filesize: e.data.length }, name, e.data));
        break;
      case 'symlink': {
        // A symlink's data is its target.
        const target = Buffer.from(e.target);
        parts.push(...record({ ...base, mode: S_IFLNK | 0o777, filesize: target.length }, name, target));
        break;
      }
      case 'chardev':
        parts.push(...record({ ...base, mode: S_IFCHR | (e.mode ?? 0o600), filesize: 0, rdevmajor: e.major, rdevminor: e.minor }, name, new Uint8Array()));
        break;
    }
  });
  parts.push(...record({ ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, filesize: 0, devmajor: 0, devminor: 0, rdevmajor: 0, rdevminor: 0 }, 'TRAILER!!!', new Uint8Array()));
  return Buffer.concat(parts);
}
