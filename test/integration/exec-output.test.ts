// execInContainer's output pipes, read late. Node resumes a child's unread stdout/stderr
// pipes once the child has exited (child_process flushStdio): a reader that attached only
// then got neither the data nor the 'end' it waits for. The engine's exec (docker exec)
// attached after awaiting the start, so a quick `echo` sometimes finished first, and the
// CLI hung with its output half there (about 1 run in 20). Here the reader attaches after
// the process has exited and its pipes have closed, every time: the output must still be
// all there, and its end must come.

import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execInContainer } from '../../runtime/src/container/exec.ts';
import { realSys } from '../../runtime/src/sys/sys.ts';
import { nullTrace } from '../../runtime/src/sys/trace.ts';
import { needs } from '../support/requires.ts';
import { box, rootReason, tempBoxRoot } from './helpers.ts';

needs(rootReason).describe('execInContainer: output read after the process has exited', () => {
  let root: string;
  let before: string | undefined;

  beforeAll(() => {
    root = tempBoxRoot('exec-output');
    before = process.env.BOX_ROOT;
    process.env.BOX_ROOT = root; // execInContainer finds the container under $BOX_ROOT
    const r = box(root, ['run', '-d', '--name', 'late-reader', 'busybox', 'sleep', '300']);
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);
  afterAll(() => {
    box(root, ['rm', '-f', 'late-reader']);
    if (before === undefined) delete process.env.BOX_ROOT;
    else process.env.BOX_ROOT = before;
    fs.rmSync(root, { recursive: true, force: true });
  });

  const readAll = (s: Readable | null) => new Promise<string>((resolve, reject) => {
    if (!s) return reject(new Error('no pipe'));
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => { text += d; });
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });

  // The child's own pipes have closed: whatever Node does with them at exit is done.
  const pipesClosed = (child: ChildProcess) => Promise.all([child.stdout, child.stderr].map((s) =>
    !s || s.closed ? undefined : new Promise((r) => s.once('close', r))));

  it('stdout, stderr and their ends all arrive though the reader comes after the exit', async () => {
    for (let i = 0; i < 5; i++) {
      const { exited, child, output } = await execInContainer(realSys(nullTrace), 'late-reader', ['sh', '-c', `echo out ${i}; echo err ${i} >&2; exit 3`], {
        interactive: false, tty: false, env: [], stdio: ['ignore', 'pipe', 'pipe'],
      });
      expect(await exited).toBe(3);
      await pipesClosed(child);
      expect(await Promise.all([readAll(output.stdout), readAll(output.stderr)])).toEqual([`out ${i}\n`, `err ${i}\n`]);
    }
  }, 60_000);

  it('a process with no output: both ends still come', async () => {
    const { exited, child, output } = await execInContainer(realSys(nullTrace), 'late-reader', ['true'], {
      interactive: false, tty: false, env: [], stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(await exited).toBe(0);
    await pipesClosed(child);
    expect(await Promise.all([readAll(output.stdout), readAll(output.stderr)])).toEqual(['', '']);
  }, 60_000);
});
