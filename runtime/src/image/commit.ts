// `box commit`: a container's overlay upper directory becomes a new layer on top of its image.
//
// The upper directory already is a layer, in overlayfs's dialect; the OCI layer format
// (image-spec "layer.md") says the same things another way, so the tar is a translation:
//   whiteout (char device 0/0) `etc/group`      -> empty file `etc/.wh.group`
//   opaque directory (trusted.overlay.opaque=y) -> the directory, then `etc/.wh..wh..opq`
// Entries go in a fixed order (a directory, its markers, then its entries by name), so the
// same upper directory always gives the same tar; the spec asks for whiteouts before their
// siblings, so a reader that applies entries in order never hides what this layer adds.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import { isOpaque, isWhiteout } from './changes.ts';
import { readCatalog } from './catalog.ts';
import { shortDigest } from './digest.ts';
import { writeImage } from './images.ts';
import { normalizeRef } from './ref.ts';
import { importLayerTar, MAX_LAYER_BYTES, type LayerRecord } from './layers.ts';
import { lgetxattr, llistxattr } from './native.ts';
import type { HistoryEntry, ImageConfig, OciImageConfig } from './store.ts';
import { writeTar, type TarWriteEntry } from './tar-write.ts';
// The xattrs a layer may carry, the same list the unpacker keeps: file capabilities
// (ping's cap_net_raw) and user.*, never overlayfs's own bookkeeping.
import { KEPT_XATTRS, symlinkStaysInside } from './unpack.ts';


/** A user namespace's root is `shift` on the host; its files are stored as the ids inside. */
const NOBODY = 65534;
const RANGE = 65536;

export interface UpperLayerOptions {
  /** Owners in the upper directory are this much above the ids inside (a --userns container); 0 otherwise. */
  idShift?: number;
  /** Told about each entry that cannot go into a layer (a device node, a FIFO, a socket). */
  warn?: (message: string) => void;
}

/** The entries of the layer an upper directory makes, in order. */
export function upperLayerEntries(upperDir: string, opts: UpperLayerOptions = {}): TarWriteEntry[] {
  const shift = opts.idShift ?? 0;
  const owner = (id: number) => (shift === 0 ? id : id >= shift && id < shift + RANGE ? id - shift : NOBODY);
  const entries: TarWriteEntry[] = [];
  const firstLink = new Map<string, string>(); // "dev:ino" -> archive name, for hard links
  let bytes = 0;

  const meta = (st: fs.Stats) => ({
    mode: st.mode & 0o7777,
    uid: owner(st.uid),
    gid: owner(st.gid),
    mtime: Math.floor(st.mtimeMs / 1000),
  });

  const walk = (rel: string) => {
    const full = path.join(upperDir, rel);
    const names = fs.readdirSync(full).sort();
    const stats = new Map(names.map((n) => [n, fs.lstatSync(path.join(full, n))]));
    const inside = (name: string) => (rel === '' ? name : `${rel}/${name}`);
    if (rel !== '' && isOpaque(full)) {
      entries.push({ name: `${rel}/.wh..wh..opq`, type: 'file', mode: 0o644, data: '' });
    }
    for (const name of names) {
      const st = stats.get(name)!;
      if (isWhiteout(st)) entries.push({ name: inside(`.wh.${name}`), type: 'file', ...meta(st), mode: 0o644, data: '' });
    }
    for (const name of names) {
      const st = stats.get(name)!;
      const p = inside(name);
      const file = path.join(full, name);
      if (isWhiteout(st)) continue;
      const xattrs = keptXattrs(file);
      if (st.isDirectory()) {
        entries.push({ name: p, type: 'dir', ...meta(st), ...xattrs });
        walk(p);
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? firstLink.get(key) : undefined;
        if (first) {
          entries.push({ name: p, type: 'hardlink', linkname: first, ...meta(st) });
          continue;
        }
        if (st.nlink > 1) firstLink.set(key, p);
        bytes += st.size;
        if (bytes > MAX_LAYER_BYTES) {
          throw new UserError(`the container changed more than ${MAX_LAYER_BYTES / 1024 ** 3} GiB of files, more than box puts in one layer`);
        }
        entries.push({ name: p, type: 'file', data: fs.readFileSync(file), ...meta(st), ...xattrs });
      } else if (st.isSymbolicLink()) {
        const target = fs.readlinkSync(file);
        if (!symlinkStaysInside(p.split('/'), target)) {
          throw new UserError(`cannot commit: /${p} is a symlink to '${target}', which climbs above the root, and box ` +
            `refuses such links in layers; point it at an absolute path instead (ln -sfn /the/target /${p})`);
        }
        entries.push({ name: p, type: 'symlink', linkname: target, ...meta(st), ...xattrs });
      } else {
        const what = st.isCharacterDevice() || st.isBlockDevice() ? 'a device node' : st.isFIFO() ? 'a FIFO' : 'a socket';
        opts.warn?.(`left out /${p}: it is ${what}, and image layers carry none (a container's /dev comes from the runtime)`);
      }
    }
  };
  walk('');
  return entries;
}

function keptXattrs(file: string): { xattrs?: Record<string, Buffer> } {
  const names = llistxattr(file).filter((n) => KEPT_XATTRS.test(n));
  if (!names.length) return {};
  const xattrs: Record<string, Buffer> = {};
  for (const n of names) {
    const v = lgetxattr(file, n);
    if (v) xattrs[n] = Buffer.from(v);
  }
  return { xattrs };
}

/** The layer tar of an upper directory. */
export function upperToLayer(upperDir: string, opts: UpperLayerOptions = {}): Buffer {
  return writeTar(upperLayerEntries(upperDir, opts));
}

/** How the container ran: what its config records, as the CLI read it from state.json. */
export interface ContainerRun {
  /** The command given after the image name (empty: the image's Cmd was used). */
  command: string[];
  entrypoint?: string[];
  /** The process's whole environment, as box built it. */
  env: string[];
  workdir?: string;
  user?: string;
}

/** Variables box sets for every container; they belong in an image only if its image had them. */
const RUNTIME_ENV = ['HOSTNAME', 'HOME', 'TERM'];

/**
 * The config of a committed image, as Docker makes it: the base image's config with the
 * container's command (so `box run NEW` does again what the container did, unless -c CMD
 * says otherwise), its environment, working directory and user.
 */
export function commitConfig(base: ImageConfig, run: ContainerRun): ImageConfig {
  const env = new Map((base.Env ?? []).map((kv) => split(kv)));
  for (const kv of run.env) {
    const [k, v] = split(kv);
    if (RUNTIME_ENV.includes(k) && !env.has(k)) continue;
    env.set(k, v);
  }
  const config: ImageConfig = { ...base };
  if (env.size) config.Env = [...env].map(([k, v]) => `${k}=${v}`);
  if (run.command.length) config.Cmd = run.command;
  if (run.entrypoint) config.Entrypoint = run.entrypoint;
  if (run.workdir && (run.workdir !== '/' || base.WorkingDir)) config.WorkingDir = run.workdir;
  if (run.user) config.User = run.user;
  return config;
}

function split(kv: string): [string, string] {
  const eq = kv.indexOf('=');
  return eq < 0 ? [kv, ''] : [kv.slice(0, eq), kv.slice(eq + 1)];
}

/**
 * `-c 'INSTRUCTION ARGS'`: the Dockerfile instructions that change only the config, as
 * `docker commit --change` takes them: CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE.
 */
export function applyChange(config: ImageConfig, change: string): ImageConfig {
  const m = /^\s*([A-Za-z]+)\s+(.*\S)\s*$/s.exec(change);
  const refuse = (why: string) => new UserError(`-c '${change}': ${why}`);
  if (!m) throw refuse('give an instruction and its arguments, e.g. -c \'CMD ["sh"]\'');
  const [, word, args] = m;
  const out: ImageConfig = { ...config };
  switch (word.toUpperCase()) {
    case 'CMD':
      out.Cmd = commandForm(args, refuse);
      return out;
    case 'ENTRYPOINT':
      out.Entrypoint = commandForm(args, refuse);
      return out;
    case 'ENV': {
      const env = new Map((config.Env ?? []).map((kv) => split(kv)));
      for (const [k, v] of keyValues(args, refuse)) env.set(k, v);
      out.Env = [...env].map(([k, v]) => `${k}=${v}`);
      return out;
    }
    case 'LABEL':
      out.Labels = { ...config.Labels, ...Object.fromEntries(keyValues(args, refuse)) };
      return out;
    case 'WORKDIR':
      if (!args.startsWith('/')) throw refuse('WORKDIR needs an absolute path');
      out.WorkingDir = args;
      return out;
    case 'USER':
      out.User = args;
      return out;
    case 'EXPOSE': {
      const ports: Record<string, object> = { ...config.ExposedPorts };
      for (const p of args.split(/\s+/)) {
        if (!/^\d{1,5}(\/(tcp|udp|sctp))?$/.test(p)) throw refuse(`'${p}' is not a port; use EXPOSE 80 or EXPOSE 53/udp`);
        ports[p.includes('/') ? p : `${p}/tcp`] = {};
      }
      out.ExposedPorts = ports;
      return out;
    }
    default:
      throw refuse(`${word.toUpperCase()} cannot be applied by commit; use CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL or EXPOSE`);
  }
}

/** `["sh", "-c", "x"]` (exec form) or `echo hi` (shell form: run by /bin/sh -c). */
function commandForm(args: string, refuse: (why: string) => UserError): string[] {
  if (args.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(args);
    } catch {
      throw refuse('the exec form is a JSON array of strings, e.g. ["sh", "-c", "echo hi"]');
    }
    if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw refuse('the exec form is a JSON array of strings');
    return parsed;
  }
  return ['/bin/sh', '-c', args];
}

/** `K=V K2="a b"`, or the old form `K V` (one pair, the rest of the line is the value). */
function keyValues(args: string, refuse: (why: string) => UserError): [string, string][] {
  if (!/^[^\s=]+=/.test(args)) {
    const m = /^(\S+)\s+(.*)$/s.exec(args);
    if (!m) throw refuse('give NAME=value');
    return [[m[1], m[2]]];
  }
  const pairs: [string, string][] = [];
  const re = /\s*([^\s=]+)=("((?:[^"\\]|\\.)*)"|\S*)/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(args))) {
    pairs.push([m[1], m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[2]]);
    end = re.lastIndex;
  }
  if (args.slice(end).trim()) throw refuse(`cannot read '${args.slice(end).trim()}'; give NAME=value pairs`);
  return pairs;
}

/**
 * An image's history with one entry per layer-making step: a base image made by a tool that
 * wrote less gets an empty entry per undescribed layer, so that an entry added next matches
 * the layer added next (commit, build).
 */
export function historyCoveringLayers(config: OciImageConfig): HistoryEntry[] {
  const history = [...(config.history ?? [])];
  const described = history.filter((h) => !h.empty_layer).length;
  for (let i = described; i < config.rootfs.diff_ids.length; i++) history.push({ ...(config.created ? { created: config.created } : {}) });
  return history;
}

export interface CommitOptions {
  upperDir: string;
  /** The id (config digest) of the image the container was made from. */
  baseImageId: string;
  /** The new image's tag; none makes an untagged image, as `docker commit CONTAINER` does. */
  ref?: string;
  run: ContainerRun;
  /** What the history says made the layer: the container's command. */
  createdBy: string;
  comment?: string;
  author?: string;
  changes?: string[];
  idShift?: number;
  warn?: (message: string) => void;
}

/** Make the image; returns its id. The layer is unpacked right away, so the image runs at once. */
export function commitContainer(root: string, opts: CommitOptions): { id: string; manifestDigest: string; layer: LayerRecord } {
  if (opts.ref !== undefined && normalizeRef(opts.ref).digest) throw new UserError(`'${opts.ref}' has a digest; name the new image NAME[:TAG]`);
  const base = readCatalog(root).images.find((i) => i.id === opts.baseImageId);
  if (!base) {
    throw new UserError(`the image the container was made from (${shortDigest(opts.baseImageId)}) is no longer in the store, ` +
      'and commit builds on its layers; run a new container from an image you have');
  }
  let config = commitConfig(base.config.config ?? {}, opts.run);
  for (const change of opts.changes ?? []) config = applyChange(config, change);

  const tar = upperToLayer(opts.upperDir, { idShift: opts.idShift, warn: opts.warn });
  const layer = importLayerTar(root, tar, { unpack: true });
  const created = new Date().toISOString();
  const baseLayers = base.manifest.layers.map((descriptor, i) => ({ descriptor, diffId: base.config.rootfs.diff_ids[i] }));
  const history: HistoryEntry[] = [
    ...historyCoveringLayers(base.config),
    { created, created_by: opts.createdBy, ...(opts.comment ? { comment: opts.comment } : {}) },
  ];
  const written = writeImage(root, {
    ...(opts.ref !== undefined ? { ref: opts.ref } : {}),
    config,
    layers: [...baseLayers, layer],
    created,
    ...(opts.author ? { author: opts.author } : {}),
    history,
  });
  return { ...written, layer };
}
