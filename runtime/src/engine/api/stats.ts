// /containers/{id}/stats: the container's cgroup counters (cgroups/) in the Engine API's
// shape. The CLI computes CPU % from two samples (cpu_stats and precpu_stats: the cgroup's
// CPU time against the whole machine's, /proc/stat), memory from usage and limit.

import fs from 'node:fs';
import os from 'node:os';
import { containerCgroup } from '../../container/cgroup.ts';
import { realSys } from '../../sys/sys.ts';
import { nullTrace } from '../../sys/trace.ts';
import { find } from './containers.ts';
import { ApiError, commonHeaders, type Call } from './http.ts';

/** The machine's CPU time in ns: the first line of /proc/stat, in USER_HZ ticks (100 a second). */
function systemCpuNs(): number {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 8).map(Number);
  return fields.reduce((a, b) => a + b, 0) * 1e7;
}

export async function statsHandler({ res, params, query }: Call): Promise<void> {
  const s = find(params[0]);
  if (s.status !== 'running' || !s.cgroup) throw new ApiError(409, `Container ${s.id} is not running`);
  const cg = containerCgroup(realSys(nullTrace), s);
  if (!cg) throw new ApiError(409, `Container ${s.id} has no cgroup`);
  const sample = () => {
    const st = cg.stats();
    return { cpu: (st.cpuUsageUsec ?? 0) * 1000, system: systemCpuNs(), st };
  };
  const stream = !['0', 'false'].includes(query.get('stream') ?? '1');
  res.writeHead(200, { 'Content-Type': 'application/json', ...commonHeaders() });
  let pre = sample();
  const cpus = os.availableParallelism();
  do {
    await new Promise((r) => setTimeout(r, stream ? 1000 : 200));
    let now;
    try {
      now = sample();
    } catch {
      break; // the container stopped: its cgroup is gone
    }
    const body = {
      read: new Date().toISOString(), preread: new Date(Date.now() - 200).toISOString(), id: s.id, name: `/${s.name}`,
      pids_stats: { current: now.st.pidsCurrent ?? 0, ...(now.st.pidsMax ? { limit: now.st.pidsMax } : {}) },
      cpu_stats: { cpu_usage: { total_usage: now.cpu, usage_in_kernelmode: 0, usage_in_usermode: 0 }, system_cpu_usage: now.system, online_cpus: cpus, throttling_data: { periods: now.st.nrPeriods ?? 0, throttled_periods: now.st.nrThrottled ?? 0, throttled_time: (now.st.throttledUsec ?? 0) * 1000 } },
      precpu_stats: { cpu_usage: { total_usage: pre.cpu, usage_in_kernelmode: 0, usage_in_usermode: 0 }, system_cpu_usage: pre.system, online_cpus: cpus, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } },
      memory_stats: { usage: now.st.memoryCurrent ?? 0, max_usage: now.st.memoryPeak ?? 0, limit: now.st.memoryMax ?? os.totalmem(), stats: {} },
      blkio_stats: {}, networks: {}, num_procs: 0, storage_stats: {},
    };
    res.write(JSON.stringify(body) + '\n');
    pre = now;
  } while (stream && !res.destroyed);
  res.end();
}
