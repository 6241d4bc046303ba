// One reader's terminal: a `box` lab container behind a pseudo-terminal (node-pty).
// The pty gives the shell inside a real terminal (job control, line editing, colours);
// node-pty forks and execs in C, which is the only safe way for Node to make a process.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import pty from 'node-pty';
import type { IPty } from 'node-pty';
import type { KernelView } from './panel.ts';
import { nameClaimed } from '../../runtime/src/container/state.ts';
import { panelDirBase, makePanelDir, removePanelDir, sweepPanelDirs, PANEL_MOUNT, PANEL_TRACE_FILE, chownPanelDir } from './panel-dir.ts';

export interface ExecResult {
  code: number | null;
  /** stdout then stderr, at most 64 KiB. */
  output: string;
  timedOut: boolean;
}

/** A pseudo-terminal with a shell behind it: the sandbox's own, or another one in it. */
export interface Shell {
  write(data: Buffer | string): void;
  resize(cols: number, rows: number): void;
  /** Stop reading the pty: the program inside blocks once the kernel's pty buffer is full. */
  pause(): void;
  resume(): void;
  onData(listener: (chunk: Buffer) => void): void;
  onExit(listener: (code: number) => void): void;
  /** Hang up its terminal (SIGHUP, then SIGKILL); for the sandbox, also remove it. Safe to call twice. */
  destroy(): Promise<void>;
}

export interface Sandbox extends Shell {
  readonly name: string;
  /** Run `sh -c <script>` inside the sandbox (not on its terminal). */
  exec(script: string, timeoutMs: number): Promise<ExecResult>;
  /** Kill everything in it and remove it; safe to call twice. */
  destroy(): Promise<void>;
  /**
   * Another terminal in the same sandbox (the page's terminal tabs): a login shell with a pty
   * of its own in the sandbox's namespaces and cgroup, so it sees the first shell's processes.
   */
  openShell(cols: number, rows: number): Shell;
  /** What the kernel panel reads about it (absent: no panel for this sandbox). */
  readonly kernel?: KernelView;
}

export interface SandboxDriver {
  readonly kind: string;
  start(name: string, cols: number, rows: number): Sandbox;
}

/** "lab-" and 8 random hex digits: unique enough per server, short enough to type. */
export function sandboxName(): string {
  return `lab-${randomBytes(4).toString('hex')}`;
}

export const REPO = path.resolve(import.meta.dirname, '..', '..');
export const BOX = path.join(REPO, 'runtime', 'bin', 'box');

/**
 * THE command that makes a lab sandbox (the contract in one place; adjust flags here).
 * --lab: a user namespace (root inside is an unprivileged uid outside) and new mnt, pid,
 * net, ipc, uts and cgroup namespaces, the host's /usr read-only, box on the PATH.
 */
export function boxRunCommand(box: string, name: string, panelDir?: string, opts: SandboxLimits = {}): { file: string; args: string[] } {
  // The kernel panel: a host directory of the sandbox's own, where box inside writes the
  // system calls it makes (BOX_TRACE_FILE), which the server reads (panel.ts).
  const panel = panelDir ? ['-v', `${panelDir}:${PANEL_MOUNT}`, '-e', `BOX_TRACE_FILE=${PANEL_TRACE_FILE}`] : [];
  return {
    file: box,
    args: ['run', '-it', '--rm', '--name', name, '--lab', '--hostname', 'lab',
      '--memory', opts.memory ?? '512m', '--pids-limit', '512', '--cpus', opts.cpus ?? '1',
      // Everything it writes goes to a filesystem of this size (box's default for --lab: 1g).
      ...(opts.diskSize ? ['--storage-opt', `size=${opts.diskSize}`] : []),
      // A UTF-8 locale for the reader's shell: without one, readline takes the bytes of 한글
      // typed or pasted for Meta keys (convert-meta) and the line is garbled.
      '-e', 'LANG=C.UTF-8',
      ...panel, 'lab'],
  };
}

/**
 * The sandbox's first process: a shell that starts the reader's login shell again whenever it
 * exits, so one `exit` too many does not end the sandbox (and the containers in it). Before each
 * new shell it prints OSC 777 "isolab;shell-restarted", which the page shows as a line in the
 * reader's language (scripts/terminal/terminal.ts). A new sandbox only comes from the page's
 * Reset. The pause bounds a shell that cannot start at all to five tries a second.
 * `set -m`: the keeper runs each shell as a job of its own and takes the terminal back when
 * it ends. A shell killed outright (a reader's `kill -9 -1`) cannot hand the terminal back
 * itself, and the next one, left in a background process group, read EOF at once: a loop of
 * logins and logouts.
 */
export const SHELL_KEEPER = ['/bin/sh', '-c',
  'set -m; while :; do if [ -x /bin/bash ]; then /bin/bash -l; else /bin/sh -l; fi; printf "\\033]777;isolab;shell-restarted\\007"; sleep 0.2; done'];

/** The sandbox's first process (as the host numbers it) and its cgroup's name, in one line. */
export function boxInspectCommand(box: string, name: string): { file: string; args: string[] } {
  return { file: box, args: ['inspect', '-f', '{{.State.Pid}} {{.Cgroup}}', name] };
}

export function boxExecCommand(box: string, name: string, script: string): { file: string; args: string[] } {
  return { file: box, args: ['exec', name, 'sh', '-c', script] };
}

/**
 * Another login shell in a running sandbox, on a terminal of its own (`-it`): box exec enters
 * the sandbox's namespaces and cgroup, so `ps` there lists what the first shell started.
 * The environment box exec gives it is the container's; TERM and the panel's trace file are
 * said again, as the first shell has them.
 */
export function boxShellCommand(box: string, name: string, panelDir?: string): { file: string; args: string[] } {
  const panel = panelDir ? ['-e', `BOX_TRACE_FILE=${PANEL_TRACE_FILE}`] : [];
  return { file: box, args: ['exec', '-it', '-e', 'TERM=xterm-256color', ...panel, name, '/bin/sh', '-c', LOGIN_SHELL] };
}

/** The reader's login shell: bash where the image has it. */
const LOGIN_SHELL = 'if [ -x /bin/bash ]; then exec /bin/bash -l; else exec /bin/sh -l; fi';

export function boxRemoveCommand(box: string, name: string): { file: string; args: string[] } {
  return { file: box, args: ['rm', '-f', name] };
}

/** The environment of the pty's first process: nothing of the server's own (no token). */
function terminalEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    TERM: 'xterm-256color',
    COLORTERM: 'truecolor',
    LANG: 'C.UTF-8',
    ...extra,
  };
}

/**
 * The environment of the box commands the server runs on the host (run, exec, inspect, rm):
 * the terminal's, and the server's own BOX_ROOT when it has one (a second lab on one host, or
 * a test's engine): box keeps its containers, and finds its engine's socket, under that root.
 * What a sandbox's processes see is box's choice (the image's environment and -e), not this.
 */
function boxEnv(): Record<string, string> {
  const root = process.env.BOX_ROOT;
  return terminalEnv(root ? { BOX_ROOT: root } : {});
}

function run(file: string, args: string[], timeoutMs: number, opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(file, args, {
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
      maxBuffer: 64 * 1024,
      cwd: opts.cwd,
      env: opts.env ?? terminalEnv(),
      encoding: 'utf8',
    }, (error, stdout, stderr) => {
      const output = (stdout + stderr).slice(-64 * 1024);
      if (!error) { resolve({ code: 0, output, timedOut: false }); return; }
      const e = error as NodeJS.ErrnoException & { killed?: boolean; code?: number | string; signal?: string };
      if (e.killed && e.signal === 'SIGKILL') { resolve({ code: null, output, timedOut: true }); return; }
      if (typeof e.code === 'number') { resolve({ code: e.code, output, timedOut: false }); return; }
      resolve({ code: null, output: output || `${path.basename(file)}: ${e.message}`, timedOut: false });
    });
  });
}

/** A node-pty process as a Shell; `cleanup` runs once it is gone (hung up, or exited by itself). */
function ptyShell(proc: IPty, cleanup: () => Promise<void> = async () => {}): Shell {
  let exited = false;
  let destroying: Promise<void> | undefined;
  const exitedPromise = new Promise<void>((resolve) => proc.onExit(() => { exited = true; resolve(); }));
  return {
    write(data) { if (!exited) proc.write(data); },
    resize(cols, rows) { if (!exited) { try { proc.resize(cols, rows); } catch { /* the pty just closed */ } } },
    pause() { if (!exited) proc.pause(); },
    resume() { if (!exited) proc.resume(); },
    onData(listener) { proc.onData((d) => listener(typeof d === 'string' ? Buffer.from(d) : d as unknown as Buffer)); },
    onExit(listener) { proc.onExit((e) => listener(e.signal ? 128 + e.signal : e.exitCode)); },
    destroy() {
      destroying ??= (async () => {
        // Like closing a terminal window: SIGHUP, then SIGKILL if it lingers.
        if (!exited) {
          try { proc.kill('SIGHUP'); } catch { /* gone */ }
          const late = setTimeout(() => { try { proc.kill('SIGKILL'); } catch { /* gone */ } }, 3000);
          await Promise.race([exitedPromise, new Promise((r) => setTimeout(r, 5000))]);
          clearTimeout(late);
        }
        await cleanup();
      })();
      return destroying;
    },
  };
}

/** A node-pty process wrapped as a Sandbox; `cleanup` removes what is left after it. */
function ptySandbox(name: string, proc: IPty, execIn: (script: string, timeoutMs: number) => Promise<ExecResult>,
  openShell: (cols: number, rows: number) => Shell, cleanup: () => Promise<void>, kernel?: KernelView): Sandbox {
  return { ...ptyShell(proc, cleanup), name, kernel, exec: execIn, openShell };
}

/** The real thing: each sandbox is `box run --lab ...` (see boxRunCommand). */
/** What each sandbox may use (npm start --disk-size, --sandbox-memory, --sandbox-cpus). */
export interface SandboxLimits { diskSize?: string; memory?: string; cpus?: string }

export function boxDriver(box = BOX, log: (line: string) => void = console.error, opts: SandboxLimits = {}): SandboxDriver {
  // Panel directories left by a server that was SIGKILLed: box has no container of their name.
  const swept = sweepPanelDirs(panelDirBase(), nameClaimed);
  if (swept.length) log(`removed ${swept.length} panel director${swept.length === 1 ? 'y' : 'ies'} of sandboxes that are gone`);
  return {
    kind: 'box',
    start(name, cols, rows) {
      if (!fs.existsSync(box)) throw new Error(`${box} is missing: the lab needs box (runtime/bin/box)`);
      // Owned by root until the sandbox runs: its root's uid outside is box's choice (a
      // range of its own), read from the sandbox once it runs (locate, chownPanelDir).
      const panelDir = makePanelDir(panelDirBase(), name, null);
      const cmd = boxRunCommand(box, name, panelDir, opts);
      let proc: IPty;
      try {
        proc = pty.spawn(cmd.file, [...cmd.args, ...SHELL_KEEPER], {
          name: 'xterm-256color', cols, rows, cwd: REPO, env: boxEnv(), encoding: null,
        });
      } catch (e) {
        removePanelDir(panelDir);
        throw e;
      }
      let running = true;
      proc.onExit(() => { running = false; });
      let located: Promise<{ pid: number; cgroup: string | null } | null> | undefined;
      const locate = () => located ??= locateBoxSandbox(box, name, panelDir, () => running);
      // Early: once the sandbox runs, its directory is given to its root's real uid.
      setTimeout(() => void locate(), 300).unref();
      return ptySandbox(name, proc,
        (script, timeoutMs) => {
          const c = boxExecCommand(box, name, script);
          return run(c.file, c.args, timeoutMs, { env: boxEnv() });
        },
        (c, r) => {
          const cmd = boxShellCommand(box, name, panelDir);
          return ptyShell(pty.spawn(cmd.file, cmd.args, { name: 'xterm-256color', cols: c, rows: r, cwd: REPO, env: boxEnv(), encoding: null }));
        },
        async () => {
          // `run --rm` removes the container when its shell ends; `rm -f` makes sure, even if
          // box itself was killed. A container already gone is the good outcome: `box rm -f`
          // exits 0 for it (runtime/src/sys/errors.ts: not-found), so only a real failure is logged.
          const c = boxRemoveCommand(box, name);
          const r = await run(c.file, c.args, 30_000, { env: boxEnv() });
          if (r.code !== 0) {
            log(`isolab: removing sandbox ${name} failed: ${r.output.trim().split('\n').pop() ?? r.code}`);
          }
          removePanelDir(panelDir);
        },
        { traceFile: path.join(panelDir, path.basename(PANEL_TRACE_FILE)), locate });
    },
  };
}

/**
 * Find a started sandbox: `box inspect` until it reports a running first process (box
 * writes its state once the container runs, a moment after the pty's process starts).
 * Then make sure its panel directory belongs to the sandbox's root as the host sees it.
 */
async function locateBoxSandbox(box: string, name: string, panelDir: string, alive: () => boolean, timeoutMs = 60_000): Promise<{ pid: number; cgroup: string | null } | null> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 150; alive() && Date.now() < deadline; wait = Math.min(1000, wait * 2)) {
    const c = boxInspectCommand(box, name);
    const r = await run(c.file, c.args, 30_000, { env: boxEnv() });
    const m = /^(\d+) (\S+)$/.exec(r.output.trim());
    if (r.code === 0 && m && Number(m[1]) > 0) {
      const pid = Number(m[1]);
      chownPanelDir(panelDir, pid);
      return { pid, cgroup: m[2] === 'null' ? null : m[2]! };
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
  return null;
}

/** Every process whose session id is `sid` (a pty's shell leads its own session). */
function sessionMembers(sid: number): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the ")" that ends the command name: state ppid pgrp session ...
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[3]) === sid) pids.push(Number(entry));
    } catch { /* exited while we looked */ }
  }
  return pids;
}

/**
 * DEVELOPMENT AND TESTS ONLY: a plain shell on this host in a scratch directory, with no
 * isolation whatsoever. It lets the site and the server's terminal plumbing (flow control,
 * reconnects, protocol) be worked on where box cannot run. main.ts allows it on loopback only.
 */
export function hostShellDriver(shell = '/bin/bash'): SandboxDriver {
  return {
    kind: 'host-shell',
    start(name, cols, rows) {
      const home = fs.mkdtempSync(path.join(os.tmpdir(), `isolab-${name}-`));
      // The kernel panel works here too: box run from this shell writes its trace beside it.
      const traceDir = path.join(home, '.isolab');
      fs.mkdirSync(traceDir, { mode: 0o700 });
      const traceFile = path.join(traceDir, 'trace.jsonl');
      const env = terminalEnv({ HOME: home, PS1: `${name}$ `, BOX_TRACE_FILE: traceFile });
      const args = shell.endsWith('bash') ? ['--norc', '--noprofile', '-i'] : ['-i'];
      const proc = pty.spawn(shell, args, { name: 'xterm-256color', cols, rows, cwd: home, env, encoding: null });
      const sid = proc.pid;
      // The other terminals: more shells in the same directory (on the host, `ps` sees everything anyway).
      const others = new Set<number>();
      return ptySandbox(name, proc,
        (script, timeoutMs) => run('/bin/sh', ['-c', script], timeoutMs, { cwd: home, env }),
        (c, r) => {
          const more = pty.spawn(shell, args, { name: 'xterm-256color', cols: c, rows: r, cwd: home, env, encoding: null });
          others.add(more.pid);
          return ptyShell(more, async () => {
            for (const pid of sessionMembers(more.pid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
            others.delete(more.pid);
          });
        },
        async () => {
          for (const leader of [sid, ...others]) {
            for (const pid of sessionMembers(leader)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
          }
          fs.rmSync(home, { recursive: true, force: true });
        },
        {
          traceFile,
          locate: async () => ({ pid: sid, cgroup: null }),
          processes: () => sessionMembers(sid),
        });
    },
  };
}
