import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { ClassStore, openClassStore } from '../../src/server/store.ts';
import { classStoreSuite } from '../support/class-store-suite.ts';
import { CODE_ALPHABET, CODE_LENGTH, JOIN_RATE, JoinLimiter, cleanName, newJoinCode, normalizeCode } from '../../src/server/class.ts';

const dirs: string[] = [];
function tmpFile(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-store-'));
  dirs.push(d);
  return path.join(d, 'data', 'class.db');
}
afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }); });

classStoreSuite('SQLite', async () => {
  const file = tmpFile();
  const exec = async (sql: string) => {
    const raw = new DatabaseSync(file);
    raw.exec(sql);
    raw.close();
  };
  return {
    open: (now) => ClassStore.sqlite(file, now),
    setVersion: (v) => exec(`UPDATE schema_version SET version = ${v}`),
    exec,
  };
});

describe('the class store setting', () => {
  it('is SQLite in the data directory unless --class-db names a file or a postgres:// URL', async () => {
    const dir = path.dirname(tmpFile());
    const s = await openClassStore(undefined, dir);
    expect(s.db.dialect).toBe('sqlite');
    await s.close();
    expect(fs.existsSync(path.join(dir, 'class.db'))).toBe(true);
    const other = path.join(dir, 'elsewhere', 'x.db');
    await (await openClassStore(other, dir)).close();
    expect(fs.existsSync(other)).toBe(true);
    // Nothing listens on port 1: one line naming the address, its password hidden.
    await expect(openClassStore('postgres://isolab:s3cret@127.0.0.1:1/isolab', dir)).rejects.toThrow(/^cannot reach PostgreSQL at postgres:\/\/isolab:\*\*\*@127\.0\.0\.1:1\/isolab: .*ECONNREFUSED/);
  });
});

describe('join codes and names', () => {
  it('makes codes of the unambiguous alphabet', () => {
    const codes = new Set(Array.from({ length: 200 }, newJoinCode));
    expect(codes.size).toBe(200);
    for (const c of codes) expect(c).toMatch(new RegExp(`^[${CODE_ALPHABET}]{${CODE_LENGTH}}$`));
    expect(normalizeCode(' abcd-efgh jk ')).toBe('ABCDEFGHJK');
  });

  it('cleans names and refuses empty, long or control-character ones', () => {
    expect(cleanName('  Ann   Lee ')).toBe('Ann Lee');
    expect(cleanName('김민수')).toBe('김민수');
    expect(cleanName('')).toBeNull();
    expect(cleanName('x'.repeat(41))).toBeNull();
    expect(cleanName('a\u202eb')).toBeNull();
    expect(cleanName(42)).toBeNull();
  });

  it('rate-limits join attempts per address', () => {
    let t = 0;
    const l = new JoinLimiter(() => t);
    for (let i = 0; i < JOIN_RATE.burst; i++) expect(l.take('10.0.0.1')).toBe(true);
    expect(l.take('10.0.0.1')).toBe(false);
    expect(l.take('10.0.0.2')).toBe(true);
    expect(l.retryMs('10.0.0.1')).toBeGreaterThan(0);
    t += 2000;
    expect(l.take('10.0.0.1')).toBe(true);
  });
});

describe('npm start --class', () => {
  it('takes a class name and a data directory, and refuses an empty name', async () => {
    const { parseOptions, UsageError } = await import('../../src/server/options.ts');
    expect(parseOptions(['--class', 'Week 3'], {})).toMatchObject({ className: 'Week 3', dataDir: undefined });
    expect(parseOptions(['--class=Week 3', '--data-dir', '/srv/isolab'], {}).dataDir).toBe('/srv/isolab');
    expect(parseOptions([], { ISOLAB_DATA_DIR: '/var/lib/isolab' }).dataDir).toBe('/var/lib/isolab');
    expect(() => parseOptions(['--class', ' '], {})).toThrow(UsageError);
    expect(() => parseOptions(['--class'], {})).toThrow(/--class needs a class name/);
  });
});

describe('class limits', () => {
  it('npm start takes the class and sandbox limits and refuses nonsense', async () => {
    const { parseOptions } = await import('../../src/server/options.ts');
    expect(parseOptions([], {})).toMatchObject({ maxStudents: 200, maxPerStudent: 3, sandboxMemory: '512m', sandboxCpus: '1' });
    expect(parseOptions(['--max-students', '30', '--max-per-student', '2', '--sandbox-memory', '1G', '--sandbox-cpus', '0.5'], {}))
      .toMatchObject({ maxStudents: 30, maxPerStudent: 2, sandboxMemory: '1g', sandboxCpus: '0.5' });
    expect(() => parseOptions(['--sandbox-memory', '10m'], {})).toThrow(/--sandbox-memory needs a size from 64m/);
    expect(() => parseOptions(['--sandbox-cpus', 'all'], {})).toThrow(/--sandbox-cpus needs a number/);
    expect(() => parseOptions(['--max-students', '0'], {})).toThrow(/--max-students must be from 1/);
  });

  it('a class holds 130 sandboxes unless told otherwise, and one NAT address may hold them all', async () => {
    const { parseOptions } = await import('../../src/server/options.ts');
    expect(parseOptions([], {})).toMatchObject({ maxSandboxes: 8, maxPerAddress: 40 });
    expect(parseOptions(['--class', 'Big'], {})).toMatchObject({ maxSandboxes: 130, maxPerAddress: 130 });
    expect(parseOptions(['--class', 'Big', '--max-sandboxes', '50'], {})).toMatchObject({ maxSandboxes: 50, maxPerAddress: 50 });
    expect(parseOptions(['--class', 'Big', '--max-per-address', '20'], {})).toMatchObject({ maxSandboxes: 130, maxPerAddress: 20 });
  });

  it('each sandbox gets the memory and CPUs asked for', async () => {
    const { boxRunCommand } = await import('../../src/server/sandbox.ts');
    const args = boxRunCommand('box', 'lab-x', undefined, { memory: '1g', cpus: '0.5' }).args;
    expect(args[args.indexOf('--memory') + 1]).toBe('1g');
    expect(args[args.indexOf('--cpus') + 1]).toBe('0.5');
    const plain = boxRunCommand('box', 'lab-x').args;
    expect(plain[plain.indexOf('--memory') + 1]).toBe('512m');
  });
});
