// How the monitor finds the device behind a VM exit. Real hardware decodes addresses on a
// bus; here a port I/O exit (IN/OUT) is routed by port number, and an MMIO exit (a load or
// store to guest-physical memory that is not RAM) by address. Nothing answers an address
// that no device claims: like an empty ISA slot, reads see all ones and writes vanish.

import type { Vcpu, Vm } from '../kvm.ts';

/** What a device handler may ask of the machine. */
export interface DeviceContext {
  vm: Vm;
  vcpu: Vcpu;
  /** The guest's console: bytes for the user's terminal. */
  console(bytes: Uint8Array): void;
}

/** A device may end the run (the "exit with code" port does). */
export interface Stop {
  kind: 'exit';
  code: number;
}

export interface PortDevice {
  readonly name: string;
  readonly firstPort: number;
  readonly portCount: number;
  /** The register behind a port, for traces: "THR (transmit)". */
  register(port: number, write: boolean): string;
  read(port: number, size: number, ctx: DeviceContext): number;
  write(port: number, size: number, value: number, ctx: DeviceContext): Stop | void;
}

export interface MmioDevice {
  readonly name: string;
  readonly base: number;
  readonly length: number;
  register(addr: number, write: boolean): string;
  read(addr: number, size: number, ctx: DeviceContext): bigint;
  write(addr: number, size: number, value: bigint, ctx: DeviceContext): Stop | void;
}

export class Bus {
  private readonly ports = new Map<number, PortDevice>();
  readonly mmio: MmioDevice[] = [];

  addPorts(d: PortDevice): this {
    for (let p = d.firstPort; p < d.firstPort + d.portCount; p++) {
      if (this.ports.has(p)) throw new Error(`port 0x${p.toString(16)} is taken by ${this.ports.get(p)!.name}`);
      this.ports.set(p, d);
    }
    return this;
  }

  addMmio(d: MmioDevice): this {
    this.mmio.push(d);
    return this;
  }

  port(port: number): PortDevice | undefined {
    return this.ports.get(port);
  }

  mmioAt(addr: number): MmioDevice | undefined {
    return this.mmio.find((d) => addr >= d.base && addr < d.base + d.length);
  }
}
