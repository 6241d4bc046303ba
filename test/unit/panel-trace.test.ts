// The kernel panel's trace reading (src/server/panel-trace.ts): a file that box appends JSON
// lines to, in a directory a sandbox's root owns and may fill with anything.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { LIMITS, parseTraceLine, TraceFileReader, TraceRecord } from '../../src/server/panel-trace.ts';
import type { PanelTraceEvent } from '../../src/server/panel-trace.ts';
import { Trace } from '../../runtime/src/sys/trace.ts';

let dir = '';
let file = '';
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-panel-trace-'));
  file = path.join(dir, 'trace.jsonl');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const line = (o: Record<string, unknown>) => JSON.stringify(o) + '\n';
const unshare = { kind: 'syscall', who: 'init', call: 'unshare', args: 'CLONE_NEWNS|CLONE_NEWPID', result: 0, t: 12.5, invocation: '7-1' };

describe('parseTraceLine', () => {
  it("reads what box's Trace writes: the command line, system calls, writes and notes", () => {
    // The real writer: runtime/src/sys/trace.ts with a sink file, as box in a sandbox uses it.
    const trace = new Trace({ sinkPath: file, command: ['box', 'run', '--rm', '--memory', '32m', 'busybox', 'true'] });
    trace.record({ kind: 'write', path: '/sys/fs/cgroup/memory/box/box-1/memory.limit_in_bytes', value: '33554432' });
    trace.record({ kind: 'syscall', call: 'unshare', args: 'CLONE_NEWNS|CLONE_NEWPID', result: 0 }, 'init');
    trace.record({ kind: 'syscall', call: 'pivot_root', args: '".", "."', result: -1, errno: 'EINVAL' }, 'init');
    trace.record({ kind: 'note', text: 'mkdir /sys/fs/cgroup/memory/box' });
    const events = fs.readFileSync(file, 'utf8').trim().split('\n').map(parseTraceLine);
    expect(events.map((e) => e?.kind)).toEqual(['command', 'write', 'syscall', 'syscall', 'note']);
    expect(new Set(events.map((e) => e?.inv))).toEqual(new Set([trace.invocation]));
    expect(events[0]).toMatchObject({ kind: 'command', who: 'box', argv: ['box', 'run', '--rm', '--memory', '32m', 'busybox', 'true'] });
    expect(events[1]).toMatchObject({ kind: 'write', path: '/sys/fs/cgroup/memory/box/box-1/memory.limit_in_bytes', value: '33554432' });
    expect(events[2]).toMatchObject({ kind: 'syscall', who: 'init', call: 'unshare', args: 'CLONE_NEWNS|CLONE_NEWPID', result: 0 });
    expect(events[3]).toMatchObject({ call: 'pivot_root', result: -1, errno: 'EINVAL' });
    expect(events[4]).toMatchObject({ kind: 'note', text: 'mkdir /sys/fs/cgroup/memory/box' });
  });

  it.each([
    ['not json at all'],
    ['{"kind":"syscall"'],
    ['[1,2,3]'],
    ['"a string"'],
    ['{"kind":"exec","text":"x"}'],
    ['{"kind":"syscall","call":"rm -rf /","args":"","result":0}'],
    ['{"kind":"syscall","call":"kill","args":"1, 9"}'],
    ['{"kind":"syscall","call":"kill","args":"1, 9","result":"0"}'],
    ['{"kind":"write","path":42,"value":"1"}'],
    ['{"kind":"command","argv":[]}'],
    ['{"kind":"command","argv":["box",{"x":1}]}'],
    ['{"kind":"note"}'],
  ])('drops a line that is not an event: %s', (text) => {
    expect(parseTraceLine(text)).toBeNull();
  });

  it('keeps only safe values in bounded fields', () => {
    const e = parseTraceLine(JSON.stringify({
      kind: 'syscall', who: '<script>', call: 'mount', args: 'x'.repeat(5000), result: 0,
      errno: 'not an errno', invocation: '../../etc', t: -5, extra: 'ignored',
    })) as Extract<PanelTraceEvent, { kind: 'syscall' }>;
    expect(e.who).toBe('box');
    expect(e.inv).toBe('');
    expect(e.t).toBe(0);
    expect(e.errno).toBeUndefined();
    expect(e.args.length).toBe(LIMITS.text);
    expect(e).not.toHaveProperty('extra');
    expect(parseTraceLine(JSON.stringify({ kind: 'command', argv: Array(500).fill('a') }))).toMatchObject({ argv: Array(LIMITS.argv).fill('a') });
  });
});

describe('TraceFileReader', () => {
  it('returns nothing for a file that is not there yet', () => {
    expect(new TraceFileReader(file).read()).toEqual({ lines: [], more: false });
  });

  it('reads what was appended since the last read, holding back a line cut in two', () => {
    const r = new TraceFileReader(file);
    fs.writeFileSync(file, line(unshare) + '{"kind":"note","te');
    expect(r.read().lines.map(parseTraceLine).map((e) => e?.kind)).toEqual(['syscall']);
    expect(r.read().lines).toEqual([]);
    fs.appendFileSync(file, 'xt":"mkdir /x","who":"box","t":1}\n');
    expect(r.read().lines.map(parseTraceLine)).toMatchObject([{ kind: 'note', text: 'mkdir /x' }]);
  });

  it('does not break a UTF-8 character cut by the end of a read', () => {
    const r = new TraceFileReader(file);
    const text = line({ kind: 'note', who: 'box', t: 1, text: '한국어 컨테이너' });
    const bytes = Buffer.from(text);
    fs.writeFileSync(file, bytes.subarray(0, 30)); // inside a 3-byte character
    expect(r.read().lines).toEqual([]);
    fs.appendFileSync(file, bytes.subarray(30));
    expect(r.read().lines.map(parseTraceLine)).toMatchObject([{ text: '한국어 컨테이너' }]);
  });

  it('skips junk lines between good ones and an overlong line whole', () => {
    const r = new TraceFileReader(file);
    fs.writeFileSync(file, 'garbage\n\n\0\0\0\n' + line(unshare) + '{' + 'x'.repeat(LIMITS.lineBytes + 10));
    expect(r.read().lines.map(parseTraceLine).filter(Boolean)).toHaveLength(1);
    // The overlong line goes on in the next read; its end and the good line after it.
    fs.appendFileSync(file, 'y'.repeat(1000) + '}\n' + line({ ...unshare, call: 'setns' }));
    const lines = r.read().lines;
    expect(lines.map(parseTraceLine)).toMatchObject([{ call: 'setns' }]);
    expect(r.dropped).toBeGreaterThan(LIMITS.lineBytes);
  });

  it('reads a big append in bounded steps and says more is waiting', () => {
    const r = new TraceFileReader(file);
    const one = line(unshare);
    const count = Math.ceil((LIMITS.readBytes * 2.5) / one.length);
    fs.writeFileSync(file, one.repeat(count));
    let total = 0;
    let turns = 0;
    for (let more = true; more; turns++) {
      const got = r.read();
      total += got.lines.length;
      more = got.more;
    }
    expect(turns).toBe(3);
    expect(total).toBe(count);
  });

  it('starts again from the top of a file that was truncated or replaced', () => {
    const r = new TraceFileReader(file);
    fs.writeFileSync(file, line(unshare).repeat(3));
    expect(r.read().lines).toHaveLength(3);
    fs.writeFileSync(file, line({ ...unshare, call: 'mount' })); // truncated and rewritten
    expect(r.read().lines.map(parseTraceLine)).toMatchObject([{ call: 'mount' }]);
    // Replaced by another file (rotation) that is already longer than what we read.
    const other = path.join(dir, 'new.jsonl');
    fs.writeFileSync(other, line({ ...unshare, call: 'pivot_root' }).repeat(4));
    fs.renameSync(other, file);
    expect(r.read().lines.map(parseTraceLine).map((e) => (e as { call?: string } | null)?.call)).toEqual(Array(4).fill('pivot_root'));
  });

  it('empties a file grown past the limit instead of reading it', () => {
    const r = new TraceFileReader(file);
    fs.writeFileSync(file, Buffer.alloc(LIMITS.fileBytes + 1, 'y'));
    expect(r.read().lines).toEqual([]);
    expect(fs.statSync(file).size).toBe(0);
    expect(r.dropped).toBe(LIMITS.fileBytes + 1);
    // Writers append (O_APPEND), so they carry on at the new end.
    fs.appendFileSync(file, line(unshare));
    expect(r.read().lines).toHaveLength(1);
  });

  it('does not empty a file that has another name too (a hard link made beside it)', () => {
    const other = path.join(dir, 'other');
    fs.writeFileSync(other, Buffer.alloc(LIMITS.fileBytes + 1, 'y'));
    fs.linkSync(other, file);
    expect(new TraceFileReader(file).read().lines).toEqual([]);
    expect(fs.statSync(other).size).toBe(LIMITS.fileBytes + 1);
  });

  it('does not follow a symlink the sandbox put in its place, nor read a directory or a FIFO', () => {
    const secret = path.join(dir, 'host-secret');
    fs.writeFileSync(secret, line({ ...unshare, call: 'secret' }));
    fs.symlinkSync(secret, file);
    expect(new TraceFileReader(file).read()).toEqual({ lines: [], more: false });
    fs.unlinkSync(file);
    fs.mkdirSync(file);
    expect(new TraceFileReader(file).read()).toEqual({ lines: [], more: false });
    fs.rmdirSync(file);
    // A FIFO nobody writes to: opening it for reading would block without O_NONBLOCK, for
    // ever. Read in a child process, so that a hang is a killed child (a failure), not a hung run.
    execFileSync('mkfifo', [file]);
    const reader = path.resolve(import.meta.dirname, '../../src/server/panel-trace.ts');
    const read = spawnSync(process.execPath, ['--input-type=module', '-e',
      `import { TraceFileReader } from ${JSON.stringify(reader)}; process.stdout.write(JSON.stringify(new TraceFileReader(process.argv[1]).read()));`, file],
    { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
    expect(read.signal, 'the read of a FIFO hung (killed)').toBe(null);
    expect(JSON.parse(read.stdout)).toEqual({ lines: [], more: false });
  });
});

describe('TraceRecord', () => {
  const ev = (inv: string, i: number): PanelTraceEvent => ({ inv, kind: 'note', who: 'box', t: i, text: `step ${i}` });

  it('keeps events in arrival order, command by command', () => {
    const r = new TraceRecord();
    r.add(ev('a', 1));
    r.add(ev('b', 1));
    r.add(ev('a', 2)); // a run -d monitor writing while the next command runs
    expect(r.events().map((e) => `${e.inv}${e.t}`)).toEqual(['a1', 'a2', 'b1']);
  });

  it('forgets the oldest commands past the limits, never the one being written', () => {
    const r = new TraceRecord({ maxInvocations: 3, maxEvents: 10, maxPerInvocation: 6 });
    for (const inv of ['a', 'b', 'c', 'd']) r.add(ev(inv, 0));
    expect(new Set(r.events().map((e) => e.inv))).toEqual(new Set(['b', 'c', 'd']));
    for (let i = 1; i < 10; i++) r.add(ev('d', i));
    // d holds 6 (its own limit), the rest were counted as dropped; b went to make room.
    expect(r.events().filter((e) => e.inv === 'd')).toHaveLength(6);
    expect(r.size).toBeLessThanOrEqual(10);
    expect(r.add(ev('d', 99))).toBe(false);
  });
});
