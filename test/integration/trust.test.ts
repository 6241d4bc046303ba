// box sign, box verify and box trust as a user runs them, on real stores: ed25519 over the
// manifest digest, keys in $BOX_ROOT/trust, and every way an image can fail to verify.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findImage } from '../../runtime/src/image/catalog.ts';
import { storePaths } from '../../runtime/src/image/paths.ts';
import { verifyImageForRun } from '../../runtime/src/image/trust.ts';
import { UserError } from '../../runtime/src/sys/errors.ts';
import { box, isRoot, tempBoxRoot } from './helpers.ts';
import { needs } from '../support/requires.ts';


const roots: string[] = [];
function freshRoot(tag: string): string {
  const root = tempBoxRoot(`trust-${tag}`);
  roots.push(root);
  return root;
}
afterAll(() => {
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
});

function ok(root: string, args: string[]): string {
  const r = box(root, args);
  if (r.code !== 0) throw new Error(`box ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

function fails(root: string, args: string[]): string {
  const r = box(root, args);
  expect(r.code).not.toBe(0);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^box: /);
  return r.stderr.trim().replace(/^box: /, '');
}

const KEY_ID = /ed25519:[0-9a-f]{16}/;

needs(!isRoot && 'needs root: the busybox image is built as root').describe('box sign and box verify', () => {
  let root: string;
  let digest: string;
  let keyId: string;

  beforeAll(() => {
    root = freshRoot('a');
    ok(root, ['history', 'busybox']); // makes the built-in busybox image
  });

  it('an unsigned image does not verify', () => {
    digest = findImage(root, 'busybox').image.manifestDigest;
    expect(fails(root, ['verify', 'busybox'])).toBe(`image 'busybox:latest' (${digest}) is not signed; sign it with box sign busybox, or run it without --verify`);
  });

  it('the first box sign makes a private key only root can read, and trusts its public key as local', () => {
    const out = ok(root, ['sign', 'busybox']).split('\n');
    const trust = path.join(root, 'trust');
    expect(out[0]).toBe(`Made a signing key: ${trust}/private.pem (its public key is trusted as 'local'; give it to others with box trust key)`);
    keyId = KEY_ID.exec(out[1])![0];
    expect(out[1]).toBe(`Signed busybox:latest (${digest}) with key ${keyId}`);
    expect(fs.statSync(path.join(trust, 'private.pem')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(trust).mode & 0o777).toBe(0o700);
    expect(ok(root, ['trust', 'ls'])).toBe(`NAME                   KEY\nlocal (this machine)   ${keyId}\n`);
    // A second sign uses the same key.
    expect(ok(root, ['sign', 'busybox'])).toBe(`Signed busybox:latest (${digest}) with key ${keyId}\n`);
  });

  it('box verify checks the signature over the manifest digest', () => {
    expect(ok(root, ['verify', 'busybox'])).toBe(`Verified busybox:latest (${digest}): signed by 'local' (${keyId})\n`);
  });

  it('box run --verify runs a signed image, and refuses an unsigned one before making a container', () => {
    expect(ok(root, ['run', '--rm', '--verify', 'busybox', 'echo', 'signed and running'])).toBe('signed and running\n');
    const other = freshRoot('run-verify');
    ok(other, ['history', 'busybox']);
    expect(fails(other, ['run', '--rm', '--verify', 'busybox', 'true']))
      .toBe(`image 'busybox:latest' (${digest}) is not signed; sign it with box sign busybox, or run it without --verify`);
    expect(ok(other, ['ps', '-a']).trim().split('\n')).toHaveLength(1); // the header only: no container
  });

  it('verifyImageForRun (what box run --verify calls): passes a signed image, throws a UserError otherwise', () => {
    const saved = process.env.BOX_ROOT;
    process.env.BOX_ROOT = root;
    try {
      expect(() => verifyImageForRun('busybox')).not.toThrow();
      ok(root, ['tag', 'busybox', 'copy:1']); // the same image under another name: same digest, still signed
      expect(() => verifyImageForRun('copy:1')).not.toThrow();
      expect(() => verifyImageForRun('nosuch:image')).toThrow(UserError);
      const other = freshRoot('run');
      process.env.BOX_ROOT = other;
      expect(() => verifyImageForRun('busybox')).toThrow(/is not signed; sign it with box sign busybox, or run it without --verify$/);
    } finally {
      process.env.BOX_ROOT = saved;
      if (saved === undefined) delete process.env.BOX_ROOT;
    }
  });

  it('an altered signature is refused', () => {
    const file = path.join(root, 'trust/signatures', `${digest.slice(7)}.json`);
    const good = fs.readFileSync(file, 'utf8');
    const doc = JSON.parse(good);
    const sig = Buffer.from(doc.signatures[0].signature, 'base64');
    sig[10] ^= 1;
    doc.signatures[0].signature = sig.toString('base64');
    fs.writeFileSync(file, JSON.stringify(doc));
    try {
      expect(fails(root, ['verify', 'busybox'])).toBe(`the signature of 'busybox:latest' by 'local' (${keyId}) does not match ${digest}: the image or its signature was altered; do not run it`);
    } finally {
      fs.writeFileSync(file, good);
    }
  });

  it('an altered layer is refused, although the signature is intact', () => {
    const layer = findImage(root, 'busybox').image.manifest.layers[0].digest;
    const file = path.join(storePaths(root).blobs, layer.slice(7));
    const good = fs.readFileSync(file);
    const bad = Buffer.from(good);
    bad[bad.length >> 1] ^= 0xff;
    fs.writeFileSync(file, bad);
    try {
      expect(fails(root, ['verify', 'busybox'])).toBe(`layer ${layer} of 'busybox:latest' is missing or does not match its digest: the image was altered; remove it and pull it again`);
    } finally {
      fs.writeFileSync(file, good);
    }
    expect(ok(root, ['verify', 'busybox'])).toMatch(/^Verified /);
  });

  it('a name moved to another image is that image: unsigned', () => {
    const r = box(root, ['run', '--name', 'changer', 'busybox', 'sh', '-c', 'echo changed > /etc/motd']);
    expect(r.code).toBe(0);
    ok(root, ['commit', 'changer', 'copy:1']);
    ok(root, ['rm', 'changer']);
    expect(fails(root, ['verify', 'copy:1'])).toMatch(/^image 'copy:1' \(sha256:[0-9a-f]{64}\) is not signed; sign it with box sign copy:1, or run it without --verify$/);
  });

  it('a private key others can read is not used', () => {
    const key = path.join(root, 'trust/private.pem');
    fs.chmodSync(key, 0o644);
    try {
      expect(fails(root, ['sign', 'busybox'])).toBe(`${key} can be read by others (mode 644); a signing key must be private: chmod 600 ${key}`);
    } finally {
      fs.chmodSync(key, 0o600);
    }
  });
});

needs(!isRoot && 'needs root: the busybox image is built as root').describe('box trust: signatures from another machine', () => {
  it('count only once their key is trusted, and no longer once it is removed', () => {
    const alice = freshRoot('alice');
    const bob = freshRoot('bob');
    ok(alice, ['history', 'busybox']);
    const bobKeyId = KEY_ID.exec(ok(bob, ['sign', 'busybox']))![0];
    const digest = findImage(bob, 'busybox').image.manifestDigest;
    // The same busybox, built the same way, has the same digest in both stores; Bob's signature travels to Alice.
    expect(findImage(alice, 'busybox').image.manifestDigest).toBe(digest);
    fs.mkdirSync(path.join(alice, 'trust/signatures'), { recursive: true });
    fs.copyFileSync(path.join(bob, 'trust/signatures', `${digest.slice(7)}.json`), path.join(alice, 'trust/signatures', `${digest.slice(7)}.json`));
    expect(fails(alice, ['verify', 'busybox']))
      .toBe(`image 'busybox:latest' is signed only by keys you do not trust (${bobKeyId}); trust the signer with box trust add NAME KEY.pub`);

    const pub = path.join(alice, 'bob.pub');
    fs.writeFileSync(pub, ok(bob, ['trust', 'key']));
    expect(ok(alice, ['trust', 'add', 'bob', pub])).toBe(`Trusting 'bob': ${bobKeyId}\n`);
    expect(ok(alice, ['verify', 'busybox'])).toBe(`Verified busybox:latest (${digest}): signed by 'bob' (${bobKeyId})\n`);
    expect(ok(alice, ['trust', 'ls'])).toBe(`NAME   KEY\nbob    ${bobKeyId}\n`);

    expect(fails(alice, ['trust', 'add', 'bob2', pub])).toBe(`that key (${bobKeyId}) is already trusted as 'bob'`);
    expect(fails(alice, ['trust', 'add', 'local', pub])).toBe("'local' is the name of this machine's own key; choose another");
    expect(fails(alice, ['trust', 'add', '../x', pub])).toBe("'../x' cannot name a key: use letters, digits, '.', '_' and '-' (up to 64)");
    expect(fails(alice, ['trust', 'add', 'x', '/etc/passwd'])).toBe('/etc/passwd is not a public key in PEM form (what `box trust key` prints)');
    expect(fails(alice, ['trust', 'key'])).toBe('this machine has no signing key yet; `box sign IMAGE` makes one');

    expect(ok(alice, ['trust', 'rm', 'bob'])).toBe("No longer trusting 'bob'\n");
    expect(fails(alice, ['verify', 'busybox'])).toMatch(/is signed only by keys you do not trust/);
    expect(fails(alice, ['trust', 'rm', 'bob'])).toBe("no trusted key named 'bob'; `box trust ls` lists them");
    expect(fails(alice, ['trust', 'frobnicate'])).toBe("'box trust frobnicate' is not a command; usage: box trust ls | box trust add NAME KEY.pub | box trust rm NAME | box trust key");
  });
});
