// What the image commands print: sizes and times as Docker writes them, the table layout,
// and the arithmetic of the shared-layers footer of `box images`.

import { describe, expect, it } from 'vitest';
import { ago, formatTable, humanDuration, humanSize, truncate } from '../../runtime/src/cli/format.ts';
import { layerTotals, shellWords } from '../../runtime/src/cli/image-commands.ts';

describe('humanSize', () => {
  it('uses decimal units and three significant digits, as docker images does', () => {
    expect(humanSize(0)).toBe('0B');
    expect(humanSize(12)).toBe('12B');
    expect(humanSize(999)).toBe('999B');
    expect(humanSize(1234)).toBe('1.23kB');
    expect(humanSize(4_261_990)).toBe('4.26MB');
    expect(humanSize(4_200_000)).toBe('4.2MB');
    expect(humanSize(772_000)).toBe('772kB');
    expect(humanSize(1_500_000_000)).toBe('1.5GB');
  });

  it('moves up a unit when rounding reaches 1000 (docker would print 1e+03kB)', () => {
    expect(humanSize(999_999)).toBe('1MB');
    expect(humanSize(999_500)).toBe('1MB');
    expect(humanSize(999_400)).toBe('999kB');
  });
});

describe('humanDuration', () => {
  it('says it the way docker does', () => {
    expect(humanDuration(0.4)).toBe('Less than a second');
    expect(humanDuration(1)).toBe('1 second');
    expect(humanDuration(42)).toBe('42 seconds');
    expect(humanDuration(90)).toBe('About a minute');
    expect(humanDuration(59 * 60)).toBe('59 minutes');
    expect(humanDuration(3600)).toBe('About an hour');
    expect(humanDuration(47 * 3600)).toBe('47 hours');
    expect(humanDuration(3 * 86400)).toBe('3 days');
    expect(humanDuration(20 * 86400)).toBe('2 weeks');
    expect(humanDuration(100 * 86400)).toBe('3 months');
    expect(humanDuration(3 * 365 * 86400)).toBe('3 years');
  });

  it('ago: N/A for an image without a creation time (docker shows the same)', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(ago('2024-12-31T22:00:00Z', now)).toBe('2 hours ago');
    expect(ago('1970-01-01T00:00:00Z', now)).toBe('55 years ago');
    expect(ago(undefined, now)).toBe('N/A');
    expect(ago('not a date', now)).toBe('N/A');
  });
});

describe('formatTable', () => {
  it('pads each column to its widest cell plus three spaces, with no trailing blanks', () => {
    const text = formatTable(['REPOSITORY', 'TAG', 'SIZE'], [['busybox', 'latest', '2.13MB'], ['a-much-longer-name', 'v1', '0B']]);
    expect(text).toBe(
      'REPOSITORY           TAG      SIZE\n' +
      'busybox              latest   2.13MB\n' +
      'a-much-longer-name   v1       0B\n',
    );
  });

  it('an empty list is the header alone', () => {
    expect(formatTable(['IMAGE', 'SIZE'], [])).toBe('IMAGE   SIZE\n');
  });
});

describe('truncate and shellWords', () => {
  it('truncates to the width with an ellipsis, as docker history does at 45', () => {
    expect(truncate('short', 45)).toBe('short');
    expect(truncate('x'.repeat(50), 45)).toBe(`${'x'.repeat(44)}…`);
    expect(truncate('x'.repeat(50), 45)).toHaveLength(45);
  });

  it('quotes what a shell would split or expand', () => {
    expect(shellWords(['sh', '-c', 'echo hi > /f'])).toBe("sh -c 'echo hi > /f'");
    expect(shellWords(['echo', "it's"])).toBe("echo 'it'\\''s'");
    expect(shellWords(['ls', '-l', '/usr/bin'])).toBe('ls -l /usr/bin');
  });
});

describe('the shared-layers footer', () => {
  const L = (diffId: string, size: number) => ({ diffId, size });

  it('counts each layer once, and as shared the layers two images or more use', () => {
    const t = layerTotals([
      { id: 'base', layers: [L('a', 1000)] },
      { id: 'app1', layers: [L('a', 1000), L('b', 200)] },
      { id: 'app2', layers: [L('a', 1000), L('c', 30)] },
    ]);
    expect(t).toEqual({ images: 3, total: 1230, shared: 1000 });
  });

  it('two tags of one image are one image, and its layers are not "shared"', () => {
    const t = layerTotals([
      { id: 'x', layers: [L('a', 10)] },
      { id: 'x', layers: [L('a', 10)] },
    ]);
    expect(t).toEqual({ images: 1, total: 10, shared: 0 });
  });
});
