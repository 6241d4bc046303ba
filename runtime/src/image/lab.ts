// `lab:latest`, the image of the course's lab sandboxes. It holds almost nothing: the
// sandbox bind-mounts the host's /usr read-only at /usr, so the reader gets the host's
// tools (bash, ip, strace, box itself under /opt/box) without copying a byte of them.
//
// On a "usr-merged" system (Debian 12, Fedora, Arch...) /bin, /sbin, /lib and /lib64 are
// symlinks into /usr, so the same symlinks in the image make the one /usr mount enough.
// Where one of them is a real directory on the host, the image has an empty directory there
// instead, and the label below lists it with /usr as a host directory the sandbox must bind.

import fs from 'node:fs';
import type { Trace } from '../sys/trace.ts';
import { writeImage } from './images.ts';
import { importLayerTar } from './layers.ts';
import { BUILT_IN_CREATED, dir, file, reproducibleTar, symlink } from './rootfs-layer.ts';
import type { TarWriteEntry } from './tar-write.ts';

export const LAB_REF = 'lab:latest';
/** Label naming the host directories a lab sandbox bind-mounts read-only, comma-separated. */
export const HOST_BINDS_LABEL = 'org.isolab.box.host-binds';

const TOP_LEVEL = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

/** The lab layer for this host (`hostRoot` lets a test describe another host). */
export function labLayer(hostRoot = '/'): { tar: Buffer; shell: string; hostBinds: string[] } {
  const entries: TarWriteEntry[] = [];
  const hostBinds = ['/usr'];
  for (const name of TOP_LEVEL) {
    const st = fs.lstatSync(`${hostRoot}/${name}`, { throwIfNoEntry: false });
    if (st?.isSymbolicLink()) {
      entries.push(symlink(name, fs.readlinkSync(`${hostRoot}/${name}`))); // "usr/bin"
    } else if (st?.isDirectory()) {
      entries.push(dir(name));
      hostBinds.push(`/${name}`);
    }
  }
  const shell = fs.existsSync(`${hostRoot}/usr/bin/bash`) ? '/bin/bash' : '/bin/sh';
  entries.push(
    file('etc/passwd', `root:x:0:0:root:/root:${shell}\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`),
    file('etc/group', 'root:x:0:\nnogroup:x:65534:\n'),
    file('etc/hosts', '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'),
    // glibc reads this to know where users and host names come from: files only, no daemons.
    file('etc/nsswitch.conf', 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n'),
    dir('usr'), // the mount point for the host's /usr
    dir('opt/box'), // the mount point for box itself
    dir('dev'), dir('proc'), dir('sys'), dir('home'), dir('var'), dir('run'),
    dir('root', 0o700),
    dir('tmp', 0o1777),
    dir('var/tmp', 0o1777), // podman's storage makes its temporary files there
  );
  return { tar: reproducibleTar(entries), shell, hostBinds };
}

/** Build `lab:latest` into the store at `root`. */
export function buildLabImage(root: string, opts: { trace?: Trace } = {}): { id: string; manifestDigest: string } {
  const { tar, shell, hostBinds } = labLayer();
  const layer = importLayerTar(root, tar, { unpack: true, trace: opts.trace });
  opts.trace?.record({ kind: 'note', text: `built ${LAB_REF} (host binds: ${hostBinds.join(',')})` });
  return writeImage(root, {
    ref: LAB_REF,
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/box/runtime/bin'],
      Cmd: shell === '/bin/bash' ? ['/bin/bash', '-l'] : ['/bin/sh'],
      Labels: { [HOST_BINDS_LABEL]: hostBinds.join(',') },
    },
    layers: [layer],
    created: BUILT_IN_CREATED,
    history: [{ created: BUILT_IN_CREATED, created_by: 'box: lab sandbox skeleton; the host\'s /usr is mounted at /usr' }],
  });
}
