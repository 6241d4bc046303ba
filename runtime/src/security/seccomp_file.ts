// `--security-opt seccomp=FILE`: a seccomp profile in Docker's JSON shape (what `docker run
// --security-opt seccomp=profile.json` and podman read; moby's default.json is one). Read and
// checked here, in the client, as Docker does it: the engine and the init get the parsed
// profile, and a bad file is one line naming what is wrong, before any container exists.
//
// Keys box reads: defaultAction, defaultErrnoRet, architectures (or archMap), syscalls[] with
// names (or the old `name`), action, errnoRet, args[] {index, value, valueTwo, op}, includes
// and excludes {caps, arches, minKernel}. Others (comment, listenerPath, flags) are ignored.

import fs from 'node:fs';
import path from 'node:path';
import { invocation } from '../sys/invocation.ts';
import { UserError } from '../sys/errors.ts';
import type { SeccompArg, SeccompProfile, SeccompRule } from './seccomp_profile.ts';

const ACTIONS = ['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_TRAP', 'SCMP_ACT_LOG'];
const OPS = ['SCMP_CMP_EQ', 'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_GT', 'SCMP_CMP_GE', 'SCMP_CMP_MASKED_EQ'];

/** Read and check a profile file. Throws a one-line UserError naming the file and the problem. */
export function readSeccompProfile(file: string): SeccompProfile {
  let text: string;
  try {
    // Relative to the caller: the engine serves clients in other directories.
    text = fs.readFileSync(path.resolve(invocation().cwd ?? process.cwd(), file), 'utf8');
  } catch (err) {
    throw new UserError(`--security-opt seccomp=${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? err}); give the path of a JSON profile`);
  }
  try {
    return parseSeccompProfile(text);
  } catch (err) {
    throw new UserError(`--security-opt seccomp=${file}: ${(err as Error).message}`);
  }
}

/** Check a profile's JSON text; throws an Error whose message names the bad key. */
export function parseSeccompProfile(text: string): SeccompProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(raw)) throw new Error('a profile is a JSON object with defaultAction and syscalls');
  const defaultAction = action(raw.defaultAction, 'defaultAction');
  const defaultErrnoRet = raw.defaultErrnoRet === undefined ? undefined : errno(raw.defaultErrnoRet, 'defaultErrnoRet');

  let architectures: string[] | undefined;
  if (raw.architectures !== undefined) architectures = strings(raw.architectures, 'architectures');
  else if (Array.isArray(raw.archMap)) architectures = raw.archMap.map((m: unknown) => (isObject(m) ? String(m.architecture) : ''));
  // The filter box builds compares x86_64 numbers; a profile for other architectures only
  // would be applied to the wrong calls.
  if (architectures?.length && !architectures.includes('SCMP_ARCH_X86_64')) {
    throw new Error(`architectures ${architectures.join(',')} lack SCMP_ARCH_X86_64, the only one box filters`);
  }

  const list = raw.syscalls ?? [];
  if (!Array.isArray(list)) throw new Error('syscalls must be a list of rules');
  const syscalls = list.map((r, i) => rule(r, `syscalls[${i}]`));
  return { defaultAction, defaultErrnoRet, architectures, syscalls };
}

function rule(r: unknown, where: string): SeccompRule {
  if (!isObject(r)) throw new Error(`${where} must be an object`);
  const names = r.names !== undefined ? strings(r.names, `${where}.names`) : typeof r.name === 'string' ? [r.name] : undefined;
  if (!names?.length) throw new Error(`${where} has no names`);
  const out: SeccompRule = { names, action: action(r.action, `${where}.action`) };
  if (r.errnoRet !== undefined) out.errnoRet = errno(r.errnoRet, `${where}.errnoRet`);
  if (r.args !== undefined && r.args !== null) {
    if (!Array.isArray(r.args)) throw new Error(`${where}.args must be a list`);
    out.args = r.args.map((a, j) => arg(a, `${where}.args[${j}]`));
  }
  for (const key of ['includes', 'excludes'] as const) {
    const f = r[key];
    if (f === undefined || f === null) continue;
    if (!isObject(f)) throw new Error(`${where}.${key} must be an object`);
    out[key] = {
      caps: f.caps === undefined || f.caps === null ? undefined : strings(f.caps, `${where}.${key}.caps`),
      arches: f.arches === undefined || f.arches === null ? undefined : strings(f.arches, `${where}.${key}.arches`),
      ...(key === 'includes' && typeof f.minKernel === 'string' ? { minKernel: f.minKernel } : {}),
    };
  }
  return out;
}

function arg(a: unknown, where: string): SeccompArg {
  if (!isObject(a)) throw new Error(`${where} must be an object`);
  if (!Number.isInteger(a.index) || (a.index as number) < 0 || (a.index as number) > 5) throw new Error(`${where}.index must be 0 to 5`);
  if (typeof a.op !== 'string' || !OPS.includes(a.op)) throw new Error(`${where}.op '${String(a.op)}' is not one of ${OPS.join(', ')}`);
  const value = u64(a.value, `${where}.value`);
  const valueTwo = a.valueTwo === undefined ? undefined : u64(a.valueTwo, `${where}.valueTwo`);
  return { index: a.index as number, value, valueTwo, op: a.op };
}

function action(v: unknown, where: string): string {
  if (typeof v !== 'string' || !ACTIONS.includes(v)) {
    throw new Error(`${where} '${String(v)}' is not one of ${ACTIONS.join(', ')}`);
  }
  return v;
}

function errno(v: unknown, where: string): number {
  if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 4095) throw new Error(`${where} must be an errno number (1 is EPERM)`);
  return v as number;
}

function u64(v: unknown, where: string): number | bigint {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  throw new Error(`${where} must be a number from 0 to 2^64-1`);
}

function strings(v: unknown, where: string): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new Error(`${where} must be a list of strings`);
  return v as string[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
