// The emulated devices, driven the way a guest drives them (port by port, address by
// address), without KVM: what the guest would read back and what reaches the console. The
// same devices are exercised by real guests on /dev/kvm in test/integration/vmm-guests.test.ts.

import { describe, expect, it } from 'vitest';
import { Bus, type DeviceContext } from '../../runtime/src/vmm/devices/bus.ts';
import { ExitPort } from '../../runtime/src/vmm/devices/exit-port.ts';
import { MmioDisplay } from '../../runtime/src/vmm/devices/mmio-display.ts';
import { COM1, Uart8250 } from '../../runtime/src/vmm/devices/uart8250.ts';

function console_(): { ctx: DeviceContext; text: () => string } {
  const out: number[] = [];
  const ctx = { console: (b: Uint8Array) => out.push(...b) } as unknown as DeviceContext;
  return { ctx, text: () => Buffer.from(out).toString() };
}

describe('8250 UART', () => {
  it('prints what the guest writes to the transmit register, byte by byte', () => {
    const { ctx, text } = console_();
    const uart = new Uart8250();
    for (const c of Buffer.from('ok\n')) uart.write(COM1, 1, c, ctx);
    expect(text()).toBe('ok\n');
    expect(uart.transmitted).toBe(3);
  });

  it('says the transmitter is always ready, and no interrupt is pending', () => {
    const uart = new Uart8250();
    expect(uart.read(COM1 + 5, 1) & 0x60).toBe(0x60); // LSR: THRE and TEMT
    expect(uart.read(COM1 + 2, 1)).toBe(0x01); // IIR: no interrupt
  });

  it('keeps the scratch register, as the chip does (how drivers find a UART)', () => {
    const { ctx } = console_();
    const uart = new Uart8250();
    uart.write(COM1 + 7, 1, 0x5a, ctx);
    expect(uart.read(COM1 + 7, 1)).toBe(0x5a);
  });

  it('swaps the data and interrupt-enable ports for the baud divisor while DLAB is set', () => {
    const { ctx, text } = console_();
    const uart = new Uart8250();
    uart.write(COM1 + 3, 1, 0x80, ctx); // LCR: DLAB on
    uart.write(COM1 + 0, 1, 0x01, ctx); // divisor low: 115200 baud
    uart.write(COM1 + 1, 1, 0x00, ctx);
    expect(text()).toBe(''); // a divisor write is not output
    expect(uart.register(COM1, true)).toMatch(/^DLL/);
    expect(uart.read(COM1, 1)).toBe(1);
    uart.write(COM1 + 3, 1, 0x03, ctx); // 8N1, DLAB off
    expect(uart.register(COM1, true)).toMatch(/^THR/);
    uart.write(COM1, 1, 0x41, ctx);
    expect(text()).toBe('A');
  });
});

describe('MMIO display', () => {
  it('shows written values, counts reads, squares on request', () => {
    const { ctx, text } = console_();
    const d = new MmioDisplay(0xd0000);
    d.write(0xd0000, 4, 42n, ctx);
    expect(text()).toBe('[display] 42\n');
    expect([d.read(0xd0004), d.read(0xd0004), d.read(0xd0004)]).toEqual([0n, 1n, 2n]);
    d.write(0xd0008, 4, 12n, ctx);
    expect(d.read(0xd0008)).toBe(144n);
    expect(d.register(0xd0004)).toBe('COUNTER');
  });
});

describe('bus', () => {
  it('routes ports and addresses to their device, and nothing answers elsewhere', () => {
    const uart = new Uart8250();
    const display = new MmioDisplay(0xd0000);
    const bus = new Bus().addPorts(uart).addPorts(new ExitPort()).addMmio(display);
    expect(bus.port(0x3f8)).toBe(uart);
    expect(bus.port(0x3ff)).toBe(uart);
    expect(bus.port(0x400)).toBeUndefined();
    expect(bus.port(0xf4)?.name).toBe('exit');
    expect(bus.mmioAt(0xd0fff)).toBe(display);
    expect(bus.mmioAt(0xd1000)).toBeUndefined();
  });

  it('refuses two devices on one port', () => {
    expect(() => new Bus().addPorts(new Uart8250()).addPorts(new Uart8250())).toThrow(/port 0x3f8 is taken/);
  });

  it('the exit port stops the run with the byte written', () => {
    expect(new ExitPort().write(0xf4, 1, 0x103)).toEqual({ kind: 'exit', code: 3 });
  });
});
