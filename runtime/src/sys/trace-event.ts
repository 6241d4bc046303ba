// What the trace records, as a type alone (no Node imports), so that the runtime that writes
// it (sys/trace.ts), the lab server that relays it and the page that shows it (the kernel
// panel, src/scripts/panel-format.ts) share one definition.

export type TraceEvent =
  /** The command line of this box process: the first event of every invocation. */
  | { kind: 'command'; who: string; argv: string[]; t: number }
  /** A system call: its name, its arguments as C would show them, its result or errno. */
  | { kind: 'syscall'; who: string; call: string; args: string; result: number; errno?: string; t: number }
  /** A write to a kernel file: a cgroup limit, a uid_map, a sysctl. */
  | { kind: 'write'; who: string; path: string; value: string; errno?: string; t: number }
  /** A step in words, for what is neither (e.g. "spawn box-init"). */
  | { kind: 'note'; who: string; text: string; t: number };

/** An event as the page gets it: a TraceEvent with the invocation (box process) it came from. */
export type RelayedTraceEvent = TraceEvent & { inv: string };
