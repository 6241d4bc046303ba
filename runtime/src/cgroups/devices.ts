// Which device nodes a container may use. Docker's default rules: any node may be created
// (m), only the harmless ones opened (r, w). The default capabilities include CAP_MKNOD, so
// without these rules root in a container could mknod the host's disk and read it.
//
// cgroup v1 has a devices controller with two files, devices.deny and devices.allow.
// cgroup v2 has no such files: the kernel asks an eBPF program attached to the cgroup
// (BPF_PROG_TYPE_CGROUP_DEVICE) about every open and mknod of a device node, and the
// program says yes (1) or no (0). So on v2 box writes the rules as a small eBPF program,
// loads it with bpf(2) and attaches it to the container's cgroup, as runc and crun do.

import fs from 'node:fs';
import { UserError } from '../sys/errors.ts';
import { requireDevice, type Sys } from '../sys/sys.ts';
import path from 'node:path';
import type { Cgroup } from './types.ts';

export interface DeviceRule {
  type: 'c' | 'b' | 'a';
  /** -1: any */
  major: number;
  minor: number;
  access: string; // some of r, w, m
  /** false: a deny rule (an OCI config's `"allow": false`); box's own rules all allow. */
  allow?: boolean;
}

export const DEFAULT_DEVICE_RULES = [
  'c *:* m', 'b *:* m',
  'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', // null zero full random urandom
  'c 5:0 rwm', 'c 5:1 rwm', 'c 5:2 rwm', 'c 136:* rwm', // tty console ptmx pts/*
  'c 10:200 rwm', // net/tun
];

export function parseDeviceRule(text: string): DeviceRule {
  const m = /^([acb]) (\*|\d+):(\*|\d+) ([rwm]+)$/.exec(text);
  if (!m) throw new Error(`bad device rule: ${text}`);
  const num = (s: string) => (s === '*' ? -1 : Number(s));
  return { type: m[1] as DeviceRule['type'], major: num(m[2]), minor: num(m[3]), access: m[4] };
}

/** The rule that lets a container use host device `path` (`--device /dev/kvm`). */
export function ruleForDevice(sys: Sys, path: string): string {
  const dev = requireDevice(sys, path);
  return `${dev.type} ${dev.major}:${dev.minor} rwm`;
}

/** A rule as cgroup v1's files and `devices.list` write it: "c 1:3 rwm", "b *:* m". */
export function ruleText(r: DeviceRule): string {
  const n = (v: number) => (v < 0 ? '*' : String(v));
  return `${r.type} ${n(r.major)}:${n(r.minor)} ${r.access}`;
}

// ---- a list of allow and deny rules, in order --------------------------------------------
//
// An OCI config's linux.resources.devices is a list where the last rule that matches a device
// decides. The kernel keeps less: cgroup v1 has a default (all allowed or all refused, set by
// writing "a") and a list of exceptions to it, and an exception can only be removed whole or
// by the same numbers, never cut in two. So box first folds the list into that shape, as
// runc's device emulator does: both drivers then apply the same thing. A rule that would cut
// a hole in an earlier, wider one ("allow c *:* rwm" then "deny c 1:3 rwm") cannot be kept as
// exceptions and is refused in one line (it can be written as the narrower rules instead).

/** The rules folded: a default, and exceptions that each do the opposite of it. */
export interface DevicePolicy {
  defaultAllow: boolean;
  exceptions: DeviceRule[];
}

const covers = (a: number, b: number) => a < 0 || a === b;
const meets = (a: number, b: number) => a < 0 || b < 0 || a === b;
const without = (access: string, gone: string) => [...access].filter((c) => !gone.includes(c)).join('');
const common = (a: string, b: string) => [...a].filter((c) => b.includes(c)).join('');
const sameNumbers = (a: DeviceRule, b: DeviceRule) => a.type === b.type && a.major === b.major && a.minor === b.minor;

/**
 * Fold rules in their order, starting from "everything refused" (runc's start on both drivers:
 * a config's rules grant, they never inherit the parent's). `a *:*` resets the default, as
 * writing "a" does on v1; an `a` rule with numbers is the same rule for c and for b.
 */
export function devicePolicy(rules: DeviceRule[]): DevicePolicy {
  const policy: DevicePolicy = { defaultAllow: false, exceptions: [] };
  const expanded = rules.flatMap((r) => (r.type === 'a' && (r.major >= 0 || r.minor >= 0 || r.access.length < 3)
    ? (['c', 'b'] as const).map((type) => ({ ...r, type }))
    : [r]));
  for (const rule of expanded) {
    const allow = rule.allow !== false;
    if (rule.type === 'a') {
      policy.defaultAllow = allow;
      policy.exceptions = [];
    } else if (allow !== policy.defaultAllow) {
      const same = policy.exceptions.find((e) => sameNumbers(e, rule));
      if (same) same.access += without(rule.access, same.access);
      else policy.exceptions.push({ type: rule.type, major: rule.major, minor: rule.minor, access: rule.access, allow });
    } else {
      // The rule takes back access from the exceptions it covers; one it only partly covers
      // would have to be split, which the kernel's exceptions cannot say.
      for (const e of policy.exceptions) {
        if (e.type !== rule.type || !meets(e.major, rule.major) || !meets(e.minor, rule.minor)) continue;
        if (!common(e.access, rule.access)) continue;
        if (!covers(rule.major, e.major) || !covers(rule.minor, e.minor)) {
          const word = (a: boolean) => (a ? 'allow' : 'deny');
          throw new UserError(`device rule "${word(allow)} ${ruleText(rule)}" cuts a hole in the earlier "${word(!allow)} ${ruleText(e)}", which cgroup device rules cannot express; list the narrower ${word(!allow)} rules instead of the wide one`);
        }
        e.access = without(e.access, rule.access);
      }
      policy.exceptions = policy.exceptions.filter((e) => e.access);
    }
  }
  return policy;
}

// ---- the eBPF program (cgroup v2) --------------------------------------------------------
//
// The kernel calls it with r1 pointing at struct bpf_cgroup_dev_ctx:
//   u32 access_type  (access << 16) | type; type 1 block, 2 char; access 1 mknod, 2 read, 4 write
//   u32 major, u32 minor
// It returns 1 to allow, 0 to refuse (the caller sees EPERM).

const DEV_TYPE = { b: 1, c: 2 } as const;
const DEV_ACCESS = { m: 1, r: 2, w: 4 } as const;

/** One eBPF instruction: opcode, dst and src registers, a 16-bit offset, a 32-bit immediate. */
function insn(code: number, dst: number, src: number, off: number, imm: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(code, 0);
  b.writeUInt8((src << 4) | dst, 1);
  b.writeInt16LE(off, 2);
  b.writeInt32LE(imm, 4);
  return b;
}
// The few instructions the program needs (BPF_CLASS | BPF_OP | BPF_SRC, from linux/bpf.h).
const LDX_W = (dst: number, src: number, off: number) => insn(0x61, dst, src, off, 0); // dst = *(u32 *)(src + off)
const MOV_REG = (dst: number, src: number) => insn(0xbf, dst, src, 0, 0);
const MOV_IMM = (dst: number, imm: number) => insn(0xb7, dst, 0, 0, imm);
const AND_IMM = (dst: number, imm: number) => insn(0x57, dst, 0, 0, imm);
const RSH_IMM = (dst: number, imm: number) => insn(0x77, dst, 0, 0, imm);
const JNE_IMM = (dst: number, imm: number, off: number) => insn(0x55, dst, 0, off, imm); // if dst != imm: skip off
const JEQ_IMM = (dst: number, imm: number, off: number) => insn(0x15, dst, 0, off, imm); // if dst == imm: skip off
const EXIT = () => insn(0x95, 0, 0, 0, 0);

/**
 * The rules as an eBPF program, from their folded form (devicePolicy). Refused by default:
 * r6 holds the access bits not yet granted; each matching exception clears the bits it
 * allows, and once none are left the answer is 1; after the last, 0. Allowed by default:
 * a matching exception that refuses any bit asked for answers 0; after the last, 1.
 */
export function deviceProgram(rules: DeviceRule[]): Buffer {
  const { defaultAllow, exceptions } = devicePolicy(rules);
  // r2 = access, r3 = type, r4 = major, r5 = minor, r6 = access not yet allowed
  const out: Buffer[] = [LDX_W(2, 1, 0), MOV_REG(3, 2), AND_IMM(3, 0xffff), RSH_IMM(2, 16), LDX_W(4, 1, 4), LDX_W(5, 1, 8), MOV_REG(6, 2)];
  for (const rule of exceptions) {
    const mask = [...rule.access].reduce((m, c) => m | DEV_ACCESS[c as keyof typeof DEV_ACCESS], 0);
    const tests: [number, number][] = [[3, DEV_TYPE[rule.type as 'b' | 'c']]];
    if (rule.major >= 0) tests.push([4, rule.major]);
    if (rule.minor >= 0) tests.push([5, rule.minor]);
    // The block: the tests (each skips to the block's end), then its verdict.
    const verdict = defaultAllow
      ? [MOV_REG(0, 2), AND_IMM(0, mask), JEQ_IMM(0, 0, 2), MOV_IMM(0, 0), EXIT()] // asks for a refused bit: 0
      : [AND_IMM(6, ~mask & 0xffff), JNE_IMM(6, 0, 2), MOV_IMM(0, 1), EXIT()]; // every bit granted: 1
    const blockLength = tests.length + verdict.length;
    tests.forEach(([reg, value], i) => out.push(JNE_IMM(reg, value, blockLength - i - 1)));
    out.push(...verdict);
  }
  out.push(MOV_IMM(0, defaultAllow ? 1 : 0), EXIT());
  return Buffer.concat(out);
}

// ---- loading and attaching it (cgroup v2) -----------------------------------------------

/**
 * Load the rules as a program and attach it to the cgroup directory `dir` (cgroup v2), through
 * the Sys (bpf(2) BPF_PROG_LOAD, then BPF_PROG_ATTACH). The attachment holds the program: it
 * lives as long as the cgroup, and goes with it, so box closes its own fd at once.
 */
export function attachDeviceRules(sys: Sys, dir: string, rules: DeviceRule[]): void {
  const prog = sys.loadDeviceProgram(deviceProgram(rules), 'Apache-2.0');
  try {
    // BPF_F_ALLOW_MULTI: other programs (systemd's, a parent's) keep running too, and a
    // device must pass every one of them.
    sys.attachDeviceProgram(dir, prog, true);
  } finally {
    sys.close(prog);
  }
}

/**
 * The rules on cgroup v1, folded: "a" to devices.deny (or devices.allow) sets the default and
 * clears every exception, then each exception goes to the other file. The kernel keeps them in
 * the order written (devices.list shows them so).
 */
export function writeDeviceRulesV1(sys: Sys, dir: string, rules: DeviceRule[]): void {
  const { defaultAllow, exceptions } = devicePolicy(rules);
  sys.writeFile(`${dir}/devices.${defaultAllow ? 'allow' : 'deny'}`, 'a');
  for (const e of exceptions) sys.writeFile(`${dir}/devices.${defaultAllow ? 'deny' : 'allow'}`, ruleText(e));
}

/**
 * The device rules (cgroups/devices.ts) of `box run`: a container may open only the harmless
 * device nodes, whatever nodes it makes, and the --device ones.
 */
export function restrictDevices(sys: Sys, cg: Cgroup, extra: string[]): void {
  applyDeviceRules(sys, cg, [...DEFAULT_DEVICE_RULES, ...extra.map((d) => ruleForDevice(sys, d))].map(parseDeviceRule));
}

/**
 * Rules in order, the last that matches deciding (an OCI config's, oci/bundle.ts), on either
 * driver. Inside a user namespace (box in a lab sandbox) the kernel refuses both the v1
 * writes and loading an eBPF program; the sandbox's own rules, which apply to every cgroup
 * below it, still hold there.
 */
export function applyDeviceRules(sys: Sys, cg: Cgroup, rules: DeviceRule[]): void {
  devicePolicy(rules); // a list the kernel cannot express fails here, before anything is written
  try {
    if (cg.version === 2) {
      attachDeviceRules(sys, cg.paths[0], rules);
    } else {
      const dir = cg.paths.find((p) => fs.existsSync(path.join(p, 'devices.deny')));
      if (dir) writeDeviceRulesV1(sys, dir, rules);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
  }
}
