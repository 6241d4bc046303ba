// The exit loop against a scripted vCPU: each step fills the kvm_run page the way KVM does
// and returns an exit reason, so every branch of the monitor can be checked, including the
// exits a healthy lesson guest never causes (FAIL_ENTRY, unknown reasons). The real exits
// on /dev/kvm are tested in test/integration/vmm-guests.test.ts.

import { describe, expect, it } from 'vitest';
import { Bus } from '../../runtime/src/vmm/devices/bus.ts';
import { ExitPort } from '../../runtime/src/vmm/devices/exit-port.ts';
import { MmioDisplay } from '../../runtime/src/vmm/devices/mmio-display.ts';
import { Uart8250 } from '../../runtime/src/vmm/devices/uart8250.ts';
import { EXIT, RUN, SIZEOF } from '../../runtime/src/vmm/kvm-abi.ts';
import type { Machine } from '../../runtime/src/vmm/machine.ts';
import { runMachine } from '../../runtime/src/vmm/monitor.ts';
import { decodeRegs, decodeSregs } from '../../runtime/src/vmm/regs.ts';

const DATA = 0x1000; // where in the page our fake KVM puts I/O data, as KVM does (data_offset)

type Step = (run: Buffer) => number;

const io = (out: boolean, port: number, size: number, values: number[]): Step => (run) => {
  run[RUN.io.direction] = out ? 1 : 0;
  run[RUN.io.size] = size;
  run.writeUInt16LE(port, RUN.io.port);
  run.writeUInt32LE(values.length, RUN.io.count);
  run.writeBigUInt64LE(BigInt(DATA), RUN.io.data_offset);
  values.forEach((v, i) => run.writeUIntLE(v, DATA + i * size, size));
  return EXIT.IO;
};

const mmio = (write: boolean, addr: number, len: number, value = 0n): Step => (run) => {
  run.writeBigUInt64LE(BigInt(addr), RUN.mmio.phys_addr);
  run.writeUInt32LE(len, RUN.mmio.len);
  run[RUN.mmio.is_write] = write ? 1 : 0;
  for (let i = 0; i < 8; i++) run[RUN.mmio.data + i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return EXIT.MMIO;
};

/** A machine whose vCPU plays back `steps`, recording what the monitor wrote back for reads. */
function scripted(steps: Step[]) {
  const run = Buffer.alloc(3 * 4096);
  const answers: Buffer[] = [];
  let i = 0;
  const vcpu = {
    run,
    enter() {
      if (i > 0) answers.push(Buffer.from(run.subarray(DATA, DATA + 16)));
      const step = steps[i++];
      if (!step) throw new Error('the monitor entered the guest after the script ended');
      return step(run);
    },
    setSignalMask() {},
    getRegs: () => decodeRegs(Buffer.alloc(SIZEOF.kvm_regs)),
    getSregs: () => decodeSregs(Buffer.alloc(SIZEOF.kvm_sregs)),
  };
  const devices = { uart: new Uart8250(), exit: new ExitPort(), display: new MmioDisplay() };
  const bus = new Bus().addPorts(devices.uart).addPorts(devices.exit).addMmio(devices.display);
  const machine = { vcpu, bus, vm: {}, devices } as unknown as Machine;
  const out: number[] = [];
  return {
    machine,
    answers,
    go: (timeoutMs = 5000) => runMachine(machine, { timeoutMs, console: (b) => out.push(...b) }),
    output: () => Buffer.from(out).toString(),
  };
}

describe('the exit loop', () => {
  it('emulates OUT and IN, answers reads of ports nobody owns with all ones, and stops at the exit port', () => {
    const s = scripted([
      io(true, 0x3f8, 1, [0x68]),
      io(true, 0x3f8, 1, [0x69, 0x0a]), // a string OUT: two bytes, one exit
      io(false, 0x3fd, 1, [0]), // LSR
      io(false, 0x1234, 2, [0]), // no device
      io(true, 0xf4, 1, [7]),
    ]);
    const r = s.go();
    expect(s.output()).toBe('hi\n');
    expect(r.stop).toEqual({ kind: 'exit', code: 7 });
    expect(r.exits).toBe(5);
    expect(r.byReason.get('IO')).toBe(5);
    expect(r.byDevice.get('COM1 (8250 UART)')).toBe(3);
    expect(r.byDevice.get('(no device)')).toBe(1);
    expect(s.answers[2][0] & 0x60).toBe(0x60); // the guest read "transmitter empty"
    expect(s.answers[3].readUInt16LE(0)).toBe(0xffff);
    const last = r.lastExits.at(-1)!;
    expect(last).toMatchObject({ reason: 'IO', direction: 'out', port: 0xf4, values: [7], device: 'exit' });
  });

  it('answers MMIO reads through the kvm_run page and passes MMIO writes to the device', () => {
    const s = scripted([mmio(false, 0xd0004, 4), mmio(false, 0xd0004, 4), mmio(true, 0xd0000, 2, 0x1234n), mmio(false, 0xe0000, 4), () => EXIT.HLT]);
    const run = s.machine.vcpu.run;
    const seen: bigint[] = [];
    const enter = s.machine.vcpu.enter.bind(s.machine.vcpu);
    (s.machine.vcpu as { enter: () => number }).enter = () => {
      seen.push(run.readBigUInt64LE(RUN.mmio.data));
      return enter();
    };
    const r = s.go();
    expect(seen.slice(1, 5)).toEqual([0n, 1n, 0x1234n, 0xffffffffn]); // counter 0, 1; the write's data; no device
    expect(s.output()).toBe('[display] 4660\n');
    expect(r.stop).toEqual({ kind: 'halt' });
    expect(r.byReason.get('MMIO')).toBe(4);
  });

  it('reports a failed entry, an internal error and an exit it does not know, and stops', () => {
    const fail = scripted([(run) => {
      run.writeBigUInt64LE(0x80000021n, RUN.fail_entry.hardware_entry_failure_reason);
      return EXIT.FAIL_ENTRY;
    }]).go();
    expect(fail.stop).toEqual({ kind: 'fail-entry', hardwareReason: 0x80000021n });

    const internal = scripted([(run) => {
      run.writeUInt32LE(3, RUN.internal.suberror);
      return EXIT.INTERNAL_ERROR;
    }]).go();
    expect(internal.stop).toMatchObject({ kind: 'internal-error', suberror: 3, description: 'a second fault while delivering an event' });

    const emul = scripted([(run) => {
      run.writeUInt32LE(1, RUN.internal.suberror);
      run.writeBigUInt64LE(1n, RUN.emulation_failure.flags);
      run[RUN.emulation_failure.insn_size] = 2;
      run.set([0xd9, 0xee], RUN.emulation_failure.insn_bytes);
      return EXIT.INTERNAL_ERROR;
    }]).go();
    expect(emul.stop).toMatchObject({ kind: 'internal-error', suberror: 1, instruction: Uint8Array.of(0xd9, 0xee) });

    expect(scripted([() => 99]).go().stop).toEqual({ kind: 'unhandled', reason: 'exit 99' });
    expect(scripted([() => EXIT.SHUTDOWN]).go().stop).toEqual({ kind: 'shutdown' });
  });

  it('goes back into the guest after a stray signal, and stops a guest that keeps exiting past the deadline', () => {
    const s = scripted([() => EXIT.INTR, () => EXIT.HLT]);
    expect(s.go().stop).toEqual({ kind: 'halt' });

    const busy = scripted(Array.from({ length: 100_000 }, () => io(true, 0x80, 1, [0])));
    const r = busy.go(50);
    expect(r.stop).toEqual({ kind: 'timeout', ms: 50 });
    expect(r.exits).toBeLessThan(100_000); // stopped at the deadline, not when the script ran out
    expect(r.lastExits.length).toBe(12); // the report keeps the last few, not all
  });
});
