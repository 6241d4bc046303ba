// `box build`: a Boxfile's instructions, one step at a time, each turning the image so far
// into the next one.
//
//   FROM        the image to start from (one in the store, or `scratch`: nothing at all)
//   RUN         a layer: what a command changed, run in a container on the image so far
//   COPY, ADD   a layer: files of the build context
//   WORKDIR     a setting, and a layer with the directory if the image lacks it
//   ENV, LABEL, EXPOSE, USER, CMD, ENTRYPOINT, STOPSIGNAL, MAINTAINER, HEALTHCHECK: settings only
//   ARG         a variable for the steps after it, set with --build-arg
//
// Every step's result is an image of its own (a config and a manifest, kept out of
// index.json) recorded in the build cache under a key of what the step depends on, so a
// step whose key is there is not run again (cache.ts). Nothing is tagged until the last step
// is done: a failed or interrupted build leaves the tags as they were, and new blobs are
// written under temporary names and renamed into place (store.ts), as every writer does.

import fs from 'node:fs';
import path from 'node:path';
import { NotFoundError, UserError } from '../sys/errors.ts';
import type { Sys } from '../sys/sys.ts';
import { findImage } from '../image/catalog.ts';
import { historyCoveringLayers } from '../image/commit.ts';
import { shortDigest } from '../image/digest.ts';
import { readImage, writeImageBlobs } from '../image/images.ts';
import { ensureLayerUnpacked, importLayerTar, type LayerRecord } from '../image/layers.ts';
import { normalizeRef } from '../image/ref.ts';
import { pinImage } from '../image/resolve.ts';
import { addUntagged, setTags, type Descriptor, type HistoryEntry, type ImageConfig } from '../image/store.ts';
import { writeTar, type TarWriteEntry } from '../image/tar-write.ts';
import { cacheKey, lookupCache, storeCache, type KeyParts } from './cache.ts';
import { readContext, type BuildContext } from './context.ts';
import { directoryEntries, planCopy } from './copy.ts';
import { expand, keyValues, parseBoxfile, words, type Instruction } from './parse.ts';
import { runInContainer } from './run-step.ts';
import { parseGoDuration, type Healthcheck } from '../image/healthcheck.ts';

/**
 * HEALTHCHECK [--interval=D] [--timeout=D] [--start-period=D] [--retries=N] CMD command, or
 * HEALTHCHECK NONE: stored as Docker stores it, Healthcheck {Test, Interval, ...} in ns.
 */
export function healthcheckInstruction(ins: Instruction): Healthcheck {
  const m = /^(NONE|CMD)(?:\s+(.*))?$/is.exec(ins.args.trim());
  if (!m) throw new UserError('write HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE');
  if (m[1].toUpperCase() === 'NONE') {
    if (m[2] || Object.keys(ins.flags).length) throw new UserError('HEALTHCHECK NONE takes no options or arguments');
    return { Test: ['NONE'] };
  }
  const cmd = (m[2] ?? '').trim();
  if (!cmd) throw new UserError('HEALTHCHECK CMD needs a command, e.g. HEALTHCHECK CMD wget -q -O- localhost');
  let json: unknown;
  try {
    json = cmd.startsWith('[') ? JSON.parse(cmd) : undefined;
  } catch {
    /* the shell form, as Docker falls back */
  }
  const exec = Array.isArray(json) && json.every((w) => typeof w === 'string') ? json as string[] : undefined;
  const hc: Healthcheck = { Test: exec ? ['CMD', ...exec] : ['CMD-SHELL', cmd] };
  for (const [flag, key] of [['interval', 'Interval'], ['timeout', 'Timeout'], ['start-period', 'StartPeriod']] as const) {
    if (ins.flags[flag] !== undefined) hc[key] = parseGoDuration(ins.flags[flag], `--${flag}`);
  }
  if (ins.flags.retries !== undefined) {
    if (!/^\d+$/.test(ins.flags.retries)) throw new UserError(`--retries '${ins.flags.retries}': give a whole number, e.g. --retries=3`);
    hc.Retries = Number(ins.flags.retries);
  }
  return hc;
}

export interface BuildOptions {
  root: string;
  /** The build context: the directory whose files COPY and ADD see. */
  contextDir: string;
  /** The Boxfile; default DIR/Boxfile, else DIR/Dockerfile. */
  file?: string;
  /** name:tag for the result; none leaves it untagged. */
  tags: string[];
  /** --build-arg NAME=value. */
  buildArgs: Map<string, string>;
  noCache: boolean;
  sys: Sys;
  /** A line of progress: `Step 2/5 : RUN make`, ` ---> CACHED 3f57d9401f8d`. */
  progress: (line: string) => void;
  warn: (message: string) => void;
}

export interface BuildResult {
  id: string;
  manifest: Descriptor;
  /** Per step: ran, came from the cache, or only set a variable (ARG, FROM). */
  steps: ('ran' | 'cached' | 'none')[];
}

/** The image so far. */
interface Image {
  /** Its id (config digest), or 'scratch' before anything exists. */
  id: string;
  manifest?: Descriptor;
  config: ImageConfig;
  layers: LayerRecord[];
  history: HistoryEntry[];
  created?: string;
  author?: string;
}

/** What a step does to the image, to be written (or found in the cache). */
interface Change {
  key: KeyParts;
  /** The history's words for it: `RUN /bin/sh -c make`, `ENV A=1`. */
  createdBy: string;
  /** Makes the layer, or returns none for a step that only changes settings. */
  layer?: () => Promise<LayerRecord>;
  config?: (config: ImageConfig) => ImageConfig;
  author?: string;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Where the Boxfile is: -f, else Boxfile, else Dockerfile in the context. */
export function findBoxfile(contextDir: string, file?: string): string {
  if (file !== undefined) {
    if (!fs.statSync(file, { throwIfNoEntry: false })?.isFile()) throw new NotFoundError(`-f ${file}: no such file; give the path of the Boxfile to build`);
    return file;
  }
  for (const name of ['Boxfile', 'Dockerfile']) {
    const p = path.join(contextDir, name);
    if (fs.statSync(p, { throwIfNoEntry: false })?.isFile()) return p;
  }
  throw new UserError(`no Boxfile (or Dockerfile) in ${contextDir}; write one there, or name it with -f FILE`);
}

export class Builder {
  private readonly opts: BuildOptions;
  private readonly fileLabel: string;
  private readonly instructions: Instruction[];
  private readonly escape: string;
  private ctx: BuildContext | undefined;
  /** ARG values in scope: before FROM the global ones, after it those declared again. */
  private args = new Map<string, string | undefined>();
  private globalArgs = new Map<string, string | undefined>();
  private usedArgs = new Set<string>();
  private cmdSetHere = false;
  private interrupted: string | undefined;
  private stopRunning: (() => void) | undefined;

  constructor(opts: BuildOptions) {
    this.opts = opts;
    const file = findBoxfile(opts.contextDir, opts.file);
    this.fileLabel = path.basename(file);
    const parsed = parseBoxfile(fs.readFileSync(file, 'utf8'), this.fileLabel);
    this.instructions = parsed.instructions;
    this.escape = parsed.escape;
    for (const tag of opts.tags) {
      if (normalizeRef(tag).digest) throw new UserError(`-t ${tag}: a tag cannot hold a digest; name the image NAME[:TAG]`);
    }
  }

  /** Stop the build: kill the running step's container, and run no further steps. */
  interrupt(signal: string): void {
    this.interrupted = signal;
    this.stopRunning?.();
  }

  async build(): Promise<BuildResult> {
    const { opts } = this;
    const total = this.instructions.length;
    const steps: BuildResult['steps'] = [];
    let image: Image | undefined;
    for (const [i, ins] of this.instructions.entries()) {
      this.checkInterrupt();
      opts.progress(`Step ${i + 1}/${total} : ${ins.keyword}${Object.entries(ins.flags).map(([k, v]) => ` --${k}=${v}`).join('')} ${ins.args}`);
      if (ins.keyword === 'ARG') {
        this.declareArgs(ins, image);
        steps.push('none');
        continue;
      }
      if (ins.keyword === 'FROM') {
        image = this.from(ins);
        opts.progress(` ---> ${shortDigest(image.id)}`);
        steps.push('none');
        continue;
      }
      const change = this.change(ins, image!);
      const result = await this.apply(image!, change, ins);
      image = result.image;
      steps.push(result.cached ? 'cached' : 'ran');
      opts.progress(result.cached ? ` ---> CACHED ${shortDigest(image.id)}` : ` ---> ${shortDigest(image.id)}`);
    }
    this.checkInterrupt();
    const unused = [...opts.buildArgs.keys()].filter((k) => !this.usedArgs.has(k));
    if (unused.length) opts.warn(`build arguments not declared by any ARG, so not used: ${unused.join(', ')}`);
    const final = image!;
    const manifest = final.manifest ?? this.write(final).manifest!;
    // The moment the build becomes visible: every tag at once, in one rewrite of index.json.
    if (opts.tags.length) setTags(opts.root, opts.tags.map((t) => ({ canonical: normalizeRef(t).canonical, manifest })));
    else addUntagged(opts.root, manifest);
    return { id: final.id, manifest, steps };
  }

  private checkInterrupt(): void {
    if (this.interrupted) {
      throw new UserError(`build interrupted (${this.interrupted}); no tag was changed, and the steps already done stay in the build cache`);
    }
  }

  private fail(ins: Instruction, message: string): UserError {
    return new UserError(`${this.fileLabel} line ${ins.line}: ${ins.keyword}: ${message}`);
  }

  /** The variables an instruction's arguments may use: ARGs in scope, then the image's ENV over them. */
  private vars(image: Image | undefined): Map<string, string> {
    const vars = new Map<string, string>();
    for (const [k, v] of this.args) if (v !== undefined) vars.set(k, v);
    for (const kv of image?.config.Env ?? []) {
      const eq = kv.indexOf('=');
      if (eq > 0) vars.set(kv.slice(0, eq), kv.slice(eq + 1));
    }
    return vars;
  }

  private declareArgs(ins: Instruction, image: Image | undefined): void {
    const beforeFrom = image === undefined;
    for (const [name, dflt] of this.words(ins, () => keyValues(ins.args, this.vars(image), { escape: this.escape, valueOptional: true }))) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw this.fail(ins, `'${name}' is not a variable name`);
      // A global ARG is visible after FROM only when declared again, and then keeps its value.
      const value = this.opts.buildArgs.get(name) ?? dflt ?? (beforeFrom ? undefined : this.globalArgs.get(name));
      if (this.opts.buildArgs.has(name)) this.usedArgs.add(name);
      this.args.set(name, value);
      if (beforeFrom) this.globalArgs.set(name, value);
    }
  }

  private words<T>(ins: Instruction, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof UserError) throw this.fail(ins, err.message);
      throw err;
    }
  }

  // ---- FROM --------------------------------------------------------------------------------

  private from(ins: Instruction): Image {
    const [ref, as, stage, ...rest] = this.words(ins, () => words(ins.args, this.vars(undefined), this.escape));
    if (rest.length || (as !== undefined && (as.toUpperCase() !== 'AS' || !stage))) throw this.fail(ins, 'write FROM IMAGE[:TAG] [AS NAME]');
    this.args = new Map(); // ARGs before FROM are for FROM only
    if (ref === 'scratch') return { id: 'scratch', config: {}, layers: [], history: [] };
    let found;
    try {
      found = findImage(this.opts.root, ref, { builtIn: true }).image;
    } catch (err) {
      if (err instanceof UserError) throw this.fail(ins, `${err.message} (box build does not pull; box pull it first)`);
      throw err;
    }
    const { config, manifest, id } = found;
    return {
      id,
      manifest: found.entry,
      config: config.config ?? {},
      layers: manifest.layers.map((descriptor, i) => ({ descriptor, diffId: config.rootfs.diff_ids[i] })),
      history: historyCoveringLayers(config),
      ...(config.created ? { created: config.created } : {}),
      ...(config.author ? { author: config.author } : {}),
    };
  }

  // ---- what each instruction changes ---------------------------------------------------------

  private change(ins: Instruction, image: Image): Change {
    const vars = this.vars(image);
    const expanded = () => this.words(ins, () => words(ins.args, vars, this.escape));
    const single = () => this.words(ins, () => expand(ins.args, vars, this.escape).trim());
    const settings = (instruction: string, config: (c: ImageConfig) => ImageConfig, extra: Partial<Change> = {}): Change =>
      ({ key: { parent: image.id, instruction }, createdBy: instruction, config, ...extra });

    switch (ins.keyword) {
      case 'RUN':
        return this.run(ins, image);
      case 'COPY':
      case 'ADD':
        return this.copy(ins, image, vars);
      case 'ENV': {
        const pairs = this.words(ins, () => keyValues(ins.args, vars, { escape: this.escape, allowOldForm: true })) as [string, string][];
        const text = `ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`;
        return settings(text, (c) => {
          const env = new Map((c.Env ?? [`PATH=${DEFAULT_PATH}`]).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
          for (const [k, v] of pairs) env.set(k, v);
          return { ...c, Env: [...env].map(([k, v]) => `${k}=${v}`) };
        });
      }
      case 'LABEL': {
        const pairs = this.words(ins, () => keyValues(ins.args, vars, { escape: this.escape, allowOldForm: true })) as [string, string][];
        return settings(`LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, (c) => ({ ...c, Labels: { ...c.Labels, ...Object.fromEntries(pairs) } }));
      }
      case 'EXPOSE': {
        const ports = expanded().map((p) => {
          if (!/^\d{1,5}(\/(tcp|udp|sctp))?$/i.test(p)) throw this.fail(ins, `'${p}' is not a port; write EXPOSE 80 or EXPOSE 53/udp`);
          return p.includes('/') ? p.toLowerCase() : `${p}/tcp`;
        });
        return settings(`EXPOSE ${ports.join(' ')}`, (c) => ({ ...c, ExposedPorts: { ...c.ExposedPorts, ...Object.fromEntries(ports.map((p) => [p, {}])) } }));
      }
      case 'USER': {
        const user = single();
        return settings(`USER ${user}`, (c) => ({ ...c, User: user }));
      }
      case 'STOPSIGNAL': {
        const signal = single();
        return settings(`STOPSIGNAL ${signal}`, (c) => ({ ...c, StopSignal: signal }));
      }
      case 'HEALTHCHECK': {
        const hc = this.words(ins, () => healthcheckInstruction(ins));
        return settings(`HEALTHCHECK ${JSON.stringify(hc)}`, (c) => ({ ...c, Healthcheck: hc }));
      }
      case 'MAINTAINER': {
        const author = single();
        return settings(`MAINTAINER ${author}`, (c) => c, { author });
      }
      case 'CMD':
      case 'ENTRYPOINT': {
        // Not expanded: the shell form's shell does that when the container starts.
        const argv = ins.json ?? ['/bin/sh', '-c', ins.args];
        const text = `${ins.keyword} ${JSON.stringify(argv)}`;
        if (ins.keyword === 'CMD') {
          this.cmdSetHere = true;
          return settings(text, (c) => ({ ...c, Cmd: argv }));
        }
        // As Docker: an ENTRYPOINT resets a CMD that came from the base image.
        const resetCmd = !this.cmdSetHere;
        return settings(text, (c) => {
          const { Cmd, ...rest } = c;
          return { ...rest, Entrypoint: argv, ...(resetCmd || !Cmd ? {} : { Cmd }) };
        });
      }
      case 'WORKDIR':
        return this.workdir(ins, image, single());
    }
    throw this.fail(ins, 'is not supported'); // parseBoxfile refuses what the switch lacks
  }

  private run(ins: Instruction, image: Image): Change {
    const command = ins.json ?? ['/bin/sh', '-c', ins.args];
    // ARGs reach the command as environment variables (under ENV's of the same name) and
    // belong in the key: the same command with another --build-arg is another step.
    const env = new Map<string, string>();
    for (const [k, v] of this.args) if (v !== undefined) env.set(k, v);
    for (const k of env.keys()) if (this.opts.buildArgs.has(k)) this.usedArgs.add(k);
    for (const kv of image.config.Env ?? []) env.delete(kv.slice(0, kv.indexOf('=')));
    const argEnv = [...env].map(([k, v]) => `${k}=${v}`).sort();
    const createdBy = ins.json ? `RUN ${JSON.stringify(command)}` : `RUN /bin/sh -c ${ins.args}`;
    return {
      key: { parent: image.id, instruction: `RUN ${JSON.stringify(command)}`, inputs: argEnv },
      createdBy,
      layer: async () => {
        this.checkInterrupt();
        const unpin = pinImage(image.id, this.imageManifest(image));
        try {
          const { code, layer } = await runInContainer(this.opts.sys, this.opts.root, {
            image: image.id,
            command,
            env: [...(image.config.Env ?? []), ...argEnv],
            workdir: image.config.WorkingDir || '/',
            ...(image.config.User ? { user: image.config.User } : {}),
            onStart: (name) => this.opts.progress(` ---> Running in ${name}`),
            onRunning: (running) => {
              this.stopRunning = running ? () => killQuietly(running.state.pid) : undefined;
              if (this.interrupted) this.stopRunning?.(); // the signal came while it started
            },
            warn: this.opts.warn,
          });
          this.checkInterrupt();
          if (code !== 0) {
            throw new UserError(`${this.fileLabel} line ${ins.line}: the command '${command.join(' ')}' returned a non-zero code: ${code}`, 'build-step-failed');
          }
          return layer!;
        } finally {
          unpin();
        }
      },
    };
  }

  private copy(ins: Instruction, image: Image, vars: Map<string, string>): Change {
    const all = ins.json ? ins.json.map((w) => expand(w, vars, this.escape)) : this.words(ins, () => words(ins.args, vars, this.escape));
    if (all.length < 2) throw this.fail(ins, `write ${ins.keyword} SOURCE... DESTINATION`);
    const dest = all[all.length - 1];
    const sources = all.slice(0, -1);
    const chown = ins.flags.chown !== undefined ? this.owner(ins, expand(ins.flags.chown, vars)) : undefined;
    let chmod: number | undefined;
    if (ins.flags.chmod !== undefined) {
      if (!/^[0-7]{3,4}$/.test(ins.flags.chmod)) throw this.fail(ins, `--chmod=${ins.flags.chmod}: give octal permissions, e.g. --chmod=755`);
      chmod = parseInt(ins.flags.chmod, 8);
    }
    this.ctx ??= readContext(this.opts.contextDir);
    const plan = planCopy({
      keyword: ins.keyword as 'COPY' | 'ADD',
      sources,
      dest,
      workdir: image.config.WorkingDir || '/',
      ...(chown ? { chown } : {}),
      ...(chmod !== undefined ? { chmod } : {}),
      ctx: this.ctx,
      lowerDirs: this.layerDirs(image),
      now: Math.floor(Date.now() / 1000),
      fail: (m) => this.fail(ins, m),
      warn: this.opts.warn,
    });
    const flags = Object.entries(ins.flags).map(([k, v]) => `--${k}=${v} `).join('');
    const text = `${ins.keyword} ${flags}${sources.join(' ')} ${dest}`;
    return {
      key: { parent: image.id, instruction: `${ins.keyword} ${flags}${JSON.stringify(all)}`, inputs: [plan.digest] },
      createdBy: text,
      layer: async () => layerOf(this.opts.root, plan.entries),
    };
  }

  /** --chown=UID[:GID]: numbers only (names would need the image's /etc/passwd). */
  private owner(ins: Instruction, spec: string): { uid: number; gid: number } {
    const m = /^(\d+)(?::(\d+))?$/.exec(spec);
    if (!m) throw this.fail(ins, `--chown=${spec}: give numeric ids, UID or UID:GID (box does not look names up in the image)`);
    return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
  }

  private workdir(ins: Instruction, image: Image, dir: string): Change {
    if (dir === '') throw this.fail(ins, 'give a directory');
    const abs = path.posix.resolve(image.config.WorkingDir || '/', dir);
    // RUN and the container start in this directory: the image must have it.
    const entries = directoryEntries(abs, this.layerDirs(image), Math.floor(Date.now() / 1000));
    return {
      key: { parent: image.id, instruction: `WORKDIR ${abs}` },
      createdBy: `WORKDIR ${abs}`,
      ...(entries ? { layer: async () => layerOf(this.opts.root, entries) } : {}),
      config: (c) => ({ ...c, WorkingDir: abs }),
    };
  }

  // ---- applying a change: from the cache, or by doing it -------------------------------------

  private async apply(image: Image, change: Change, ins: Instruction): Promise<{ image: Image; cached: boolean }> {
    const key = cacheKey(change.key);
    const hit = this.opts.noCache ? undefined : lookupCache(this.opts.root, key);
    if (hit) {
      const found = findCachedImage(this.opts.root, hit.manifest);
      if (found) return { image: found, cached: true };
    }
    const created = new Date().toISOString();
    const layer = change.layer ? await change.layer() : undefined;
    const next: Image = {
      id: '',
      config: change.config ? change.config(image.config) : image.config,
      layers: layer ? [...image.layers, layer] : image.layers,
      history: [...image.history, { created, created_by: change.createdBy, ...(layer ? {} : { empty_layer: true }) }],
      created,
      ...(change.author ?? image.author ? { author: change.author ?? image.author } : {}),
    };
    const written = this.write(next);
    storeCache(this.opts.root, { key, step: `${this.fileLabel}:${ins.line} ${change.createdBy}`, parent: image.id, manifest: written.manifest!, id: written.id, created });
    return { image: written, cached: false };
  }

  private write(image: Image): Image {
    const { id, manifest } = writeImageBlobs(this.opts.root, {
      config: image.config,
      layers: image.layers,
      history: image.history,
      ...(image.created ? { created: image.created } : {}),
      ...(image.author ? { author: image.author } : {}),
    });
    return { ...image, id, manifest };
  }

  private imageManifest(image: Image): Descriptor {
    return image.manifest ?? this.write(image).manifest!;
  }

  /** The image's layers unpacked, lowest first (they usually are already). */
  private layerDirs(image: Image): string[] {
    return image.layers.map((l) => ensureLayerUnpacked(this.opts.root, l, { trace: this.opts.sys.trace }));
  }
}

function layerOf(root: string, entries: TarWriteEntry[]): LayerRecord {
  return importLayerTar(root, writeTar(entries), { unpack: true });
}

/** The image a cache entry names, read back from its config. */
function findCachedImage(root: string, manifest: Descriptor): Image | undefined {
  try {
    const { config, configDescriptor, manifest: m } = readImage(root, manifest, manifest.digest);
    return {
      id: configDescriptor.digest,
      manifest,
      config: config.config ?? {},
      layers: m.layers.map((descriptor, i) => ({ descriptor, diffId: config.rootfs.diff_ids[i] })),
      history: config.history ?? [],
      ...(config.created ? { created: config.created } : {}),
      ...(config.author ? { author: config.author } : {}),
    };
  } catch (err) {
    if (err instanceof UserError) return undefined; // damaged: run the step again
    throw err;
  }
}

function killQuietly(pid: number | null): void {
  try {
    if (pid) process.kill(pid, 'SIGKILL');
  } catch {
    /* gone already */
  }
}
