// parseSize, parseCpus and the weight -> shares mapping: what `--memory`, `--cpus` and
// `--cpu-weight` turn into, and the one-line errors a user sees for bad values.

import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseCpus, parseSize, weightToShares } from '../../runtime/src/cgroups/index.ts';
import { UserError } from '../../runtime/src/sys/errors.ts';

describe('parseSize', () => {
  it.each([
    ['64m', 64 * 1024 ** 2],
    ['1g', 1024 ** 3],
    ['512k', 512 * 1024],
    ['100', 100],
    ['64M', 64 * 1024 ** 2],
    ['64mb', 64 * 1024 ** 2],
    ['64MiB', 64 * 1024 ** 2],
    ['1.5g', 1.5 * 1024 ** 3],
    [' 32m ', 32 * 1024 ** 2],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it('names the flag, the bad value and an example for junk', () => {
    expect(() => parseSize('12x')).toThrow(UserError);
    expect(() => parseSize('12x')).toThrow("--memory: '12x' is not a size; use a number with k, m or g, e.g. 64m");
  });

  it.each(['', 'm', '-5m', '1e3', '64 mm', '0x10', 'NaN'])('refuses %j', (text) => {
    expect(() => parseSize(text)).toThrow(UserError);
  });

  it('refuses zero, and uses the flag it is given', () => {
    expect(() => parseSize('0')).toThrow("--memory: '0' is zero");
    expect(() => parseSize('9q', '--shm-size')).toThrow("--shm-size: '9q' is not a size");
  });

  it('refuses sizes too large to count in bytes exactly', () => {
    expect(() => parseSize('99999999999t')).toThrow(UserError);
  });
});

describe('parseCpus', () => {
  it('0.5 is 50 ms of every 100 ms', () => {
    expect(parseCpus('0.5')).toEqual({ quotaUs: 50_000, periodUs: 100_000 });
  });

  it('0.2 and 1 and .25', () => {
    expect(parseCpus('0.2')).toEqual({ quotaUs: 20_000, periodUs: 100_000 });
    expect(parseCpus('1')).toEqual({ quotaUs: 100_000, periodUs: 100_000 });
    expect(parseCpus('.25')).toEqual({ quotaUs: 25_000, periodUs: 100_000 });
  });

  it.each(['0', '-1', 'abc', '', '1/2', '0.5.5'])('refuses %j with the fix', (text) => {
    expect(() => parseCpus(text)).toThrow(UserError);
    expect(() => parseCpus(text)).toThrow(/--cpus: .* use e\.g\. 0\.5/);
  });

  it("refuses a quota below the kernel's 1 ms", () => {
    expect(() => parseCpus('0.001')).toThrow("below the kernel's smallest quota");
  });

  it('refuses more CPUs than the machine has, naming how many it has', () => {
    const n = os.availableParallelism();
    expect(() => parseCpus(String(n + 1))).toThrow(`more than the ${n} CPUs this machine has`);
    expect(parseCpus(String(n)).quotaUs).toBe(n * 100_000);
  });
});

describe('weightToShares (v2 cpu.weight -> v1 cpu.shares)', () => {
  it('maps the defaults onto each other and keeps ratios', () => {
    expect(weightToShares(100)).toBe(1024);
    expect(weightToShares(200)).toBe(2048);
    expect(weightToShares(50)).toBe(512);
    expect(weightToShares(10_000)).toBe(102_400);
  });

  it("stays inside v1's range of 2..262144", () => {
    expect(weightToShares(1)).toBe(10);
    expect(weightToShares(0)).toBe(2);
  });
});
