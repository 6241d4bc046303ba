// The offline base image, `busybox:latest`, built on this machine from Debian's static
// busybox: one executable that is ~300 programs, chosen by the name it is run as
// (argv[0]). The image is that file, a symlink for each program, and a skeleton of
// directories, so `box run busybox sh` works right after install, with no registry.
//
// Names: its wget, nc and ping resolve them through /etc/resolv.conf (a network's box-dns)
// with no NSS module to load. Since glibc 2.34 the `files` and `dns` lookups are part of libc
// itself, so a static glibc program needs nothing dlopen()ed for them; only other modules
// (mdns, myhostname, systemd...) would be, and no nsswitch.conf here names one. (Debian's
// busybox 1.35 wget has no -T and dies of SIGSEGV when given one, a name or an address
// alike, in the dynamic build too: an option-parsing bug, not DNS. Use `timeout 5 wget`.)

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import { inHome } from '../home.ts';
import type { Trace } from '../sys/trace.ts';
import { HOST_MACHINE, readElf } from './elf.ts';
import { writeImage } from './images.ts';
import { importLayerTar } from './layers.ts';
import { dir, file, reproducibleTar, symlink } from './rootfs-layer.ts';

export const BUSYBOX_REF = 'busybox:latest';

/** Where runtime/scripts/postinstall.ts unpacks busybox-static when the system lacks it. */
export const BUSYBOX_CACHE = inHome('node_modules/.cache/box/busybox-static/');

/** Where to look for a static busybox, in order. $BOX_BUSYBOX, if set, is the only place. */
export function busyboxCandidates(): string[] {
  if (process.env.BOX_BUSYBOX) return [process.env.BOX_BUSYBOX];
  return ['/bin/busybox', '/usr/bin/busybox', path.join(BUSYBOX_CACHE, 'bin/busybox'), path.join(BUSYBOX_CACHE, 'usr/bin/busybox')];
}

/**
 * The first statically linked busybox among the candidates. A dynamically linked one
 * (Debian's `busybox` package) would need the host's libc inside the image, so it is refused.
 */
export function findStaticBusybox(candidates = busyboxCandidates()): string {
  let dynamic: string | undefined;
  for (const candidate of candidates) {
    if (!fs.existsSync(candidate)) continue;
    const elf = readElf(candidate);
    if (!elf) continue;
    if (elf.machine !== HOST_MACHINE[process.arch]) continue;
    if (elf.isStatic) return candidate;
    dynamic ??= candidate;
  }
  if (dynamic) {
    throw new UserError(`${dynamic} is dynamically linked, and the busybox image needs a static one: apt-get install busybox-static`);
  }
  throw new UserError('busybox-static is not installed, and box builds its busybox image from it: apt-get install busybox-static');
}

const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The image's one layer, as a reproducible tar, and the busybox version it holds. */
export function busyboxLayer(busybox: string): { tar: Buffer; version: string } {
  const run = (arg: string) => execFileSync(busybox, [arg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const version = /BusyBox v\S+( \([^)]*\))?/.exec(run('--help'))?.[0] ?? 'BusyBox';
  // --list-full prints where each program belongs: "bin/sh", "usr/bin/awk", "sbin/ip"...
  const applets = run('--list-full').split('\n').filter((p) => p.includes('/') && p !== 'bin/busybox');
  const entries = [
    file('bin/busybox', fs.readFileSync(busybox), 0o755),
    // Relative targets, so the links also resolve when the layer is looked at from the host.
    ...applets.map((p) => symlink(p, path.posix.relative(path.posix.dirname(p), 'bin/busybox'))),
    file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n'),
    file('etc/group', 'root:x:0:\nnobody:x:65534:\n'),
    dir('dev'), dir('proc'), dir('sys'), dir('home'), dir('var'), dir('run'),
    dir('root', 0o700),
    dir('tmp', 0o1777), // sticky and world-writable: anyone may create, only owners delete
  ];
  return { tar: reproducibleTar(entries), version };
}

/** Build `busybox:latest` into the store at `root`. */
export function buildBusyboxImage(root: string, opts: { busybox?: string; trace?: Trace } = {}): { id: string; manifestDigest: string } {
  const busybox = findStaticBusybox(opts.busybox ? [opts.busybox] : undefined);
  const { tar, version } = busyboxLayer(busybox);
  const layer = importLayerTar(root, tar, { unpack: true, trace: opts.trace });
  opts.trace?.record({ kind: 'note', text: `built ${BUSYBOX_REF} from ${busybox} (${version})` });
  // Created when the busybox binary was: still the same for the same binary (the image's digest
  // stays reproducible), and `box images` shows a date that means something, not 1970.
  const created = new Date(Math.floor(fs.statSync(busybox).mtimeMs / 1000) * 1000).toISOString();
  return writeImage(root, {
    ref: BUSYBOX_REF,
    config: { Env: [PATH], Cmd: ['sh'] },
    layers: [layer],
    created,
    history: [{ created, created_by: `box: ${version}, statically linked, a symlink per applet` }],
  });
}
