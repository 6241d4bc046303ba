// An 8250/16550 UART, the PC's serial port, at COM1 (ports 0x3f8-0x3ff): what a guest
// writes to its transmit register appears on the user's terminal.
//
// This is trap-and-emulate in its plainest form: the guest runs the same OUT instructions it
// would run on real hardware; each one exits to the monitor, which plays the chip's part.
// Eight registers share eight ports, and the "divisor latch" bit (DLAB) in the line control
// register swaps two of them for the baud-rate divisor, as on the real chip.
//
// With an interrupt line (the Linux machine: IRQ 4, through KVM_IRQ_LINE) the chip also
// interrupts, as Linux's serial driver expects: "a byte arrived" (RX data available) and
// "ready for the next byte" (THR empty), each when enabled in IER. The line is high while an
// enabled interrupt is pending; IIR says which one, highest priority first. The lesson
// guests poll and never enable interrupts, so for them nothing changes.

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

const LSR_DR = 0x01; // data ready: a received byte waits in RBR
const LSR_THRE = 0x20; // transmit holding register empty: ready for the next byte
const LSR_TEMT = 0x40; // transmitter empty
const IER_RDI = 0x01; // interrupt when a byte has arrived
const IER_THRI = 0x02; // interrupt when THR is empty
const IIR_NO_INTERRUPT = 0x01;
const IIR_THRI = 0x02; // the pending interrupt is "THR empty"
const IIR_RDI = 0x04; // the pending interrupt is "data received"
/** Received bytes waiting for the guest; more is dropped, as a real FIFO overruns. */
const RX_LIMIT = 4096;

const NAMES = ['THR (transmit)', 'IER', 'IIR/FCR', 'LCR', 'MCR', 'LSR (line status)', 'MSR', 'SCR'];

export class Uart8250 implements PortDevice {
  readonly name = 'COM1 (8250 UART)';
  readonly firstPort: number;
  readonly portCount = 8;
  /** Bytes the guest has transmitted. */
  transmitted = 0;
  private readonly regs = new Uint8Array(8);
  private divisor = 12; // 9600 baud: 115200 / 12
  private readonly rx: number[] = [];
  /** "THR empty" is pending until IIR reports it or the guest writes THR. */
  private thrInterrupt = false;
  private line = false;
  /** Moves the interrupt line (KVM_IRQ_LINE); absent for the polling lesson guests. */
  private readonly setIrq?: (level: boolean) => void;

  constructor(base = COM1, setIrq?: (level: boolean) => void) {
    this.firstPort = base;
    this.setIrq = setIrq;
  }

  /** Bytes typed by the user, for the guest to receive. */
  receive(bytes: Uint8Array): void {
    for (const b of bytes) if (this.rx.length < RX_LIMIT) this.rx.push(b);
    this.updateIrq();
  }

  /** The interrupt the chip would report now, as IIR encodes it. */
  private pending(): number {
    const ier = this.regs[IER];
    if (ier & IER_RDI && this.rx.length) return IIR_RDI;
    if (ier & IER_THRI && this.thrInterrupt) return IIR_THRI;
    return IIR_NO_INTERRUPT;
  }

  private updateIrq(): void {
    const level = this.pending() !== IIR_NO_INTERRUPT;
    if (level !== this.line && this.setIrq) {
      this.line = level;
      this.setIrq(level);
    }
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
      case THR: {
        const b = this.rx.shift() ?? 0;
        this.updateIrq();
        return b;
      }
      case IIR: {
        const iir = this.pending();
        // Reading IIR acknowledges a "THR empty" interrupt (8250 datasheet).
        if (iir === IIR_THRI) {
          this.thrInterrupt = false;
          this.updateIrq();
        }
        return iir;
      }
      case LSR:
        // The monitor transmits at once, so the transmitter is always empty and ready.
        return LSR_THRE | LSR_TEMT | (this.rx.length ? LSR_DR : 0);
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
      // Sent at once: THR is empty again, which is itself an interrupt when enabled.
      this.thrInterrupt = true;
      this.updateIrq();
      return;
    }
    if (r === IER) {
      // Enabling "THR empty" while THR is empty raises it at once, as the chip does.
      if (byte & IER_THRI && !(this.regs[IER] & IER_THRI)) this.thrInterrupt = true;
      this.regs[IER] = byte & 0x0f;
      this.updateIrq();
      return;
    }
    if (r !== LSR && r !== MSR && r !== IIR) this.regs[r] = byte; // status registers are read-only; FCR: no FIFOs here
  }
}
