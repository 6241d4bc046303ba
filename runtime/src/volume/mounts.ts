// At `box run`: turn the mount requests into what the rootfs code mounts (host directories
// to bind, tmpfs mounts) and what `box inspect` shows (Docker's Mounts). Volumes named for
// the first time are created here; an empty one is filled from the image on its first mount.

import fs from 'node:fs';
import { MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY } from '../sys/constants.ts';
import { UserError } from '../sys/errors.ts';
import type { Volume } from '../rootfs/rootfs.ts';
import { resolveInImage } from '../rootfs/rootfs.ts';
import { fillFromImage } from './prefill.ts';
import { checkDuplicates, type MountRecord, type MountRequest } from './spec.ts';
import { anonymousName, createVolume, dataDir, getVolume, markFilled, removeVolume, withVolumeLock } from './store.ts';

export interface PreparedMounts {
  /** Host directories (binds and volumes' _data) onto container paths, parents before children. */
  binds: Volume[];
  tmpfs: { path: string; options: string; flags: number }[];
  records: MountRecord[];
  /** Anonymous volumes this start made: removed again if the start fails. */
  anonymous: string[];
}

export interface ImageView {
  /** The image's layers as this container sees them (shifted for a user namespace), lowest first. */
  lowerDirs: string[];
  upperDir: string;
}

/**
 * `owner`: with --userns, the uid that root inside is on the host. A volume mounted for the
 * first time by such a container is given to it, or its root could not write there.
 * `record`: called with the mounts before the volumes' lock is let go (when there are
 * volumes), so that the container's state names them before a `box volume rm` can look.
 */
export function prepareMounts(requests: MountRequest[], image: ImageView, scratch: string, owner: number | null,
  record: (records: MountRecord[]) => void): PreparedMounts {
  checkDuplicates(requests);
  for (const r of requests) {
    if (r.type === 'bind' && !fs.existsSync(r.source)) {
      throw new UserError(`-v ${r.source}:${r.target}: ${r.source} does not exist on the host; create it first`);
    }
  }
  const out: PreparedMounts = { binds: [], tmpfs: [], records: [], anonymous: [] };
  const add = () => {
    try {
      addMounts(requests, out, image, scratch, owner);
    } catch (err) {
      removeUnused(out.anonymous, () => []); // made for this start only
      throw err;
    }
  };
  // Most runs have no volume: they need neither the lock, nor $BOX_ROOT/volumes, nor a record now.
  if (requests.some((r) => r.type === 'volume')) {
    withVolumeLock(() => {
      add();
      record(out.records);
    });
  } else add();
  // /a before /a/b: a mount on a parent would hide one made below it earlier.
  const depth = (p: string) => p.split('/').filter(Boolean).length;
  out.binds.sort((a, b) => depth(a.container) - depth(b.container));
  return out;
}

function addMounts(requests: MountRequest[], out: PreparedMounts, image: ImageView, scratch: string, owner: number | null): void {
  for (const r of requests) {
    if (r.type === 'bind') {
      out.binds.push({ host: r.source, container: r.target, readOnly: r.readOnly });
      out.records.push({ Type: 'bind', Source: r.source, Destination: r.target, Mode: '', RW: !r.readOnly, Propagation: 'rprivate' });
    } else if (r.type === 'volume') {
      const name = r.source || anonymousName();
      if (!getVolume(name)) {
        createVolume(name, { anonymous: !r.source });
        if (!r.source) out.anonymous.push(name);
      }
      if (!getVolume(name)!.Filled && !r.noCopy) firstMount(name, r.target, image, scratch, owner);
      out.binds.push({ host: dataDir(name), container: r.target, readOnly: r.readOnly });
      out.records.push({
        Type: 'volume', Name: name, Source: dataDir(name), Destination: r.target, Driver: 'local', Mode: '', RW: !r.readOnly, Propagation: '',
      });
    } else {
      const options = [r.sizeBytes ? `size=${r.sizeBytes}` : '', `mode=${(r.mode ?? 0o1777).toString(8)}`].filter(Boolean).join(',');
      // As Docker's --tmpfs: no setuid programs, no device nodes, nothing executed from it.
      out.tmpfs.push({ path: r.target, options, flags: MS_NOSUID | MS_NODEV | MS_NOEXEC | (r.readOnly ? MS_RDONLY : 0) });
      out.records.push({ Type: 'tmpfs', Source: '', Destination: r.target, Mode: options, RW: !r.readOnly, Propagation: '' });
    }
  }
}

/** An empty volume's first mount: the image's content at the mount point, then never again. */
function firstMount(name: string, target: string, image: ImageView, scratch: string, owner: number | null): void {
  const data = dataDir(name);
  if (fs.readdirSync(data).length === 0) {
    fillFromImage(image.lowerDirs, resolveInImage(image, target), data, scratch);
    // Nothing in the image there: the volume's root still belongs to the host's root.
    if (owner !== null && fs.statSync(data).uid === 0) fs.chownSync(data, owner, owner);
  }
  markFilled(name);
}

/** The volumes among a container's mounts that were made for it alone (`-v /path`). */
export function anonymousVolumes(records: MountRecord[] | undefined): string[] {
  return (records ?? []).filter((r) => r.Type === 'volume' && r.Name && getVolume(r.Name)?.Anonymous).map((r) => r.Name!);
}

/**
 * Remove these volumes, each unless a container still uses it (an anonymous volume shared with
 * --volumes-from stays while the other container is there: Docker's `rm -v` does the same).
 */
export function removeUnused(names: string[], usedBy: (name: string) => string[]): void {
  for (const name of names) {
    try {
      removeVolume(name, usedBy);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
    }
  }
}
