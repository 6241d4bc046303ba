// An interpreter of the few eBPF instructions box's cgroup v2 device program uses
// (cgroups/devices.ts deviceProgram): it runs the program as the kernel would for one open or
// mknod, over struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor }, and says
// what the kernel would answer: 1 allowed, 0 refused (EPERM). Anything else it is given, an
// instruction it does not know or a jump off the end (which the verifier would refuse), throws.

const ACCESS: Record<string, number> = { m: 1, r: 2, w: 4 }; // BPF_DEVCG_ACC_*

/** Run a device program for `access` (some of m, r, w) to device `type` major:minor. */
export function runDeviceProgram(prog: Buffer, type: 'b' | 'c', major: number, minor: number, access: string): number {
  // access_type: (access << 16) | type, type 1 block (BPF_DEVCG_DEV_BLOCK), 2 char
  const ctx = [((([...access].reduce((m, c) => m | ACCESS[c]!, 0)) << 16) | (type === 'b' ? 1 : 2)) >>> 0, major, minor];
  const r = new Array<bigint>(11).fill(0n);
  const u64 = (v: bigint) => BigInt.asUintN(64, v);
  for (let pc = 0, steps = 0; steps < 10_000; steps++) {
    if (pc < 0 || pc >= prog.length / 8) throw new Error(`jump off the program to ${pc}: the verifier would refuse it`);
    const code = prog.readUInt8(pc * 8), dst = prog.readUInt8(pc * 8 + 1) & 15, src = prog.readUInt8(pc * 8 + 1) >> 4;
    const off = prog.readInt16LE(pc * 8 + 2), imm = BigInt(prog.readInt32LE(pc * 8 + 4));
    pc++;
    switch (code) {
      case 0x61: // ldx w: only from the context (r1), at its three fields
        if (src !== 1 || off % 4 !== 0 || off < 0 || off > 8) throw new Error(`load from r${src}+${off}: not the context`);
        r[dst] = BigInt(ctx[off / 4]!);
        break;
      case 0xbf: r[dst] = r[src]!; break;
      case 0xb7: r[dst] = u64(imm); break;
      case 0x57: r[dst] = r[dst]! & u64(imm); break;
      case 0x77: r[dst] = r[dst]! >> imm; break;
      case 0x55: if (r[dst] !== u64(imm)) pc += off; break;
      case 0x15: if (r[dst] === u64(imm)) pc += off; break;
      case 0x95: return Number(r[0]);
      default: throw new Error(`unexpected opcode 0x${code.toString(16)}`);
    }
  }
  throw new Error('no exit');
}
