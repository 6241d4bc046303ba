// Builds box-init (and box-client, box-dns) from C source with the system's C compiler.
// `npm install` runs this (runtime/scripts/build-box.ts), and box runs it again if box-init
// or box-dns is missing or older than its source. Static linking matters: `box exec` runs box-init after it has joined a
// container's mount namespace, where the host's dynamic loader and libc are not visible.

import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { UserError } from '../sys/errors.ts';
import { inHome } from '../home.ts';

export const initSource = inHome('runtime/src/init/box-init.c');
export const initBinary = inHome('runtime/build/box-init');
/** The engine's client (runtime/src/engine/box-client.c): `box run` when the engine runs. */
export const clientSource = inHome('runtime/src/engine/box-client.c');
export const clientBinary = inHome('runtime/build/box-client');
/** A user-defined network's name server (runtime/src/net/dns/box-dns.c). */
export const dnsSource = inHome('runtime/src/net/dns/box-dns.c');
export const dnsBinary = inHome('runtime/build/box-dns');

export function initPath(): string {
  if (!isFresh(initBinary, initSource)) buildInit();
  return initBinary;
}

/** box-dns, built first if it is missing or older than its source. */
export function dnsPath(): string {
  if (!isFresh(dnsBinary, dnsSource)) buildDns();
  return dnsBinary;
}

function isFresh(binary: string, source: string): boolean {
  try {
    return fs.statSync(binary).mtimeMs >= fs.statSync(source).mtimeMs;
  } catch {
    return false;
  }
}

export function buildInit(): void {
  compile(initSource, initBinary);
}

export function buildClient(): void {
  compile(clientSource, clientBinary);
}

export function buildDns(): void {
  compile(dnsSource, dnsBinary);
}

function compile(source: string, binary: string): void {
  fs.mkdirSync(path.dirname(binary), { recursive: true });
  const tmp = `${binary}.${process.pid}.tmp`;
  try {
    execFileSync(process.env.CC || 'cc', ['-O2', '-Wall', '-static', '-o', tmp, source], { stdio: 'pipe' });
    fs.renameSync(tmp, binary); // atomic: a concurrent box never runs a half-written binary
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    const detail = String((err as { stderr?: Buffer }).stderr ?? err).split('\n')[0];
    throw new UserError(`cannot build ${path.basename(binary)} (${detail}); install a C compiler and static libc: apt-get install gcc libc6-dev`);
  }
}
