// The real kubectl against a test's `box cluster`, for the cluster tests: its kubeconfig is
// made in each file's beforeAll, so it is read when a command runs.
import { spawnSync } from 'node:child_process';
import { until } from './helpers.ts';

export function kubectlWith(kubeconfig: () => string) {
  /** kubectl ARGS: its exit code and output, whatever they are. */
  const kubectl = (args: string[]) => {
    const r = spawnSync('kubectl', args, { env: { ...process.env, KUBECONFIG: kubeconfig() }, encoding: 'utf8', timeout: 30_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  /** kubectl ARGS that must succeed: its stdout. */
  const ok = (args: string[]): string => {
    const r = kubectl(args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  return { kubectl, ok };
}

/** Poll `check` (each poll may run kubectl, a process: every 200 ms) until true; fail after `seconds`. */
export const untilCluster = (check: () => boolean, what: string, seconds = 10) => until(check, seconds * 1000, what, 200);
