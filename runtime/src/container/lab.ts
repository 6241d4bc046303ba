// A lab sandbox: the container each reader's terminal runs in. Root inside is an
// unprivileged uid outside (user namespace), with every capability *inside* so the reader
// can make namespaces, mounts, cgroups and containers of their own; the host's /usr is
// there read-only (the usual tools), box itself too, and /dev/kvm for the hypervisor lessons.
// What a capability in a user namespace allows is checked against the namespaces it owns:
// the host's files, processes and network are owned by the host's, out of reach.

import fs from 'node:fs';
import path from 'node:path';
import type { RunConfig } from './config.ts';
import { BOX_HOME as boxHome } from '../home.ts';


export function applyLab(cfg: RunConfig): RunConfig {
  const volumes = [
    { host: '/usr', container: '/usr', readOnly: true },
    { host: path.join(boxHome, 'runtime'), container: '/opt/box/runtime', readOnly: true },
    { host: path.join(boxHome, 'node_modules'), container: '/opt/box/node_modules', readOnly: true },
    { host: path.join(boxHome, 'package.json'), container: '/opt/box/package.json', readOnly: true },
    // Debian's tools reach many commands through /etc/alternatives symlinks (which, editor...).
    ...['/etc/alternatives', '/etc/ld.so.cache'].filter((p) => fs.existsSync(p))
      .map((p) => ({ host: p, container: p, readOnly: true })),
    ...cfg.volumes,
  ];
  const devices = [...cfg.devices];
  if (fs.existsSync('/dev/kvm') && !devices.includes('/dev/kvm')) devices.push('/dev/kvm');
  return {
    ...cfg,
    userns: true,
    namespaces: [...new Set([...cfg.namespaces, 'pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup'] as const)],
    volumes,
    devices,
    seccomp: false,
    // box inside makes its cgroups at <sandbox>/box, beside the leaf the sandbox lives in.
    env: ['BOX_LAB=1', 'BOX_CGROUP_PARENT=/box', ...cfg.env],
  };
}
