// The watchdog: a guest that never exits (`jmp $`) keeps KVM_RUN, and with it Node's main
// thread, busy forever. Nothing in JavaScript can run meanwhile, so the interruption has to
// come from the kernel: a signal to this thread makes KVM_RUN return EINTR (exit reason
// KVM_EXIT_INTR), wherever the guest is.
//
// How, from Node, without a C signal handler:
// - A POSIX timer (timer_create with SIGEV_THREAD_ID) sends SIGALRM to this thread, and only
//   to it, at the deadline. A timer in another thread (a worker calling tgkill) would work
//   too; the kernel timer needs no thread at all.
// - SIGALRM is blocked in this thread (pthread_sigmask), so it is never delivered to Node,
//   whose default for SIGALRM is to terminate the process. KVM_SET_SIGNAL_MASK gives KVM_RUN
//   a mask without it: only while the guest runs does the pending signal count, and then it
//   only interrupts. If the timer fires while the monitor is handling an exit, the signal
//   waits, blocked, and the next KVM_RUN returns EINTR at once: no window in which the
//   deadline can be missed (the race kvm_run.immediate_exit exists to close for monitors
//   that do handle signals).
// - Afterwards the timer is deleted, a pending SIGALRM is taken with sigtimedwait, and the
//   old mask comes back.

import type { Vcpu } from './kvm.ts';
import {
  CLOCK_MONOTONIC, kvmLibc, lastErrno, SIG_BLOCK, SIG_SETMASK, SIGALRM, SIGEV_THREAD_ID,
} from './kvm-sys.ts';
import { SysError } from '../sys/errors.ts';

/** glibc's sigset_t is 128 bytes; the kernel's (what KVM_SET_SIGNAL_MASK wants) is 8. */
const SIGSET_BYTES = 128;
const KERNEL_SIGSET_BYTES = 8;
/** struct timespec {0, 0}: sigtimedwait only takes a signal already pending. */
const ZERO_TIMEOUT = Buffer.alloc(16);

export class Watchdog {
  readonly deadline: number;
  private readonly oldMask = Buffer.alloc(SIGSET_BYTES);
  private readonly alarmSet = Buffer.alloc(SIGSET_BYTES);
  private timer: unknown;
  private stopped = false;

  /**
   * Arm a watchdog that interrupts `vcpu` after `ms` milliseconds of this thread's KVM_RUN,
   * and then every `everyMs` if given: the Linux monitor uses that as a time slice, coming
   * back to Node's event loop (the keyboard, output) between slices of guest time.
   */
  constructor(vcpu: Vcpu, ms: number, everyMs?: number) {
    const c = kvmLibc();
    this.deadline = performance.now() + ms;
    this.alarmSet.writeBigUInt64LE(1n << BigInt(SIGALRM - 1), 0);
    if (c.sigmask(SIG_BLOCK, this.alarmSet, this.oldMask) !== 0) throw new SysError('pthread_sigmask', 'SIG_BLOCK, {SIGALRM}', lastErrno());
    // Inside KVM_RUN: the thread's usual mask, with SIGALRM let through.
    const runMask = Buffer.from(this.oldMask.subarray(0, KERNEL_SIGSET_BYTES));
    runMask.writeBigUInt64LE(runMask.readBigUInt64LE(0) & ~(1n << BigInt(SIGALRM - 1)), 0);
    vcpu.setSignalMask(runMask);

    // struct sigevent: sigev_value (8 bytes), sigev_signo, sigev_notify, then the thread id.
    const sev = Buffer.alloc(64);
    sev.writeInt32LE(SIGALRM, 8);
    sev.writeInt32LE(SIGEV_THREAD_ID, 12);
    sev.writeInt32LE(c.gettid(), 16);
    this.timer = c.timerCreate(CLOCK_MONOTONIC, sev);
    if (!this.timer) {
      const errno = lastErrno();
      c.sigmask(SIG_SETMASK, this.oldMask, null);
      throw new SysError('timer_create', 'CLOCK_MONOTONIC, {SIGALRM, SIGEV_THREAD_ID}', errno);
    }
    // struct itimerspec: it_interval (the period, 0 = once), it_value (the first deadline from now).
    const spec = Buffer.alloc(32);
    const ns = BigInt(Math.max(1, Math.round(ms * 1e6)));
    const every = BigInt(Math.round((everyMs ?? 0) * 1e6));
    spec.writeBigInt64LE(every / 1_000_000_000n, 0);
    spec.writeBigInt64LE(every % 1_000_000_000n, 8);
    spec.writeBigInt64LE(ns / 1_000_000_000n, 16);
    spec.writeBigInt64LE(ns % 1_000_000_000n, 24);
    c.timerSettime(this.timer, spec);
  }

  /**
   * Take the pending signal after an interrupted KVM_RUN. A blocked signal stays pending
   * until taken, and a pending one makes every KVM_RUN return at once: a periodic watchdog
   * must take each tick.
   */
  take(): void {
    kvmLibc().sigtimedwait(this.alarmSet, ZERO_TIMEOUT);
  }

  expired(): boolean {
    return performance.now() >= this.deadline;
  }

  /** Disarm: delete the timer, swallow a signal it may have left pending, restore the mask. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const c = kvmLibc();
    if (this.timer) c.timerDelete(this.timer);
    while (c.sigtimedwait(this.alarmSet, ZERO_TIMEOUT) === SIGALRM) { /* taken */ }
    c.sigmask(SIG_SETMASK, this.oldMask, null);
  }
}
