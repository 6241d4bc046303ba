// A memory-mapped device: registers that the guest reaches with ordinary loads and stores
// (mov) to physical addresses where there is no RAM. KVM finds no memory slot there, stops
// the guest, and hands the monitor the address, the size and (for a store) the data: a
// KVM_EXIT_MMIO. It sits in the PC's 640 KiB-1 MiB hole, where real PCs put device memory
// (VGA at 0xa0000, option ROMs from 0xc0000).
//
//   base + 0  DISPLAY  write: show the value on the monitor's display line
//   base + 4  COUNTER  read: how many times COUNTER has been read before (state the device keeps)
//   base + 8  SQUARE   write n, then read: n * n, computed by the "device"

import type { DeviceContext, MmioDevice } from './bus.ts';

export const DISPLAY_BASE = 0xd0000;

const REGS: Record<number, string> = { 0: 'DISPLAY', 4: 'COUNTER', 8: 'SQUARE' };

export class MmioDisplay implements MmioDevice {
  readonly name = 'display';
  readonly base: number;
  readonly length = 0x1000;
  /** Values the guest has shown, in order. */
  readonly shown: bigint[] = [];
  private counter = 0n;
  private square = 0n;

  constructor(base = DISPLAY_BASE) {
    this.base = base;
  }

  register(addr: number): string {
    return REGS[addr - this.base] ?? `+0x${(addr - this.base).toString(16)}`;
  }

  read(addr: number): bigint {
    switch (addr - this.base) {
      case 4:
        return this.counter++;
      case 8:
        return this.square * this.square;
      default:
        return 0n;
    }
  }

  write(addr: number, _size: number, value: bigint, ctx: DeviceContext): void {
    switch (addr - this.base) {
      case 0:
        this.shown.push(value);
        ctx.console(new TextEncoder().encode(`[display] ${value}\n`));
        break;
      case 8:
        this.square = value;
        break;
    }
  }
}
