// An 8250/16550 UART, the PC's serial port, at COM1 (ports 0x3f8-0x3ff): what a guest
// writes to its transmit register appears on the user's terminal.
//
// This is trap-and-emulate in its plainest form: the guest runs the same OUT instructions it
// would run on real hardware; each one exits to the monitor, which plays the chip's part.
// Eight registers share eight ports, and the "divisor latch" bit (DLAB) in the line control
// register swaps two of them for the baud-rate divisor, as on the real chip.

import type { DeviceContext, PortDevice } from './bus.ts';

export const COM1 = 0x3f8;

const THR = 0; // transmit holding register (write) / receive buffer (read)
const IER = 1; // interrupt enable
const IIR = 2; // interrupt identification (read) / FIFO control (write)
const LCR = 3; // line control; bit 7 = DLAB
const MCR = 4; // modem control
const LSR = 5; // line status
const MSR = 6; // modem status
const SCR = 7; // scratch: a byte the chip keeps; drivers use it to check a UART is there

const LSR_THRE = 0x20; // transmit holding register empty: ready for the next byte
const LSR_TEMT = 0x40; // transmitter empty
const IIR_NO_INTERRUPT = 0x01;

const NAMES = ['THR (transmit)', 'IER', 'IIR/FCR', 'LCR', 'MCR', 'LSR (line status)', 'MSR', 'SCR'];

export class Uart8250 implements PortDevice {
  readonly name = 'COM1 (8250 UART)';
  readonly firstPort: number;
  readonly portCount = 8;
  /** Bytes the guest has transmitted. */
  transmitted = 0;
  private readonly regs = new Uint8Array(8);
  private divisor = 12; // 9600 baud: 115200 / 12

  constructor(base = COM1) {
    this.firstPort = base;
  }

  private get dlab(): boolean {
    return (this.regs[LCR] & 0x80) !== 0;
  }

  register(port: number, write: boolean): string {
    const r = port - this.firstPort;
    if (this.dlab && r <= 1) return r === 0 ? 'DLL (divisor low)' : 'DLM (divisor high)';
    if (r === THR) return write ? 'THR (transmit)' : 'RBR (receive)';
    return NAMES[r];
  }

  read(port: number, _size: number): number {
    const r = port - this.firstPort;
    if (this.dlab && r === 0) return this.divisor & 0xff;
    if (this.dlab && r === 1) return this.divisor >> 8;
    switch (r) {
      case THR:
        return 0; // no input yet: nothing was received
      case IIR:
        return IIR_NO_INTERRUPT;
      case LSR:
        // The monitor transmits at once, so the transmitter is always empty and ready.
        return LSR_THRE | LSR_TEMT;
      case MSR:
        return 0xb0; // carrier detect, data set ready, clear to send
      default:
        return this.regs[r];
    }
  }

  write(port: number, _size: number, value: number, ctx: DeviceContext): void {
    const r = port - this.firstPort;
    const byte = value & 0xff;
    if (this.dlab && r === 0) {
      this.divisor = (this.divisor & 0xff00) | byte;
      return;
    }
    if (this.dlab && r === 1) {
      this.divisor = (this.divisor & 0xff) | (byte << 8);
      return;
    }
    if (r === THR) {
      this.transmitted++;
      ctx.console(Uint8Array.of(byte));
      return;
    }
    if (r !== LSR && r !== MSR) this.regs[r] = byte; // the status registers are read-only
  }
}
