// The commands that ship images: push and pull (a registry, image/registry/), sign, verify
// and trust (content trust, image/trust.ts). Parsing and printing only.

import { isatty } from 'node:tty';
import { boxRoot } from '../image/paths.ts';
import { Progress, type ProgressSink } from '../image/registry/progress.ts';
import { pullImage } from '../image/registry/pull.ts';
import { pushImage } from '../image/registry/push.ts';
import { addTrustedKey, ownPublicKey, removeTrustedKey, signImage, trustedKeys, trustPaths, verifyImage } from '../image/trust.ts';
import { UserError } from '../sys/errors.ts';
import { formatTable, humanSize } from './format.ts';
import type { ImageCommand } from './command.ts';
import { helpText, parseArgs, type OptionSpec, type Parsed } from '../container/args.ts';

/** A command's words: `push [OPTIONS] IMAGE...` (its name first), what it does, its flags. */
interface Spec {
  usage: string;
  summary: string;
  options: OptionSpec[];
}

/** The table entry (cli/commands.ts) for a command that takes the parsed command line. */
function entry(spec: Spec, fn: (parsed: Parsed) => Promise<number> | number): ImageCommand {
  const name = spec.usage.split(' ')[0];
  return { summary: spec.summary, help: () => helpText(`box ${spec.usage}`, `${spec.summary}.`, spec.options), run: async (argv) => fn(parseArgs(argv, spec.options, name)) };
}

const out = (text: string) => process.stdout.write(text);

/** Layer lines on standard output: redrawn bars on a terminal, plain lines otherwise; none with -q. */
function progressFor(quiet: boolean): ProgressSink {
  if (quiet) return { layer: () => {}, line: () => {} };
  return new Progress({ write: out, tty: isatty(1), size: humanSize });
}

const INSECURE: OptionSpec = {
  name: 'insecure',
  help: 'talk plain HTTP to the registry (always so for localhost and 127.0.0.0/8, as Docker does)',
};

// ---- push, pull -------------------------------------------------------------------------

async function pushCommand({ opts, positionals: args }: Parsed): Promise<number> {
  if (args.length < 1 || args.length > 2) {
    throw new UserError("'box push' needs an image, and optionally where to push it; usage: box push IMAGE[:TAG] [REGISTRY/]REPO[:TAG]");
  }
  await pushImage(boxRoot(), args[0], args[1], { insecure: Boolean(opts.insecure), progress: progressFor(Boolean(opts.quiet)) });
  return 0;
}

async function pullCommand({ opts, positionals: args }: Parsed): Promise<number> {
  if (args.length !== 1) throw new UserError("'box pull' needs one image; usage: box pull [REGISTRY/]NAME[:TAG]");
  const result = await pullImage(boxRoot(), args[0], { insecure: Boolean(opts.insecure), progress: progressFor(Boolean(opts.quiet)) });
  out(`${result.tag}\n`);
  return 0;
}

const quiet = (what: string): OptionSpec => ({ name: 'quiet', short: 'q', help: what });

export const pushCommandEntry = entry({
  usage: 'push [OPTIONS] IMAGE[:TAG] [[REGISTRY/]REPO[:TAG]]', summary: 'Send an image to a registry', options: [INSECURE, quiet('print no progress')],
}, pushCommand);

export const pullCommandEntry = entry({
  usage: 'pull [OPTIONS] [REGISTRY/]NAME[:TAG]', summary: 'Fetch an image from a registry', options: [INSECURE, quiet('print only the image name at the end')],
}, pullCommand);

// ---- sign, verify, trust ----------------------------------------------------------------

function signCommand({ positionals: args }: Parsed): number {
  if (args.length !== 1) throw new UserError("'box sign' needs one image; usage: box sign IMAGE[:TAG]");
  const root = boxRoot();
  const r = signImage(root, args[0]);
  if (r.createdKey) {
    out(`Made a signing key: ${trustPaths(root).privateKey} (its public key is trusted as 'local'; give it to others with box trust key)\n`);
  }
  out(`Signed ${r.image} (${r.digest}) with key ${r.keyId}\n`);
  return 0;
}

function verifyCommand({ positionals: args }: Parsed): number {
  if (!args.length) throw new UserError("'box verify' needs an image; usage: box verify IMAGE[:TAG]...");
  for (const ref of args) {
    const v = verifyImage(boxRoot(), ref);
    out(`Verified ${v.image} (${v.digest}): signed by '${v.signer}' (${v.keyId})\n`);
  }
  return 0;
}

const TRUST_USAGE = 'box trust ls | box trust add NAME KEY.pub | box trust rm NAME | box trust key';

function trustCommand({ positionals: args }: Parsed): number {
  const [sub, ...rest] = args;
  const root = boxRoot();
  const arity = (n: number, usage: string) => {
    if (rest.length !== n) throw new UserError(`'box trust ${sub}' takes ${usage}; usage: ${TRUST_USAGE}`);
  };
  switch (sub) {
    case 'ls':
    case 'list':
      arity(0, 'no arguments');
      out(formatTable(['NAME', 'KEY'], trustedKeys(root).map((k) => [k.own ? `${k.name} (this machine)` : k.name, k.id])));
      return 0;
    case 'add':
      arity(2, 'a name and a public key file');
      out(`Trusting '${rest[0]}': ${addTrustedKey(root, rest[0], rest[1])}\n`);
      return 0;
    case 'rm':
    case 'remove':
      arity(1, 'the name of a key');
      removeTrustedKey(root, rest[0]);
      out(`No longer trusting '${rest[0]}'\n`);
      return 0;
    case 'key':
      arity(0, 'no arguments');
      out(ownPublicKey(root));
      return 0;
    default:
      throw new UserError(`${sub === undefined ? "'box trust' needs a subcommand" : `'box trust ${sub}' is not a command`}; usage: ${TRUST_USAGE}`);
  }
}

export const signCommandEntry = entry({ usage: 'sign IMAGE[:TAG]', summary: "Sign an image's manifest digest with this machine's ed25519 key", options: [] }, signCommand);
export const verifyCommandEntry = entry({ usage: 'verify IMAGE[:TAG]...', summary: 'Check that a trusted key signed an image, and that it is unaltered', options: [] }, verifyCommand);
export const trustCommandEntry: ImageCommand = {
  summary: 'Manage the keys whose signatures box trusts: ls, add, rm, key',
  help: () => `Usage: ${TRUST_USAGE}

Manage the keys whose signatures box trusts (in $BOX_ROOT/trust/keys).

Commands:
  ls                  list the trusted keys, this machine's own as 'local'
  add NAME KEY.pub    trust the ed25519 public key in KEY.pub (PEM), under NAME
  rm NAME             stop trusting a key
  key                 print this machine's public key, for others to add
`,
  run: async (argv) => trustCommand(parseArgs(argv, [], 'trust')),
};
