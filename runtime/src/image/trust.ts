// Content trust: signing an image and checking the signature before it runs.
//
// An image's manifest digest names everything in it: the manifest lists the config's and
// every layer's digest, so the one sha256 covers every byte. Box signs that digest (the
// ASCII text "sha256:<hex>") with ed25519, and a signature checks out only for the same
// image: change a layer, the config or the manifest, and the digest is another one.
//
//   $BOX_ROOT/trust/private.pem               this machine's signing key (made by the first
//                                             `box sign`; mode 0600, as ssh keeps its keys)
//   $BOX_ROOT/trust/keys/<name>.pub           public keys whose signatures are trusted; the
//                                             own key is there as "local"
//   $BOX_ROOT/trust/signatures/<hex>.json     signatures of the manifest sha256:<hex>
//
// A signature by a key that is not in keys/ proves nothing (anyone can make a key), so
// verifying needs a signature by a trusted key that matches the digest.

import fs from 'node:fs';
import path from 'node:path';
import { NotFoundError, UserError } from '../sys/errors.ts';
import { findImage, type StoredImage } from './catalog.ts';
import { digestHex } from './digest.ts';
import { boxRoot } from './paths.ts';
import { blobPath, writeFileAtomic, withStoreLock } from './store.ts';

const crypto = () => process.getBuiltinModule('node:crypto') as typeof import('node:crypto');

/** The name the own key is trusted under. */
export const OWN_KEY = 'local';
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface TrustPaths {
  dir: string;
  privateKey: string;
  keys: string;
  signatures: string;
}

export function trustPaths(root: string): TrustPaths {
  const dir = path.join(root, 'trust');
  return { dir, privateKey: path.join(dir, 'private.pem'), keys: path.join(dir, 'keys'), signatures: path.join(dir, 'signatures') };
}

export interface Signature {
  /** The key's id: `ed25519:` and the first 16 hex digits of the sha256 of its public key. */
  key: string;
  /** base64 of the 64-byte ed25519 signature over the manifest digest's text. */
  signature: string;
}

export interface TrustedKey {
  name: string;
  id: string;
  /** The key this machine signs with. */
  own: boolean;
}

/** A public key's id, the same however it is encoded in a file. */
export function keyId(key: import('node:crypto').KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  return `ed25519:${crypto().createHash('sha256').update(der).digest('hex').slice(0, 16)}`;
}

// ---- keys -------------------------------------------------------------------------------

/** This machine's signing key, made on first use (then `created` is true). */
export function signingKey(root: string): { key: import('node:crypto').KeyObject; id: string; created: boolean } {
  const p = trustPaths(root);
  let created = false;
  if (!fs.existsSync(p.privateKey)) {
    fs.mkdirSync(p.keys, { recursive: true, mode: 0o700 });
    fs.chmodSync(p.dir, 0o700);
    const pair = crypto().generateKeyPairSync('ed25519');
    try {
      // O_EXCL: two first `box sign`s at once make one key; the second reads the first's.
      fs.writeFileSync(p.privateKey, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { flag: 'wx', mode: 0o600 });
      writeFileAtomic(root, path.join(p.keys, `${OWN_KEY}.pub`), pair.publicKey.export({ type: 'spki', format: 'pem' }));
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const mode = fs.statSync(p.privateKey).mode & 0o777;
  if (mode & 0o077) {
    throw new UserError(`${p.privateKey} can be read by others (mode ${mode.toString(8)}); a signing key must be private: chmod 600 ${p.privateKey}`);
  }
  const key = crypto().createPrivateKey(fs.readFileSync(p.privateKey));
  return { key, id: keyId(crypto().createPublicKey(key)), created };
}

function readPublicKey(file: string, label: string): import('node:crypto').KeyObject {
  let key: import('node:crypto').KeyObject;
  try {
    key = crypto().createPublicKey(fs.readFileSync(file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`${label}: no such file`);
    throw new UserError(`${label} is not a public key in PEM form (what \`box trust key\` prints)`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new UserError(`${label} is a ${key.asymmetricKeyType} key; box trusts ed25519 keys only`);
  return key;
}

/** The trusted public keys, by name. */
export function trustedKeys(root: string): (TrustedKey & { key: import('node:crypto').KeyObject })[] {
  const dir = trustPaths(root).keys;
  const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.pub')).sort() : [];
  return names.map((file) => {
    const key = readPublicKey(path.join(dir, file), path.join(dir, file));
    const name = file.slice(0, -'.pub'.length);
    return { name, id: keyId(key), own: name === OWN_KEY, key };
  });
}

/** Trust the public key in `file` under `name` (`box trust add NAME FILE`). Returns its id. */
export function addTrustedKey(root: string, name: string, file: string): string {
  if (!KEY_NAME.test(name)) throw new UserError(`'${name}' cannot name a key: use letters, digits, '.', '_' and '-' (up to 64)`);
  if (name === OWN_KEY) throw new UserError(`'${OWN_KEY}' is the name of this machine's own key; choose another`);
  const key = readPublicKey(file, file);
  const id = keyId(key);
  const same = trustedKeys(root).find((k) => k.id === id);
  if (same) throw new UserError(`that key (${id}) is already trusted as '${same.name}'`);
  const target = path.join(trustPaths(root).keys, `${name}.pub`);
  if (fs.existsSync(target)) throw new UserError(`a key named '${name}' is already trusted; remove it first (box trust rm ${name}) or choose another name`);
  fs.mkdirSync(trustPaths(root).keys, { recursive: true, mode: 0o700 });
  writeFileAtomic(root, target, key.export({ type: 'spki', format: 'pem' }));
  return id;
}

/** Stop trusting a key; what it signed no longer verifies (unless another trusted key signed it too). */
export function removeTrustedKey(root: string, name: string): void {
  if (name === OWN_KEY) throw new UserError(`'${OWN_KEY}' is this machine's own signing key; to stop using it, remove ${trustPaths(root).dir}`);
  const file = path.join(trustPaths(root).keys, `${name}.pub`);
  if (!KEY_NAME.test(name) || !fs.existsSync(file)) throw new NotFoundError(`no trusted key named '${name}'; \`box trust ls\` lists them`);
  fs.rmSync(file);
}

/** The own public key in PEM, to give to whoever should trust this machine's signatures. */
export function ownPublicKey(root: string): string {
  const file = path.join(trustPaths(root).keys, `${OWN_KEY}.pub`);
  if (!fs.existsSync(file)) throw new UserError('this machine has no signing key yet; `box sign IMAGE` makes one');
  return fs.readFileSync(file, 'utf8');
}

// ---- signatures -------------------------------------------------------------------------

function signatureFile(root: string, digest: string): string {
  return path.join(trustPaths(root).signatures, `${digestHex(digest)}.json`);
}

export function readSignatures(root: string, digest: string): Signature[] {
  const file = signatureFile(root, digest);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  try {
    const parsed = JSON.parse(text) as { signatures?: Signature[] };
    return (parsed.signatures ?? []).filter((s) => typeof s?.key === 'string' && typeof s?.signature === 'string');
  } catch {
    throw new UserError(`the signature file ${file} is damaged; remove it and sign the image again`);
  }
}

export interface SignResult {
  image: string;
  digest: string;
  keyId: string;
  /** A signing key was made for this (the first `box sign` on this machine). */
  createdKey: boolean;
}

/** Sign the image `ref` names with this machine's key (`box sign`). */
export function signImage(root: string, ref: string): SignResult {
  const image = checkedImage(root, ref);
  const digest = image.manifestDigest;
  const { key, id, created } = signingKey(root);
  const signature = crypto().sign(null, Buffer.from(digest), key).toString('base64');
  fs.mkdirSync(trustPaths(root).signatures, { recursive: true, mode: 0o700 });
  withStoreLock(root, () => {
    const others = readSignatures(root, digest).filter((s) => s.key !== id);
    writeFileAtomic(root, signatureFile(root, digest), JSON.stringify({ signatures: [...others, { key: id, signature }] }, null, 2) + '\n');
  });
  return { image: image.tag ?? ref, digest, keyId: id, createdKey: created };
}

export interface Verified {
  image: string;
  digest: string;
  /** The trusted key's name and id whose signature matched. */
  signer: string;
  keyId: string;
}

/**
 * Check the image `ref` names: every blob matches its digest, and a trusted key signed its
 * manifest digest. Throws a UserError saying which of these fails.
 */
export function verifyImage(root: string, ref: string): Verified {
  const image = checkedImage(root, ref);
  const name = image.tag ?? ref;
  const digest = image.manifestDigest;
  const signatures = readSignatures(root, digest);
  if (!signatures.length) throw new UserError(`image '${name}' (${digest}) is not signed; sign it with box sign ${ref}, or run it without --verify`);
  const keys = trustedKeys(root);
  for (const s of signatures) {
    const trusted = keys.find((k) => k.id === s.key);
    if (!trusted) continue;
    let valid = false;
    try {
      valid = crypto().verify(null, Buffer.from(digest), trusted.key, Buffer.from(s.signature, 'base64'));
    } catch {
      valid = false;
    }
    if (!valid) throw new UserError(`the signature of '${name}' by '${trusted.name}' (${trusted.id}) does not match ${digest}: the image or its signature was altered; do not run it`);
    return { image: name, digest, signer: trusted.name, keyId: trusted.id };
  }
  throw new UserError(`image '${name}' is signed only by keys you do not trust (${signatures.map((s) => s.key).join(', ')}); trust the signer with box trust add NAME KEY.pub`);
}

/**
 * For `box run --verify`: throws a UserError when the image `ref` names is unsigned, signed
 * by no trusted key, or altered since it was signed. Uses the store at $BOX_ROOT.
 */
export function verifyImageForRun(ref: string): void {
  verifyImage(boxRoot(), ref);
}

/**
 * The image, with every blob read back and checked against its digest: a signature over the
 * manifest digest vouches for the blobs only if they are still the bytes it names.
 * (Reading the manifest and config already checks theirs; the layers are checked here.)
 */
function checkedImage(root: string, ref: string): StoredImage {
  const { image } = findImage(root, ref, { builtIn: true });
  for (const layer of image.manifest.layers) {
    const file = blobPath(root, layer.digest);
    if (fs.statSync(file, { throwIfNoEntry: false })?.size !== layer.size || fileSha256(file) !== layer.digest) {
      throw new UserError(`layer ${layer.digest} of '${image.tag ?? ref}' is missing or does not match its digest: the image was altered; remove it and pull it again`);
    }
  }
  return image;
}

/** sha256 of a file, read a megabyte at a time (layers can be large), synchronously. */
function fileSha256(file: string): string {
  const hash = crypto().createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    let n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return `sha256:${hash.digest('hex')}`;
}
