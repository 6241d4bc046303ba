// A box engine started in a cgroup of its own (as one started by systemd or another shell is),
// so that the containers it makes sit under the engine's cgroup, not the test's: the case the
// kernel panel must find a sandbox's cgroups in from its own process.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Make the engine's cgroups (`name` in each hierarchy box uses) and start `box engine` in them on `root`. */
export function startEngineInOwnCgroup(box: string, root: string, name: string): { groups: string[]; status: number | null; stderr: string } {
  const groups: string[] = [];
  const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
  for (const h of v2 ? [''] : ['memory', 'cpu,cpuacct', 'pids']) {
    const dir = path.join('/sys/fs/cgroup', h, name);
    if (!fs.existsSync(path.dirname(dir))) continue;
    fs.mkdirSync(dir);
    groups.push(dir);
  }
  const into = groups.map((d) => `echo $$ > ${d}/cgroup.procs`).join('; ');
  const r = spawnSync('sh', ['-c', `${into}; exec "$0" engine start`, box], { env: { ...process.env, BOX_ROOT: root }, encoding: 'utf8', timeout: 60_000 });
  return { groups, status: r.status, stderr: r.stderr };
}

/** Remove those cgroups once the engine has stopped (a cgroup goes only when its last process has). */
export async function removeEngineCgroups(groups: string[]): Promise<void> {
  for (const d of [...groups].reverse()) {
    for (let i = 0; i < 50; i++) {
      try { fs.rmdirSync(d); break; } catch { await new Promise((r) => setTimeout(r, 100)); }
    }
  }
}
