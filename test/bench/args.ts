// The command line of the lab benchmarks: `--driver box|host-shell` and numeric `--NAME N`.

export function benchArgs(argv: string[]): { driver: 'box' | 'host-shell' | undefined; num(name: string): number | undefined } {
  const flag = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const driver = flag('--driver');
  if (driver !== undefined && driver !== 'box' && driver !== 'host-shell') {
    console.error('bench: --driver must be box or host-shell');
    process.exit(2);
  }
  return {
    driver,
    num: (name) => {
      const v = flag(name);
      return v === undefined ? undefined : Number(v);
    },
  };
}
