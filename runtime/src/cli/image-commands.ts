// The image commands: images, tag, rmi, history, image (ls, rm, prune, inspect, ...), diff,
// commit, save, load. Parsing and printing only; the work is in image/.

import fs from 'node:fs';
import path from 'node:path';
// Not process.stdin/stdout: making those streams puts a pipe in non-blocking mode.
import { isatty } from 'node:tty';
import { containerDir, listIds, lookup, readState, type ContainerState } from '../container/state.ts';
import { readCatalog, findImage, type Catalog, type StoredImage } from '../image/catalog.ts';
import { containerChanges } from '../image/changes.ts';
import { commitContainer, type ContainerRun } from '../image/commit.ts';
import { historyRows, inspectView } from '../image/describe.ts';
import { shortDigest } from '../image/digest.ts';
import { ensureLayerUnpacked, layerDir } from '../image/layers.ts';
import { loadArchive, MAX_ARCHIVE_BYTES } from '../image/load.ts';
import { boxRoot } from '../image/paths.ts';
import { normalizeRef } from '../image/ref.ts';
import { pruneImages, removeImage, type Removal } from '../image/remove.ts';
import { saveImages } from '../image/save.ts';
import { layerSize } from '../image/sizes.ts';
import { tagImage } from '../image/tag.ts';
import { isNotFound, NotFoundError, UserError } from '../sys/errors.ts';
import type { Trace } from '../sys/trace.ts';
import { helpText, parseArgs, type OptionSpec } from '../container/args.ts';
import { ago, formatTable, formatTemplate, humanSize, truncate } from './format.ts';
import { confirm, type ImageCommand } from './command.ts';

/** The shape of an entry of the COMMANDS table (cli/commands.ts). */

type Opts = Record<string, string | boolean | string[] | undefined>;

function command(usage: string, summary: string, options: OptionSpec[], fn: (opts: Opts, args: string[], trace: Trace) => number): ImageCommand {
  const name = usage.split(' ')[0];
  return {
    summary,
    help: () => helpText(`box ${usage}`, `${summary}.`, options),
    run: async (argv, trace) => {
      const { opts, positionals } = parseArgs(argv, options, name);
      return fn(opts, positionals, trace);
    },
  };
}

const out = (text: string) => process.stdout.write(text);

function imageId(id: string, full: boolean): string {
  return full ? id : shortDigest(id);
}

function splitTag(tag: string | undefined): [string, string] {
  if (!tag) return ['<none>', '<none>'];
  const colon = tag.lastIndexOf(':');
  return [tag.slice(0, colon), tag.slice(colon + 1)];
}

// ---- images -----------------------------------------------------------------------------

/**
 * The footer's arithmetic: each layer counted once however many images use it, and how much
 * of that more than one image uses. Layers are keyed by diff id (their content).
 */
export function layerTotals(images: { id: string; layers: { diffId: string; size: number }[] }[]): { images: number; total: number; shared: number } {
  const users = new Map<string, { size: number; ids: Set<string> }>();
  for (const image of images) {
    for (const l of image.layers) {
      const u = users.get(l.diffId) ?? { size: l.size, ids: new Set<string>() };
      u.ids.add(image.id);
      users.set(l.diffId, u);
    }
  }
  let total = 0;
  let shared = 0;
  for (const u of users.values()) {
    total += u.size;
    if (u.ids.size > 1) shared += u.size;
  }
  return { images: new Set(images.map((i) => i.id)).size, total, shared };
}

function listImagesCommand(opts: Opts, args: string[]): number {
  if (args.length > 1) throw new UserError("'box images' takes at most one REPOSITORY[:TAG] to filter by; usage: box images [OPTIONS] [REPOSITORY[:TAG]]");
  const root = boxRoot();
  const catalog = readCatalog(root);
  let images = catalog.images;
  if (args[0]) {
    const hasTag = args[0].lastIndexOf(':') > args[0].lastIndexOf('/');
    const r = normalizeRef(args[0]);
    images = images.filter((i) => i.tag && (hasTag ? i.tag === r.canonical : splitTag(i.tag)[0] === r.name));
  }
  for (const d of catalog.damaged) process.stderr.write(`box: warning: ${d.tag ?? d.entry.digest}: ${d.problem}\n`);
  const created = (i: StoredImage) => Date.parse(i.config.created ?? '') || 0;
  images = [...images].sort((a, b) => created(b) - created(a) || (a.tag ?? '\uffff').localeCompare(b.tag ?? '\uffff'));

  if (opts.quiet) {
    const ids = [...new Set(images.map((i) => imageId(i.id, Boolean(opts['no-trunc']))))];
    out(ids.map((id) => `${id}\n`).join(''));
    return 0;
  }
  const sizes = new Map<string, number>();
  const sizeOf = (l: { digest: string; mediaType: string; size: number }) => {
    if (!sizes.has(l.digest)) sizes.set(l.digest, layerSize(root, l));
    return sizes.get(l.digest)!;
  };
  const withLayers = images.map((i) => ({
    image: i,
    id: i.id,
    layers: i.manifest.layers.map((l, k) => ({ diffId: i.config.rootfs.diff_ids[k], size: sizeOf(l) })),
  }));
  const head = ['REPOSITORY', 'TAG', ...(opts.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'];
  const rows = withLayers.map(({ image, layers }) => {
    const [repo, tag] = splitTag(image.tag);
    return [
      repo, tag, ...(opts.digests ? [image.tag ? image.manifestDigest : '<none>'] : []),
      imageId(image.id, Boolean(opts['no-trunc'])), ago(image.config.created),
      humanSize(layers.reduce((n, l) => n + l.size, 0)),
    ];
  });
  out(formatTable(head, rows));
  const t = layerTotals(withLayers);
  out(`Total: ${t.images} image${t.images === 1 ? '' : 's'}, ${humanSize(t.total)} on disk (${humanSize(t.shared)} shared)\n`);
  return 0;
}

const IMAGES_OPTIONS: OptionSpec[] = [
  { name: 'all', short: 'a', help: 'accepted for docker compatibility: box keeps no intermediate images to hide' },
  { name: 'quiet', short: 'q', help: 'print image ids only' },
  { name: 'no-trunc', help: 'print whole image ids' },
  { name: 'digests', help: 'show manifest digests' },
];

// ---- tag, rmi, prune --------------------------------------------------------------------

function tagCommand(_opts: Opts, args: string[]): number {
  if (args.length !== 2) throw new UserError("'box tag' needs a source image and a new name; usage: box tag SOURCE[:TAG] TARGET[:TAG]");
  tagImage(boxRoot(), args[0], args[1]);
  return 0;
}

/** Names of the containers made from image `id`, whatever their state. */
function containersUsing(): (id: string) => string[] {
  const states = listIds().map(readState).filter((s): s is ContainerState => s !== null);
  return (id) => states.filter((s) => s.imageId === id).map((s) => s.name);
}

function printRemoval(r: Removal, lower = false): void {
  const [u, d] = lower ? ['untagged', 'deleted'] : ['Untagged', 'Deleted'];
  out([...r.untagged.map((t) => `${u}: ${t}\n`), ...r.deleted.map((x) => `${d}: ${x}\n`)].join(''));
}

function rmiCommand(opts: Opts, args: string[]): number {
  if (!args.length) throw new UserError("'box rmi' needs an image; usage: box rmi [-f] IMAGE...");
  const usedBy = containersUsing();
  let failed = 0;
  for (const ref of args) {
    try {
      printRemoval(removeImage(boxRoot(), ref, { force: Boolean(opts.force), usedBy }));
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      process.stderr.write(`box: ${err.message}\n`);
      if (!(opts.force && isNotFound(err))) failed++; // as docker rmi -f: gone is not a failure
    }
  }
  return failed ? 1 : 0;
}

function pruneCommand(opts: Opts, args: string[]): number {
  if (args.length) throw new UserError("'box image prune' takes no arguments; usage: box image prune [-a] [-f]");
  const what = opts.all ? 'all images without at least one container associated to them' : 'all dangling images';
  if (!opts.force && !confirm(`WARNING! This will remove ${what}.\nAre you sure you want to continue? [y/N] `)) return 0;
  const removal = pruneImages(boxRoot(), { all: Boolean(opts.all), usedBy: containersUsing() });
  if (removal.untagged.length || removal.deleted.length) {
    out('Deleted Images:\n');
    printRemoval(removal, true);
    out('\n');
  }
  out(`Total reclaimed space: ${humanSize(removal.bytes)}\n`);
  return 0;
}


// ---- history, inspect -------------------------------------------------------------------

function historyCommand(opts: Opts, args: string[]): number {
  if (args.length !== 1) throw new UserError("'box history' needs one image; usage: box history [OPTIONS] IMAGE");
  const root = boxRoot();
  const { catalog, image } = findImage(root, args[0], { builtIn: true });
  const rows = historyRows(root, catalog, image);
  const full = Boolean(opts['no-trunc']);
  if (opts.quiet) {
    out(rows.map((r) => `${r.id ? imageId(r.id, full) : '<missing>'}\n`).join(''));
    return 0;
  }
  out(formatTable(['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], rows.map((r) => [
    r.id ? imageId(r.id, full) : '<missing>',
    ago(r.created),
    full ? r.createdBy : truncate(r.createdBy, 45),
    humanSize(r.size),
    r.comment,
  ])));
  return 0;
}

/**
 * `box inspect IMAGE` and `box image inspect`: the image's JSON view, or undefined if no image
 * has that name. For cli/commands.ts's inspect, which tries a container first, as docker does.
 */
export function inspectImage(ref: string): Record<string, unknown> | undefined {
  const root = boxRoot();
  let found: { catalog: Catalog; image: StoredImage };
  try {
    found = findImage(root, ref, { builtIn: true });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  return inspectView(root, found.catalog, found.image);
}

async function imageInspectCommand(opts: Opts, args: string[]): Promise<number> {
  if (!args.length) throw new UserError("'box image inspect' needs an image; usage: box image inspect [-f FORMAT] IMAGE...");
  const views = args.map((ref) => {
    const view = inspectImage(ref);
    if (!view) throw new NotFoundError(`no such image: '${ref}'; \`box images\` lists the images you have`);
    return view;
  });
  if (typeof opts.format === 'string') {
    for (const v of views) out(formatTemplate(opts.format, v) + '\n');
  } else {
    out(JSON.stringify(views, null, 2) + '\n');
  }
  return 0;
}

// ---- diff, commit -----------------------------------------------------------------------

/** A container's upper directory and the unpacked layers of the image it was made from. */
function containerLayers(s: ContainerState): { upper: string; layerDirs: string[] } {
  const upper = path.join(containerDir(s.id), 'upper');
  if (!fs.existsSync(upper)) {
    throw new UserError(`container '${s.name}' has no filesystem of its own (it ran without a mount namespace), so nothing to compare`);
  }
  const root = boxRoot();
  const image = readCatalog(root).images.find((i) => i.id === s.imageId);
  if (!image) {
    throw new UserError(`the image container '${s.name}' was made from (${shortDigest(s.imageId)}) is no longer in the store`);
  }
  const layerDirs = image.manifest.layers.map((descriptor, i) => {
    const diffId = image.config.rootfs.diff_ids[i];
    return fs.existsSync(layerDir(root, diffId)) ? layerDir(root, diffId) : ensureLayerUnpacked(root, { descriptor, diffId });
  });
  return { upper, layerDirs };
}

function diffCommand(_opts: Opts, args: string[], trace: Trace): number {
  if (args.length !== 1) throw new UserError("'box diff' needs one container; usage: box diff CONTAINER");
  const { upper, layerDirs } = containerLayers(lookup(args[0]));
  trace.record({ kind: 'note', text: `reading the overlay upper directory ${upper}, against the image's layers ${layerDirs.join(', ')}` });
  out(containerChanges(upper, layerDirs).map((c) => `${c.kind} ${c.path}\n`).join(''));
  return 0;
}

/** `sh -c 'echo hi > /x'`: the command as a shell would take it, for the history. */
export function shellWords(args: string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function commitCommand(opts: Opts, args: string[], trace: Trace): number {
  if (args.length < 1 || args.length > 2) {
    throw new UserError("'box commit' needs a container and, usually, a name for the image; usage: box commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]");
  }
  const [ref, target] = args;
  if (target !== undefined && normalizeRef(target).digest) {
    throw new UserError(`'${target}' has a digest; name the new image NAME[:TAG]`);
  }
  const s = lookup(ref);
  const { upper } = containerLayers(s);
  const c = s.config as Record<string, unknown>;
  const run: ContainerRun = {
    command: (c.command as string[] | undefined) ?? [],
    ...(c.entrypoint ? { entrypoint: c.entrypoint as string[] } : {}),
    env: (c.env as string[] | undefined) ?? [],
    ...(typeof c.workdir === 'string' ? { workdir: c.workdir } : {}),
    ...(typeof c.user === 'string' ? { user: c.user } : {}),
  };
  const { id, layer } = commitContainer(boxRoot(), {
    upperDir: upper,
    baseImageId: s.imageId,
    ...(target !== undefined ? { ref: target } : {}),
    run,
    createdBy: shellWords(s.command),
    ...(typeof opts.message === 'string' ? { comment: opts.message } : {}),
    ...(typeof opts.author === 'string' ? { author: opts.author } : {}),
    changes: (opts.change as string[] | undefined) ?? [],
    // A --userns container's files belong to host ids from its range; the upper directory's owner is the base.
    idShift: c.userns ? fs.statSync(upper).uid : 0,
    warn: (m) => process.stderr.write(`box: warning: ${m}\n`),
  });
  trace.record({ kind: 'note', text: `${upper} became layer ${layer.diffId} (blob ${layer.descriptor.digest}, ${layer.descriptor.size} bytes gzipped)` });
  out(`${id}\n`);
  return 0;
}

// ---- save, load -------------------------------------------------------------------------

function saveCommand(opts: Opts, args: string[]): number {
  if (!args.length) throw new UserError("'box save' needs an image; usage: box save [-o FILE.tar] IMAGE...");
  const root = boxRoot();
  if (typeof opts.output === 'string') {
    saveImages(root, args, { file: opts.output });
    return 0;
  }
  if (isatty(1)) {
    throw new UserError('refusing to write a tar archive to the terminal; give -o FILE.tar or redirect: box save IMAGE > FILE.tar');
  }
  saveImages(root, args, { fd: 1 });
  return 0;
}

function loadCommand(opts: Opts, args: string[]): number {
  if (args.length) throw new UserError("'box load' reads one archive, named by -i; usage: box load [-i FILE.tar] (or box load < FILE.tar)");
  let tar: Buffer;
  let label: string;
  if (typeof opts.input === 'string') {
    label = opts.input;
    const st = fs.statSync(opts.input, { throwIfNoEntry: false });
    if (!st) throw new NotFoundError(`${opts.input}: no such file; give the archive box save or docker save wrote`);
    if (!st.isFile()) throw new UserError(`${opts.input} is not a file; give the archive box save or docker save wrote`);
    if (st.size > MAX_ARCHIVE_BYTES) throw new UserError(`${opts.input} is over ${MAX_ARCHIVE_BYTES / 1024 ** 3} GiB, more than box loads at once`);
    tar = fs.readFileSync(opts.input);
  } else {
    if (isatty(0)) {
      throw new UserError('standard input is a terminal, not a tar archive; give -i FILE.tar or redirect: box load < FILE.tar');
    }
    label = 'standard input';
    tar = readStdin();
  }
  const root = boxRoot();
  const before = new Map(readCatalog(root).images.filter((i) => i.tag).map((i) => [i.tag!, i.id]));
  const loaded = loadArchive(root, tar, label);
  for (const l of loaded) {
    const old = l.tag ? before.get(l.tag) : undefined;
    // As docker says it: the tag moves, and the image it named stays, untagged (box image prune).
    if (old && old !== l.id) out(`The image ${l.tag} already exists, renaming the old one with ID ${old} to empty string\n`);
    out(l.tag ? `Loaded image: ${l.tag}\n` : `Loaded image ID: ${l.id}\n`);
  }
  return 0;
}

function readStdin(): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.alloc(1 << 20);
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
        continue;
      }
      if (code === 'EOF') break;
      throw err;
    }
    if (n === 0) break;
    total += n;
    if (total > MAX_ARCHIVE_BYTES) throw new UserError(`the archive on standard input is over ${MAX_ARCHIVE_BYTES / 1024 ** 3} GiB, more than box loads at once`);
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  if (total === 0) throw new UserError('standard input was empty; give the archive with -i FILE.tar or box load < FILE.tar');
  return Buffer.concat(chunks);
}

// ---- the table entries ------------------------------------------------------------------

export const imagesCommand = command('images [OPTIONS] [REPOSITORY[:TAG]]', 'List images', IMAGES_OPTIONS, listImagesCommand);

export const tagImageCommand = command('tag SOURCE[:TAG] TARGET[:TAG]', 'Give an image another name (a tag)', [], tagCommand);

const RMI_OPTIONS: OptionSpec[] = [{ name: 'force', short: 'f', help: 'also untag an image containers were made from, and remove all tags of an id' }];
export const rmiCommandEntry = command('rmi [-f] IMAGE...', 'Remove images (and the layers no other image uses)', RMI_OPTIONS, rmiCommand);

const HISTORY_OPTIONS: OptionSpec[] = [
  { name: 'no-trunc', help: 'do not shorten the output' },
  { name: 'quiet', short: 'q', help: 'print image ids only' },
];
export const historyCommandEntry = command('history [OPTIONS] IMAGE', 'Show how an image was made, one row per layer or step', HISTORY_OPTIONS, historyCommand);

const PRUNE_OPTIONS: OptionSpec[] = [
  { name: 'all', short: 'a', help: 'remove every image no container was made from, not only untagged ones' },
  { name: 'force', short: 'f', help: 'do not ask for confirmation' },
];

const INSPECT_OPTIONS: OptionSpec[] = [{ name: 'format', short: 'f', value: true, help: "print fields only, e.g. -f '{{.Config.Cmd}}' or '{{json .RootFS}}'" }];

export const diffCommandEntry = command('diff CONTAINER', "List the files a container added (A), changed (C) and deleted (D)", [], diffCommand);

const COMMIT_OPTIONS: OptionSpec[] = [
  { name: 'message', short: 'm', value: true, help: "a comment for the image's history" },
  { name: 'author', short: 'a', value: true, help: 'the author, e.g. "Ada <ada@example.org>"' },
  { name: 'change', short: 'c', value: true, repeat: true, help: "a Dockerfile instruction to apply, e.g. -c 'CMD [\"sh\"]' (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE)" },
];
export const commitCommandEntry = command('commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]', "Make a new image from a container's changes", COMMIT_OPTIONS, commitCommand);

const SAVE_OPTIONS: OptionSpec[] = [{ name: 'output', short: 'o', value: true, help: 'write to this file instead of standard output' }];
export const saveCommandEntry = command('save [-o FILE.tar] IMAGE...', 'Save images to a tar archive (OCI image layout)', SAVE_OPTIONS, saveCommand);

const LOAD_OPTIONS: OptionSpec[] = [
  { name: 'input', short: 'i', value: true, help: 'read from this file instead of standard input' },
  { name: 'quiet', short: 'q', help: 'accepted for docker compatibility' },
];
export const loadCommandEntry = command('load [-i FILE.tar]', 'Load images from a tar archive (box save, docker save, skopeo oci-archive)', LOAD_OPTIONS, loadCommand);

/** `box image SUBCOMMAND`: Docker's management command for images. */
const SUBCOMMANDS: Record<string, ImageCommand> = {
  ls: imagesCommand,
  rm: rmiCommandEntry,
  prune: command('image prune [-a] [-f]', 'Remove untagged images no container was made from', PRUNE_OPTIONS, pruneCommand),
  inspect: {
    summary: 'Print what box knows about images, as JSON',
    help: () => helpText('box image inspect [-f FORMAT] IMAGE...', 'Print what box knows about images, as JSON.', INSPECT_OPTIONS),
    run: async (argv) => {
      const { opts, positionals } = parseArgs(argv, INSPECT_OPTIONS, 'image inspect');
      return imageInspectCommand(opts, positionals);
    },
  },
  history: historyCommandEntry,
  tag: tagImageCommand,
  save: saveCommandEntry,
  load: loadCommandEntry,
};
const ALIASES: Record<string, string> = { list: 'ls', rmi: 'rm', remove: 'rm' };

export const imageCommand: ImageCommand = {
  summary: 'Manage images: ls, rm, prune, inspect, history, tag, save, load',
  help: () => `Usage: box image COMMAND\n\nManage images.\n\nCommands:\n${
    Object.entries(SUBCOMMANDS).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`).join('\n')}\n\nRun 'box image COMMAND --help' for more on a command.\n`,
  // `box image prune --help` is the subcommand's help: let run() see it.
  passHelp: (argv) => argv.length > 0 && !argv[0].startsWith('-'),
  run: async (argv, trace) => {
    const [name, ...rest] = argv;
    const sub = SUBCOMMANDS[ALIASES[name] ?? name];
    if (!sub) throw new UserError(`'box image ${name}' is not a command; see 'box image --help'`);
    if (rest.includes('--help')) {
      out(sub.help());
      return 0;
    }
    return sub.run(rest, trace);
  },
};
