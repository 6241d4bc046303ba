// Shared by the server's integration tests, the e2e tests and the terminal benchmark:
// start a lab server (in this process or as its own process) and probe for `box --lab`.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { BrowserContext } from 'playwright-core';
import { startLabServer } from '../../src/server/app.ts';
import type { LabServer } from '../../src/server/app.ts';
import { boxDriver, boxRunCommand, BOX, hostShellDriver, REPO } from '../../src/server/sandbox.ts';
import type { SandboxDriver } from '../../src/server/sandbox.ts';
import type { Classroom } from '../../src/server/class.ts';

export { REPO, BOX };
export const NODE = process.execPath;
export const TEST_TOKEN = 'isolab-test-token-0123456789abcdef';

/** A tiny built site: enough pages and asset types to test serving. */
export function makeTestDist(): string {
  const dist = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-dist-'));
  fs.mkdirSync(path.join(dist, 'lessons', 'en', 'pid-namespaces'), { recursive: true });
  fs.mkdirSync(path.join(dist, '_astro'));
  fs.writeFileSync(path.join(dist, 'index.html'), '<!doctype html><title>Isolab</title><h1>Isolab test site</h1>');
  fs.writeFileSync(path.join(dist, 'lessons', 'en', 'pid-namespaces', 'index.html'), '<!doctype html><h1>PID</h1>');
  fs.writeFileSync(path.join(dist, '_astro', 'terminal.abc123.js'), 'console.log("terminal")');
  fs.writeFileSync(path.join(dist, '_astro', 'site.abc123.css'), 'body{}');
  fs.writeFileSync(path.join(dist, '404.html'), '<!doctype html><h1>Lost in the namespace</h1>');
  return dist;
}

/**
 * Lessons with exercises whose checks the tests can make pass or fail: <tmp>/lessons/en/ and
 * the shared definitions beside it, <tmp>/exercises/ (as content/lessons and content/exercises).
 */
export function makeTestLessons(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-lessons-'));
  const dir = path.join(root, 'lessons');
  fs.mkdirSync(path.join(dir, 'en'), { recursive: true });
  fs.mkdirSync(path.join(root, 'exercises'));
  fs.writeFileSync(path.join(dir, 'en', 'test-lesson.mdx'), `---
title: Test lesson
chapter: 1
part: Tests
summary: Exercises for the server tests.
exercises:
  - id: make-flag
    task: Create isolab-flag in your home directory
    hint: Run touch ~/isolab-flag
  - id: slow
    task: Never finishes
    hint: It is slow on purpose
  - id: noisy-fail
    task: Fails with output
    hint: Look closer
---
Body.
`);
  fs.writeFileSync(path.join(root, 'exercises', 'test-lesson.yaml'), `- id: make-flag
  check: test -f "\${HOME:-/root}/isolab-flag"
- id: slow
  check: sleep 30
- id: noisy-fail
  check: echo "expected 1, found 0" >&2; exit 3
`);
  return dir;
}

export interface InProcessOptions {
  driver?: SandboxDriver;
  maxSandboxes?: number;
  maxPerClient?: number;
  maxPerAddress?: number;
  maxPerStudent?: number;
  /** Sandboxes made ahead (warm.ts); default 0 here, so the other tests see only the sandboxes they asked for. */
  warmSandboxes?: number;
  graceMs?: number;
  idleMs?: number;
  dist?: string;
  lessonsDir?: string;
  log?: (line: string) => void;
  classroom?: Classroom;
}

/** A lab server in this process; the temporary site and lessons it made go with close(). */
export async function startInProcess(o: InProcessOptions = {}): Promise<LabServer> {
  const made: string[] = [];
  const dist = o.dist ?? made[made.push(makeTestDist()) - 1];
  const server = await startLabServer({
    host: '127.0.0.1',
    port: 0,
    token: TEST_TOKEN,
    dist,
    repo: REPO,
    lessonsDir: o.lessonsDir,
    driver: o.driver ?? hostShellDriver(),
    maxSandboxes: o.maxSandboxes ?? 8,
    maxPerClient: o.maxPerClient,
    maxPerAddress: o.maxPerAddress,
    maxPerStudent: o.maxPerStudent,
    warmSandboxes: o.warmSandboxes ?? 0,
    graceMs: o.graceMs ?? 60_000,
    idleMs: o.idleMs ?? 3_600_000,
    log: o.log ?? (() => {}),
    classroom: o.classroom,
  });
  return {
    ...server,
    async close() {
      await server.close();
      for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function driverByName(name: 'box' | 'host-shell'): SandboxDriver {
  return name === 'box' ? boxDriver() : hostShellDriver();
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface ServerProcess {
  proc: ChildProcess;
  port: number;
  url: string;
  output: () => string;
  /** SIGTERM and wait for the exit status. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Run `node <script> ...args` and wait for it to print "the lab is at <url>". */
export async function spawnServer(script: string, args: string[], timeoutMs = 300_000): Promise<ServerProcess> {
  const proc = spawn(NODE, [script, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const look = () => {
      const m = /the lab is at (http:\/\/\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    };
    proc.stdout!.on('data', look);
    proc.stderr!.on('data', look);
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited (${code}) before listening:\n${out}`)); });
  });
  return {
    proc,
    port: Number(new URL(url).port),
    url,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

export interface BoxLabProbe { ok: boolean; reason: string }

let probe: Promise<BoxLabProbe> | undefined;

/**
 * Can this machine run a lab sandbox? Under vitest, the answer of the run's one probe
 * (test/box-lab-probe.ts, a globalSetup of the integration and e2e projects): one sandbox made
 * for the whole run rather than one per test file. Elsewhere (the benchmarks), a probe of its own.
 */
export function boxLabAvailable(): Promise<BoxLabProbe> {
  probe ??= probeOfTheRun().then((answer) => answer ?? probeBoxLab());
  return probe;
}

async function probeOfTheRun(): Promise<BoxLabProbe | undefined> {
  if (!process.env.VITEST) return undefined;
  const { inject } = await import('vitest');
  return inject('boxLab');
}

/**
 * Runs the exact `box run --lab` command of the server, with `echo` instead of a shell. The
 * reason is box's own last line when it cannot.
 */
export function probeBoxLab(): Promise<BoxLabProbe> {
  return new Promise((resolve) => {
    if (!fs.existsSync(BOX)) { resolve({ ok: false, reason: `${BOX} is missing` }); return; }
    const name = `lab-probe${process.pid}`;
    const cmd = boxRunCommand(BOX, name);
    const args = cmd.args.filter((a) => a !== '-it');
    execFile(cmd.file, [...args, 'echo', 'isolab-probe-ok'], { timeout: 120_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      execFile(BOX, ['rm', '-f', name], { timeout: 30_000 }, () => {
        if (!error && stdout.includes('isolab-probe-ok')) resolve({ ok: true, reason: '' });
        else {
          const last = (stderr || stdout || (error?.message ?? '')).trim().split('\n').pop();
          resolve({ ok: false, reason: `\`box run --lab\` does not work yet: ${last}` });
        }
      });
    });
  });
}

/** Resident memory of a process in bytes, from /proc. */
export function rssOf(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Headless Chromium with a fresh profile of its own (cookies and sessionStorage start empty).
 * `locale` sets the browser's language: navigator.languages and the Accept-Language header.
 */
export async function launchChromium(tag: string, viewport = { width: 1400, height: 900 }, locale?: string): Promise<BrowserContext> {
  const { chromium } = await import('playwright-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), `isolab-chromium-${tag}-`));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport,
    ...(locale ? { locale } : {}),
  });
  // The profile goes with the browser (once it has exited: it writes there to the end), so a
  // test run leaves nothing in /tmp.
  const close = context.close.bind(context);
  context.close = async (...args) => {
    await close(...args);
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return context;
}

/** Why the browser tests cannot run here (no Chromium, no box --lab), or ''. */
export async function browserTestsMissing(): Promise<string> {
  if (!fs.existsSync(CHROMIUM)) return `${CHROMIUM} is not installed (apt-get install chromium)`;
  const box = await boxLabAvailable();
  return box.ok ? '' : box.reason;
}
