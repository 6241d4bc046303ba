// A real registry for the tests and the pull benchmark: Debian's docker-registry (the CNCF
// distribution registry), on 127.0.0.1 at a free port, storing into a temporary directory.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const REGISTRY_BIN = '/usr/bin/docker-registry';
/** Why the registry tests cannot run here, or '' when they can. */
export const registryReason = fs.existsSync(REGISTRY_BIN) ? '' : 'needs docker-registry (apt-get install docker-registry)';

export interface RunningRegistry {
  /** `127.0.0.1:PORT`: the domain part of image names pushed to it. */
  host: string;
  /** Where it keeps repositories and blobs (docker/registry/v2/...). */
  storage: string;
  stop(): Promise<void>;
}

/** A port nobody listens on right now (the registry takes no port 0, so ask the kernel first). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function startRegistry(): Promise<RunningRegistry> {
  for (let attempt = 0; ; attempt++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'box-registry-'));
    const port = await freePort();
    const config = path.join(dir, 'config.yml');
    fs.writeFileSync(config, [
      'version: 0.1',
      'log:', '  level: error', '  accesslog:', '    disabled: true',
      'storage:', '  filesystem:', `    rootdirectory: ${path.join(dir, 'data')}`, '  delete:', '    enabled: true',
      'http:', `  addr: 127.0.0.1:${port}`, '  secret: box-tests',
    ].join('\n') + '\n');
    // Its log goes to a file, not a pipe: a caller blocked in spawnSync (the bench) reads no
    // pipe, and a registry whose stderr pipe is full stops answering.
    const log = fs.openSync(path.join(dir, 'registry.log'), 'w');
    const child = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'ignore', log] });
    fs.closeSync(log);
    const up = await waitUp(port, child);
    if (up) {
      return {
        host: `127.0.0.1:${port}`,
        storage: path.join(dir, 'data'),
        stop: async () => {
          await stopChild(child);
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    await stopChild(child);
    const stderr = fs.readFileSync(path.join(dir, 'registry.log'), 'utf8');
    fs.rmSync(dir, { recursive: true, force: true });
    // Another process may have taken the port between our check and the registry's bind.
    if (attempt === 2) throw new Error(`docker-registry did not start: ${stderr.trim().split('\n').pop()}`);
  }
}

async function waitUp(port: number, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`);
      if (res.status === 200) return true;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** The blob file of `digest` in the registry's storage (to tamper with it). */
export function registryBlobFile(storage: string, digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  return path.join(storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

/**
 * A three-layer image in the store at `root`, tagged `ref`: busybox's layer, a layer adding
 * /etc/motd and /srv/blob (`blobBytes` random bytes, so each call makes new layers), and a
 * layer that deletes /etc/motd (a whiteout) and adds /srv/hello.
 */
export async function makeThreeLayerImage(root: string, ref: string, blobBytes = 256 * 1024): Promise<{ id: string; manifestDigest: string }> {
  const { findImage } = await import('../../runtime/src/image/catalog.ts');
  const { importLayerTar } = await import('../../runtime/src/image/layers.ts');
  const { writeImage } = await import('../../runtime/src/image/images.ts');
  const { writeTar } = await import('../../runtime/src/image/tar-write.ts');
  const { randomBytes } = await import('node:crypto');
  const { image } = findImage(root, 'busybox', { builtIn: true });
  const base = { descriptor: image.manifest.layers[0], diffId: image.config.rootfs.diff_ids[0] };
  const two = importLayerTar(root, writeTar([
    { name: 'etc', type: 'dir', mode: 0o755 },
    { name: 'etc/motd', type: 'file', mode: 0o644, data: 'layer two\n' },
    { name: 'srv', type: 'dir', mode: 0o755 },
    { name: 'srv/blob', type: 'file', mode: 0o644, data: randomBytes(blobBytes) },
  ]));
  const three = importLayerTar(root, writeTar([
    { name: 'etc', type: 'dir', mode: 0o755 },
    { name: 'etc/.wh.motd', type: 'file', mode: 0o644 },
    { name: 'srv', type: 'dir', mode: 0o755 },
    { name: 'srv/hello', type: 'file', mode: 0o644, data: `hello from layer three ${randomBytes(4).toString('hex')}\n` },
  ]));
  return writeImage(root, {
    ref,
    config: { Cmd: ['cat', '/srv/hello'], Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'] },
    layers: [base, two, three],
    created: new Date().toISOString(),
  });
}
