// The kernel panel's page-side logic without a page (src/scripts/panel-format.ts): grouping
// trace events into commands, the plotted series, scales and SVG paths, and the words.
import { describe, expect, it } from 'vitest';
import {
  areaPath, bytes, commandLine, CommandLog, linePath, niceCeil, scaleTop, SeriesSet, shortIds,
  splitPath, valueNote, WINDOW_MS,
} from '../../src/scripts/panel-format.ts';

const cmd = (inv: string, ...argv: string[]) => ({ inv, kind: 'command', who: 'box', t: 0, argv: ['box', ...argv] });
const call = (inv: string, name: string) => ({ inv, kind: 'syscall', who: 'init', t: 1, call: name, args: '', result: 0 });

describe('CommandLog', () => {
  it('groups events by the box process that wrote them, newest command first', () => {
    const log = new CommandLog();
    log.add([cmd('a', 'run', '-d', 'busybox', 'sleep', '100'), call('a', 'unshare')]);
    log.add([cmd('b', 'ps'), call('a', 'mount')]); // the run -d monitor goes on writing
    expect(log.list().map((c) => c.inv)).toEqual(['b', 'a']);
    expect(log.get('a')!.events.map((e) => e.kind)).toEqual(['command', 'syscall', 'syscall']);
    // `box ps` asked the kernel for nothing: the panel keeps showing the run.
    expect(log.latest()!.inv).toBe('a');
    log.add([call('b', 'kill')]);
    expect(log.latest()!.inv).toBe('b');
  });

  it('keeps a command whose first line it never saw, and ignores what is not an event', () => {
    const log = new CommandLog();
    const changed = log.add([call('x', 'pivot_root'), null, 42, 'text', { kind: 'syscall' }]);
    expect(changed.size).toBe(1);
    expect(log.get('x')!.argv).toBeNull();
    expect(commandLine(null)).toMatch(/earlier box command/);
  });

  it('forgets the oldest commands past its limit', () => {
    const log = new CommandLog(3);
    for (const inv of ['a', 'b', 'c', 'd']) log.add([cmd(inv, 'ps')]);
    expect(log.list().map((c) => c.inv)).toEqual(['d', 'c', 'b']);
  });
});

describe('words and numbers', () => {
  it('quotes arguments as a shell would need them', () => {
    expect(commandLine(['box', 'run', '--rm', '--memory', '32m', 'busybox', 'sh', '-c', "x=$(yes); echo 'hi'"]))
      .toBe(`box run --rm --memory 32m busybox sh -c 'x=$(yes); echo '\\''hi'\\'''`);
  });

  it('puts limits in units a reader can picture', () => {
    expect(bytes(33554432)).toBe('32 MiB');
    expect(bytes(1536)).toBe('1.5 KiB');
    expect(bytes(512)).toBe('512 B');
    expect(bytes(null)).toBe('–');
    expect(valueNote('memory.limit_in_bytes', '33554432')).toBe('32 MiB');
    expect(valueNote('memory.max', '67108864')).toBe('64 MiB');
    expect(valueNote('cpu.max', '50000 100000')).toBe('0.5 CPU');
    expect(valueNote('cgroup.procs', '4242')).toBe('');
  });

  it('shortens container ids and digests, and splits a kernel path', () => {
    const id = 'a'.repeat(12) + 'b'.repeat(52);
    expect(shortIds(`/var/lib/box/containers/${id}/rootfs`)).toBe('/var/lib/box/containers/aaaaaaaaaaaa…/rootfs');
    expect(splitPath('/sys/fs/cgroup/memory/box/box-1/memory.limit_in_bytes')).toEqual({ dir: '/sys/fs/cgroup/memory/box/box-1/', file: 'memory.limit_in_bytes' });
  });
});

describe('SeriesSet', () => {
  it('keeps a window of samples per cgroup and marks the ones that ended', () => {
    const set = new SeriesSet();
    set.add(0, [{ id: '', mem: 10, memMax: 100, cpu: null, cpuMax: 1 }, { id: 'box/box-1', mem: 5, memMax: 32, cpu: 0.5, cpuMax: 0.5 }]);
    set.add(250, [{ id: '', mem: 40, memMax: 100, cpu: 0.1, cpuMax: 1 }, { id: 'box/box-1', mem: 31, memMax: 32, cpu: 0.5, cpuMax: 0.5, oom: 0 }]);
    set.add(500, [{ id: '', mem: 12, memMax: 100, cpu: 0.1, cpuMax: 1 }]); // box-1 is gone
    const [sandbox, hog] = set.list();
    expect(sandbox!.id).toBe('');
    expect(hog!.ended).toBe(true);
    expect(hog!.memHigh).toBe(31);
    expect(sandbox!.memHigh).toBe(40);
    // Older than the window: samples go, and so does an ended cgroup.
    set.add(WINDOW_MS + 600, [{ id: '', mem: 1, memMax: 100, cpu: 0, cpuMax: 1 }]);
    expect(set.list().map((s) => s.id)).toEqual(['']);
    expect(set.list()[0]!.samples.map((s) => s.t)).toEqual([WINDOW_MS + 600]);
  });
});

describe('plot geometry', () => {
  it('scales to the limit so that the limit line sits near the top', () => {
    expect(scaleTop([10, 20], 32, 1)).toBeCloseTo(32 * 1.08);
    // Data above a limit that was lowered: the scale still shows all of it.
    expect(scaleTop([50], 32, 1)).toBeCloseTo(54);
    // No limit: a round number above the data.
    expect(scaleTop([0.3], null, 0.25)).toBe(0.5);
    expect(niceCeil(7)).toBe(10);
    expect(niceCeil(0.0003)).toBe(0.0005);
  });

  it('draws time left to right and value bottom to top, breaking at gaps', () => {
    const pts = [{ t: 0, v: 0 }, { t: 50, v: 50 }, { t: 75, v: null }, { t: 100, v: 100 }];
    expect(linePath(pts, 0, 100, 100, 200, 100)).toBe('M0.0 100.0L100.0 50.0M200.0 0.0');
    expect(areaPath(pts.slice(0, 2), 0, 100, 100, 200, 100)).toBe('M0.0 100L0.0 100.0L100.0 50.0L100.0 100Z');
    // A value above the top is drawn at the top, not outside the plot.
    expect(linePath([{ t: 0, v: 500 }], 0, 100, 100, 200, 100)).toBe('M0.0 0.0');
  });
});
