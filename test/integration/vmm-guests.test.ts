// `box vm` on the real /dev/kvm: each lesson guest's output and exits as a user sees them,
// the trap-and-emulate against paravirtual exit counts, and the ways a run can go wrong (a
// guest that crashes or never stops, no KVM device, no permission), each ending with a
// message or a report within a bound, never a hang.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Trace } from '../../runtime/src/sys/trace.ts';
import { findGuest, runGuest } from '../../runtime/src/vmm/index.ts';
import { MESSAGE } from '../../runtime/src/vmm/guests/message.ts';
import { boxBin, isRoot, rootReason } from './helpers.ts';
import { needs, skipUnless } from '../support/requires.ts';

function kvmReason(): string {
  try {
    fs.closeSync(fs.openSync('/dev/kvm', 'r+'));
    return '';
  } catch (err) {
    return `/dev/kvm cannot be opened here (${(err as NodeJS.ErrnoException).code})`;
  }
}
const noKvm = kvmReason();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

function vm(args: string[], opts: { timeout?: number; uid?: number } = {}): Run {
  const t0 = performance.now();
  const argv = opts.uid !== undefined ? ['setpriv', `--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', boxBin, ...args] : [boxBin, ...args];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: opts.timeout ?? 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
}

/** "exits to the monitor: 31 (IO 30, HLT 1)" -> { IO: 30, HLT: 1 }, and the total. */
function exitCounts(stderr: string): { total: number; by: Record<string, number> } {
  const m = /exits to the monitor: (\d+) \(([^)]*)\)/.exec(stderr);
  if (!m) throw new Error(`no exit summary in:\n${stderr}`);
  const by = Object.fromEntries(m[2].split(', ').map((kv) => {
    const [k, v] = kv.split(' ');
    return [k, Number(v)];
  }));
  return { total: Number(m[1]), by };
}

const runIn = (name: string, timeoutMs = 5000) => {
  const chunks: Buffer[] = [];
  const run = runGuest(findGuest(name)!, { trace: new Trace(), timeoutMs, console: (b) => chunks.push(Buffer.from(b)) });
  return { run, output: Buffer.concat(chunks).toString() };
};

needs(noKvm).describe('box vm run: the lesson guests', () => {
  it('lists the guests with a line each', () => {
    const r = vm(['vm', 'list']);
    expect(r.code).toBe(0);
    for (const g of ['hello', 'long-mode', 'mmio', 'fib', 'message-trap', 'message-pv', 'fpu', 'triple-fault', 'runaway']) {
      expect(r.stdout).toMatch(new RegExp(`^${g} +\\S`, 'm'));
    }
  });

  it('hello: a real-mode guest prints through the 8250 UART, one IO exit per byte, then HLT', () => {
    const r = vm(['vm', 'run', 'hello']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Hello from a real-mode guest!\n');
    const { total, by } = exitCounts(r.stderr);
    expect(by.IO).toBe(Buffer.byteLength(r.stdout));
    expect(by.HLT).toBe(1);
    expect(total).toBe(by.IO + 1);
    expect(r.stderr).toMatch(/the guest halted \(HLT\)/);
    expect(r.stderr).toMatch(/time: .* in the guest \(inside KVM_RUN\), .* in the monitor; VM set up in /);
  });

  it('long-mode: the guest switches itself to 64-bit mode and prints from there', () => {
    const { run, output } = runIn('long-mode');
    expect(output).toBe('Hello from 64-bit long mode!\n');
    expect(run.result.stop).toEqual({ kind: 'exit', code: 0 });
    // The CPU state at the end says long mode: EFER.LMA set by the CPU, a 64-bit code segment, paging on.
    expect(run.result.sregs.efer & (1n << 10n)).toBe(1n << 10n);
    expect(run.result.sregs.cs.l).toBe(1);
    expect(run.result.sregs.cr0 & (1n << 31n)).toBe(1n << 31n);
    expect(run.result.sregs.cr3).toBe(run.program.symbols.get('pml4'));
  });

  it('mmio: loads and stores to the display device are MMIO exits the monitor answers', () => {
    const r = vm(['vm', 'run', 'mmio']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('[display] 3\n[display] 2\n[display] 1\n[display] 1\n[display] 144\n');
    const { by } = exitCounts(r.stderr);
    expect(by.MMIO).toBe(9); // 3 countdown stores, 2 counter loads, 1 store, square store+load, 1 store
    expect(by.IO).toBe(1); // the exit port
  });

  it('fib: computes without exits and halts with the answer in rax', () => {
    const r = vm(['vm', 'run', 'fib']);
    expect(r.code).toBe(0);
    let [a, b] = [0n, 1n];
    for (let i = 0; i < 40; i++) [a, b] = [b, a + b];
    expect(r.stderr).toContain(`result: rax = ${a} (fib(40))`);
    expect(exitCounts(r.stderr)).toEqual({ total: 1, by: { HLT: 1 } });
  });

  it('--trace prints every exit with its port and data, as many lines as exits', () => {
    const r = vm(['vm', 'run', 'hello', '--trace']);
    expect(r.code).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('[exit]'));
    expect(lines.length).toBe(exitCounts(r.stderr).total);
    expect(lines[0]).toMatch(/^\[exit\] #1 +IO +out 0x3f8 +COM1 \(8250 UART\) THR \(transmit\) <- 0x48 'H'/);
    expect(lines.at(-1)).toMatch(/HLT/);
    expect(r.stdout).toBe('Hello from a real-mode guest!\n');
  });

  it("box --trace shows the ioctls that build the VM", () => {
    const r = vm(['--trace', 'vm', 'run', 'hello']);
    expect(r.code).toBe(0);
    for (const call of ['KVM_GET_API_VERSION', 'KVM_CREATE_VM', 'KVM_SET_USER_MEMORY_REGION', 'KVM_CREATE_VCPU', 'KVM_SET_SREGS', 'KVM_SET_REGS']) {
      expect(r.stderr).toContain(call);
    }
    expect(r.stderr).toMatch(/KVM_RUN returned 31 times: IO 30, HLT 1/);
  });
});

needs(noKvm).describe('trap and emulate against paravirtual', () => {
  it('the UART guest exits once per byte; the hypercall guest once for the whole message', () => {
    const trap = runIn('message-trap');
    const pv = runIn('message-pv');
    expect(trap.output).toBe(MESSAGE);
    expect(pv.output).toBe(MESSAGE);
    expect(trap.run.result.byDevice.get('COM1 (8250 UART)')).toBe(Buffer.byteLength(MESSAGE));
    expect(pv.run.result.byDevice.get('hypercall')).toBe(1);
    expect(pv.run.result.byDevice.has('COM1 (8250 UART)')).toBe(false);
    // Both end through the exit port: one more IO exit each.
    expect(trap.run.result.byReason.get('IO')).toBe(Buffer.byteLength(MESSAGE) + 1);
    expect(pv.run.result.byReason.get('IO')).toBe(2);
  });

  it('box vm compare prints both counts and times side by side', () => {
    const r = vm(['vm', 'compare', '--runs', '3']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(MESSAGE);
    expect(r.stdout).toMatch(new RegExp(`VM exits for the message +${Buffer.byteLength(MESSAGE)} +1\\n`));
    expect(r.stdout).toMatch(/time in the guest \(KVM_RUN\) +[\d.]+ (ms|µs) +[\d.]+ (ms|µs)/);
    expect(r.stdout).toMatch(/medians of 3 runs each/);
    const sooner = /finished ([\d.]+)x sooner/.exec(r.stdout);
    expect(Number(sooner?.[1])).toBeGreaterThan(1);
  });

  it("--message: the reader's own text, one UART exit per byte of it (UTF-8) and still one hypercall", () => {
    const text = '안녕, "Mina"'; // 6 + 8 bytes, and the newline box adds
    const bytes = Buffer.byteLength(text) + 1;
    const hello = vm(['vm', 'run', 'hello', '--message', text]);
    expect(hello.code).toBe(0);
    expect(hello.stdout).toBe(`${text}\n`);
    expect(exitCounts(hello.stderr)).toEqual({ total: bytes + 1, by: { IO: bytes, HLT: 1 } });
    const trap = vm(['vm', 'run', 'message-trap', '--message', text]);
    expect(trap.stdout).toBe(`${text}\n`);
    expect(exitCounts(trap.stderr)).toEqual({ total: bytes + 1, by: { IO: bytes + 1 } });
    const pv = vm(['vm', 'run', 'message-pv', '--message', `${text}\n`]);
    expect(pv.stdout).toBe(`${text}\n`);
    expect(exitCounts(pv.stderr)).toEqual({ total: 2, by: { IO: 2 } });
  });
});

needs(noKvm).describe('a guest that goes wrong is stopped with a report', () => {
  it('triple fault: KVM_EXIT_SHUTDOWN, the registers, the faulting instruction and its source line', () => {
    const r = vm(['vm', 'run', 'triple-fault'], { timeout: 20_000 });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/triple fault \(KVM_EXIT_SHUTDOWN\)/);
    expect(r.stderr).toMatch(/stopped at 0008:00007c\w+ \(linear 00007c\w+\): ud2 +\(triple-fault, line \d+\)/);
    expect(r.stderr).toMatch(/bytes at rip: 0f 0b/);
    expect(r.stderr).toMatch(/registers:\n +rax [0-9a-f]{16}/);
    expect(r.stderr).toMatch(/32-bit protected mode/);
    expect(r.stderr).toMatch(/idt 00000000\/0/);
    expect(r.stderr).toMatch(/last exit:\n +#1 +SHUTDOWN/);
  });

  it('an instruction KVM cannot emulate is reported with its bytes, or runs where the CPU virtualizes', () => {
    const r = vm(['vm', 'run', 'fpu'], { timeout: 20_000 });
    if (r.code === 0) {
      console.log('fpu: this host runs guest code on the CPU (hardware virtualization)');
      expect(r.stdout).toMatch(/^The FPU instructions ran on the CPU/);
      return;
    }
    console.log('fpu: this host\'s KVM emulates guest code and cannot emulate x87 (as on the nested kvm-pvm lab host)');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/KVM_EXIT_INTERNAL_ERROR, emulation failure/);
    expect(r.stderr).toMatch(/the host's KVM is the limit here, not the guest/);
    expect(r.stderr).toMatch(/stopped at 0000:00007c0\w \(linear 00007c0\w\): (fninit|fldz) +\(fpu, line \d+\)/);
    expect(r.stderr).toMatch(/instruction bytes KVM fetched: (db e3|d9 ee)/);
  });

  it('a guest that never exits is stopped by the watchdog at the deadline, with where it was', () => {
    const r = vm(['vm', 'run', 'runaway', '--timeout', '0.5'], { timeout: 20_000 });
    console.log(`runaway with --timeout 0.5 ended after ${r.ms.toFixed(0)} ms (process start included)`);
    expect(r.code).toBe(124);
    expect(r.stderr).toMatch(/still running after 0.5 s: stopped by the watchdog/);
    expect(r.stderr).toMatch(/stopped at 0000:00007c0\w .*: (inc ax|jmp spin)/);
    expect(r.stderr).toMatch(/#1 +INTR +interrupted by a signal/);
    // The guest was busy: its counter moved.
    expect(r.stderr).not.toMatch(/rax 0000000000000000/);
  });

  it('the watchdog leaves nothing behind: no descriptor, no blocked signal, no mapping', () => {
    const fds = () => fs.readdirSync('/proc/self/fd').length;
    const blocked = () => /^SigBlk:\s*(\S+)/m.exec(fs.readFileSync('/proc/thread-self/status', 'utf8'))![1];
    const maps = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('kvm-vcpu')).length;
    runIn('hello'); // first use loads koffi and libc
    const before = { fds: fds(), blocked: blocked(), maps: maps() };
    for (const g of ['hello', 'runaway', 'triple-fault']) runIn(g, 200);
    expect({ fds: fds(), blocked: blocked(), maps: maps() }).toEqual(before);
  });
});

needs(noKvm, rootReason).describe('inside a lab sandbox (user namespace, its own /dev/kvm node), as the lessons run it', () => {
  it('runs a guest, and the watchdog stops a runaway one', (ctx) => {
    const r = vm(['run', '--rm', '--lab', 'lab', 'box', 'vm', 'run', 'hello'], { timeout: 120_000 });
    if (r.code !== 0 && !r.stdout.includes('Hello')) {
      const why = r.stderr.trim().split('\n').pop();
      skipUnless(ctx, /image|not found|pull/i.test(why ?? '') && `the lab image is not available here (${why})`);
    }
    expect(r.stdout).toContain('Hello from a real-mode guest!');
    expect(r.stderr).toMatch(/exits to the monitor: 31 \(IO 30, HLT 1\)/);
    expect(r.code).toBe(0);
    const runaway = vm(['run', '--rm', '--lab', 'lab', 'box', 'vm', 'run', 'runaway', '--timeout', '0.3'], { timeout: 120_000 });
    expect(runaway.code).toBe(124);
    expect(runaway.stderr).toMatch(/stopped by the watchdog/);
  });
});

describe('without a usable KVM device, one line says why and what to do', () => {
  it('--kvm /nonexistent', () => {
    const r = vm(['vm', 'run', 'hello', '--kvm', '/nonexistent']);
    expect(r.code).toBe(125);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('box: /nonexistent does not exist: --kvm names the KVM device (the default is /dev/kvm)\n');
  });

  it('--kvm naming a device that is not KVM', () => {
    const r = vm(['vm', 'run', 'hello', '--kvm', '/dev/null']);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe('box: /dev/null is not a KVM device (KVM_GET_API_VERSION failed: ENOTTY); name the KVM device with --kvm, usually /dev/kvm\n');
  });

  const mode = fs.existsSync('/dev/kvm') ? fs.statSync('/dev/kvm').mode & 0o777 : 0;
  const permReason = !isRoot ? 'needs root to drop to another user' : !mode ? 'no /dev/kvm' : mode & 0o006 ? '/dev/kvm is open to everyone here' : '';
  needs(permReason).it('a user who may not open /dev/kvm (nobody, no groups)', () => {
    const r = vm(['vm', 'run', 'hello'], { uid: 65534 });
    expect(r.code).toBe(125);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toMatch(/^box: permission denied opening \/dev\/kvm \(mode \d+, owner uid \d+, group '?\w+'?\): add your user to that group/);
  });

  it('bad arguments', () => {
    expect(vm(['vm', 'run', 'nope']).stderr).toMatch(/^box: no guest named 'nope'; the guests are: hello, /);
    expect(vm(['vm', 'run', 'hello', '--timeout', 'soon']).stderr).toMatch(/^box: --timeout 'soon': give seconds/);
    expect(vm(['vm', 'compare', '--runs', '0']).stderr).toMatch(/^box: --runs '0'/);
    const fib = vm(['vm', 'run', 'fib', '--message', 'hi']);
    expect([fib.code, fib.stderr]).toEqual([125, "box: fib prints no message to replace; --message works with hello, message-trap, message-pv\n"]);
    expect(vm(['vm', 'run', 'hello', '--message', '']).stderr).toBe('box: --message: the message is empty\n');
    expect(vm(['vm', 'run', 'hello', '--message', 'x'.repeat(5000)]).stderr).toBe('box: --message: the message is 5001 bytes; at most 4096\n');
  });
});
