// What /proc/PID/status says about a process's capabilities, no_new_privs and seccomp state:
// the tests read it from inside real containers (test/integration/security.test.ts).
// (This was the parser of runtime/src/security/thread.ts, a koffi twin that applied a security
// plan to Node's own thread; the tests now go through box-init, the path box uses, and the
// twin is gone.)

/** What /proc says about a thread's security state (man 5 proc: /proc/pid/status). */
export interface SecurityStatus {
  capInh: bigint;
  capPrm: bigint;
  capEff: bigint;
  capBnd: bigint;
  capAmb: bigint;
  noNewPrivs: boolean;
  /** 0 off, 1 strict, 2 filter */
  seccomp: number;
  seccompFilters: number;
}

/** Parse a status file: /proc/thread-self/status for the calling thread, /proc/PID/status for a process. */
export function parseSecurityStatus(text: string): SecurityStatus {
  const field = (name: string): string => {
    const m = new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(text);
    if (!m) throw new Error(`no ${name} line in the status file`);
    return m[1];
  };
  const optional = (name: string): string | undefined => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(text)?.[1];
  return {
    capInh: BigInt(`0x${field('CapInh')}`),
    capPrm: BigInt(`0x${field('CapPrm')}`),
    capEff: BigInt(`0x${field('CapEff')}`),
    capBnd: BigInt(`0x${field('CapBnd')}`),
    capAmb: BigInt(`0x${field('CapAmb')}`),
    noNewPrivs: field('NoNewPrivs') === '1',
    seccomp: Number(field('Seccomp')),
    seccompFilters: Number(optional('Seccomp_filters') ?? 0),
  };
}
