// The PC's real-time clock (an MC146818 and its CMOS memory) at ports 0x70 (index) and 0x71
// (data): where a PC keeps the date while it is off. Linux reads the wall-clock time from it
// once at boot. Only the clock is played here, from the host's clock; every other CMOS byte
// reads 0.
//
// Without it the data port floats high (0xff), and 0xff in status register A has the
// "update in progress" bit set: the kernel would wait for an update that never ends.

import type { PortDevice } from './bus.ts';

export const RTC_INDEX = 0x70;

const bcd = (n: number) => ((Math.floor(n / 10) << 4) | (n % 10)) & 0xff;

export class CmosRtc implements PortDevice {
  readonly name = 'CMOS RTC';
  readonly firstPort = RTC_INDEX;
  readonly portCount = 2;
  private index = 0;
  private readonly now: () => Date;

  constructor(now: () => Date = () => new Date()) {
    this.now = now;
  }

  register(port: number): string {
    return port === RTC_INDEX ? 'index' : `data [0x${this.index.toString(16)}]`;
  }

  read(port: number): number {
    if (port === RTC_INDEX) return this.index;
    const t = this.now();
    switch (this.index) {
      case 0x00: return bcd(t.getUTCSeconds());
      case 0x02: return bcd(t.getUTCMinutes());
      case 0x04: return bcd(t.getUTCHours());
      case 0x06: return bcd(t.getUTCDay() + 1);
      case 0x07: return bcd(t.getUTCDate());
      case 0x08: return bcd(t.getUTCMonth() + 1);
      case 0x09: return bcd(t.getUTCFullYear() % 100);
      case 0x32: return bcd(Math.floor(t.getUTCFullYear() / 100)); // century
      case 0x0a: return 0x26; // status A: 32.768 kHz base, 1024 Hz rate, no update in progress
      case 0x0b: return 0x02; // status B: 24-hour clock, BCD
      case 0x0d: return 0x80; // status D: the battery is fine
      default: return 0;
    }
  }

  write(port: number, _size: number, value: number): void {
    // Bit 7 of the index masks NMIs on a real PC; the register number is the low 7 bits.
    if (port === RTC_INDEX) this.index = value & 0x7f;
  }
}
