// /_ping, /version, /info, /events: how a docker client learns whom it talks to. The CLI
// pings first and reads the API-Version header to negotiate down to the version box speaks
// (1.41, Debian's docker.io 20.10); a newer CLI does the same.

import os from 'node:os';
import { listIds, readState } from '../../container/state.ts';
import { listImages } from '../../image/index.ts';
import { boxRoot } from '../../image/paths.ts';
import { API_VERSION, ApiError, MIN_API_VERSION, commonHeaders, send, type Route } from './http.ts';
import { eventsHandler } from './events.ts';

const BOX_VERSION = '0.1.0-box';

export const systemRoutes: Route[] = [
  ['GET', /^\/_ping$/, ({ req, res }) => {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache', 'Builder-Version': '1', ...commonHeaders() });
    res.end(req.method === 'HEAD' ? undefined : 'OK');
  }],
  ['GET', /^\/version$/, ({ res }) => send(res, 200, version())],
  ['GET', /^\/info$/, ({ res }) => send(res, 200, info())],
  ['GET', /^\/events$/, eventsHandler],
  // box has no plugins; docker inspect asks here last, and a 404 lets it say "No such object".
  ['GET', /^\/plugins\/(.+)\/json$/, ({ params }) => { throw new ApiError(404, `plugin "${params[0]}" not found`); }],
];

function version() {
  return {
    Platform: { Name: 'box engine' },
    Components: [{ Name: 'Engine', Version: BOX_VERSION, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: goArch() } }],
    Version: BOX_VERSION,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: 'box',
    GoVersion: `node${process.versions.node}`,
    Os: 'linux',
    Arch: goArch(),
    KernelVersion: os.release(),
    BuildTime: '',
  };
}

export function goArch(): string {
  return ({ x64: 'amd64', arm64: 'arm64', ia32: '386' } as Record<string, string>)[process.arch] ?? process.arch;
}

function info() {
  const states = listIds().map(readState).filter((s) => s !== null);
  const count = (st: string) => states.filter((s) => s.status === st).length;
  return {
    ID: 'box',
    Containers: states.length,
    ContainersRunning: count('running'),
    ContainersPaused: 0,
    ContainersStopped: count('exited'),
    Images: listImages().length,
    Driver: 'overlay2',
    DriverStatus: [],
    Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: [], Log: ['json-file'] },
    MemoryLimit: true,
    SwapLimit: false,
    CpuCfsPeriod: true,
    CpuCfsQuota: true,
    PidsLimit: true,
    OomKillDisable: false,
    IPv4Forwarding: true,
    Debug: false,
    NFd: 0,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    LoggingDriver: 'json-file',
    CgroupDriver: 'cgroupfs',
    NEventsListener: 0,
    KernelVersion: os.release(),
    OperatingSystem: 'box',
    OSVersion: '',
    OSType: 'linux',
    Architecture: os.machine(),
    IndexServerAddress: 'https://index.docker.io/v1/',
    RegistryConfig: { IndexConfigs: {}, InsecureRegistryCIDRs: ['127.0.0.0/8'], Mirrors: [] },
    NCPU: os.cpus().length,
    MemTotal: os.totalmem(),
    DockerRootDir: boxRoot(),
    Name: os.hostname(),
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: BOX_VERSION,
    Runtimes: { box: { path: 'box-init' } },
    DefaultRuntime: 'box',
    Swarm: { LocalNodeState: 'inactive', ControlAvailable: false, NodeID: '', NodeAddr: '', Error: '', RemoteManagers: null },
    LiveRestoreEnabled: false,
    Isolation: '',
    InitBinary: 'box-init',
    SecurityOptions: ['name=seccomp,profile=default'],
    Warnings: [],
  };
}
