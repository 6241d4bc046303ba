// "Exit with code": a guest writes a byte to port 0xf4 and the monitor stops with that exit
// status. QEMU's isa-debug-exit device sits at the same port, for the same reason: test
// programs need a way to say "done, and this is the result" without an operating system.

import type { PortDevice, Stop } from './bus.ts';

export const EXIT_PORT = 0xf4;

export class ExitPort implements PortDevice {
  readonly name = 'exit';
  readonly firstPort = EXIT_PORT;
  readonly portCount = 1;

  register(): string {
    return 'exit code';
  }

  read(): number {
    return 0xffffffff;
  }

  write(_port: number, _size: number, value: number): Stop {
    return { kind: 'exit', code: value & 0xff };
  }
}
