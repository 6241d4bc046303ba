// container/log.ts: a detached container's log as json-file records, stdout and stderr apart;
// readers take whole records only, and an old raw container.log still reads (as stdout).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { appendLog, JSON_LOG, logPathOf, openLog, readLog, records, tailOf } from '../../runtime/src/container/log.ts';

let root: string;
let before: string | undefined;
const id = 'a'.repeat(64);
const dir = () => path.join(root, 'containers', id);
const text = (entries: { stream: string; data: Buffer }[]) => entries.map((e) => `${e.stream}:${e.data.toString()}`);

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'box-log-'));
  before = process.env.BOX_ROOT;
  process.env.BOX_ROOT = root;
  fs.mkdirSync(dir(), { recursive: true });
});
afterEach(() => {
  if (before === undefined) delete process.env.BOX_ROOT;
  else process.env.BOX_ROOT = before;
  fs.rmSync(root, { recursive: true, force: true });
});

it('one record a line, as json-file writes them; a chunk without a newline is a record of its own', () => {
  const lines = records('stderr', Buffer.from('a\nb\nprompt> '), new Date('2026-12-07T03:40:00.123Z')).trim().split('\n').map((l) => JSON.parse(l));
  expect(lines).toEqual([
    { log: 'a\n', stream: 'stderr', time: '2026-12-07T03:40:00.123000000Z' },
    { log: 'b\n', stream: 'stderr', time: '2026-12-07T03:40:00.123000000Z' },
    { log: 'prompt> ', stream: 'stderr', time: '2026-12-07T03:40:00.123000000Z' },
  ]);
});

it('reads back each stream in the order written, only whole records, and moves on from where it stopped', () => {
  const fd = openLog(id);
  appendLog(fd, 'stdout', Buffer.from('out 1\n'));
  appendLog(fd, 'stderr', Buffer.from('err 1\n'));
  const cursor = { file: logPathOf(id), offset: 0 };
  expect(text(readLog(cursor))).toEqual(['stdout:out 1\n', 'stderr:err 1\n']);
  fs.writeSync(fd, '{"log":"half'); // a record still being written is not read
  expect(readLog(cursor)).toEqual([]);
  fs.writeSync(fd, ' done\\n","stream":"stdout","time":"x"}\n');
  expect(text(readLog(cursor))).toEqual(['stdout:half done\n']);
  fs.closeSync(fd);
  expect(text(readLog(tailOf(id, 2)))).toEqual(['stderr:err 1\n', 'stdout:half done\n']);
  expect(readLog(tailOf(id, 0))).toEqual([]);
  expect(text(readLog(tailOf(id, 10)))).toHaveLength(3);
});

it('an old container\'s raw container.log reads as stdout, and is turned into records when it starts again', () => {
  fs.writeFileSync(path.join(dir(), 'container.log'), 'old line 1\nold line 2\n');
  expect(logPathOf(id)).toBe(path.join(dir(), 'container.log'));
  expect(text(readLog({ file: logPathOf(id), offset: 0 }))).toEqual(['stdout:old line 1\nold line 2\n']);
  expect(text(readLog(tailOf(id, 1)))).toEqual(['stdout:old line 2\n']);
  const fd = openLog(id); // box start of that container
  appendLog(fd, 'stderr', Buffer.from('new\n'));
  fs.closeSync(fd);
  expect(fs.existsSync(path.join(dir(), 'container.log'))).toBe(false);
  expect(logPathOf(id)).toBe(path.join(dir(), JSON_LOG));
  expect(text(readLog({ file: logPathOf(id), offset: 0 }))).toEqual(['stdout:old line 1\n', 'stdout:old line 2\n', 'stderr:new\n']);
});
