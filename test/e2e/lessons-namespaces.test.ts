// End to end, every namespace lesson as a reader meets it: the real lab server, the real site
// in headless Chromium, one real `box --lab` sandbox per lesson. For each lesson: its main demo
// from the page's Run buttons, the expected result read from the xterm.js buffer; then each
// exercise checked before it is done (fail, with its hint) and after it is done by typing the
// commands into the terminal (pass).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTestsMissing } from './harness.ts';
import { PROMPT, T, pidOf, startLessonLab } from './lesson-page.ts';
import type { LessonLab } from './lesson-page.ts';

const missing = await browserTestsMissing();
if (missing) console.warn(`e2e lessons: skipped: ${missing}`);

let lab: LessonLab;
const open = (slug: string) => lab.open(`en/${slug}`);

describe.skipIf(!!missing)('the namespace lessons in a browser', () => {
  beforeAll(async () => {
    lab = await startLessonLab('ns');
  }, 600_000);

  afterAll(async () => {
    if (lab) expect(await lab.stop()).toBe(0);
  }, T);

  it('PID namespaces: the shell in the container is PID 1; three exercises', async () => {
    const p = await open('pid-namespaces');
    await p.run('box run -it --ns pid,mnt busybox sh', /\n\/ # *$/);
    expect(await p.run('echo $$', /echo \$\$\n1\n/)).toMatch(/\n1\n/);
    await p.run('exit', PROMPT);

    await p.expectFail('outside-pid', 'box inspect');
    await p.typeAll('box run -d --name sleeper busybox sleep 1000', `echo ${pidOf('sleeper')} > /root/answer`);
    await p.expectPass('outside-pid');

    await p.expectFail('pid-one-by-hand', 'unshare');
    await p.typeAll('unshare --pid --fork sleep 999 &');
    await p.expectPass('pid-one-by-hand');

    await p.expectFail('stop-stubborn', 'SIGKILL');
    await p.typeAll('box run -d --name stubborn busybox sleep 1000', 'box exec stubborn kill -9 1', 'box kill stubborn');
    await p.expectPass('stop-stubborn');
  }, 6 * T);

  it('UTS namespaces: a container named web1; two exercises', async () => {
    const p = await open('uts-namespaces');
    const out = await p.run('box run --rm --ns uts,mnt --hostname web1 busybox hostname', /\nweb1\n[\s\S]*[#$] *$/);
    expect(out).toMatch(/\nweb1\n/);
    expect((await p.type('hostname')).out).toMatch(/\nlab\n/);

    await p.expectFail('named-cache', '--hostname');
    await p.typeAll('box run -d --name cache --hostname cache-1 busybox sleep 1000');
    await p.expectPass('named-cache');

    await p.expectFail('rename-running', 'nsenter');
    await p.typeAll('box run -d --name renamer busybox sleep 1000', `nsenter --target ${pidOf('renamer')} --uts hostname renamed`);
    await p.expectPass('rename-running');
    expect((await p.type('hostname')).out).toMatch(/\nlab\n/); // the sandbox kept its name
  }, 6 * T);

  it('mount namespaces: a tmpfs mounted in one is not in the other; two exercises', async () => {
    const p = await open('mount-namespaces');
    await p.run('mkdir -p /tmp/demo', PROMPT);
    await p.run('unshare --mount sh', PROMPT);
    await p.run('mount -t tmpfs scratch /tmp/demo', PROMPT);
    await p.run('echo hello > /tmp/demo/file', PROMPT);
    expect(await p.run('grep /tmp/demo /proc/self/mountinfo', / \/tmp\/demo [^\n]* - tmpfs scratch /)).toContain('/tmp/demo');
    await p.run('exit', PROMPT);
    // Back in the sandbox's own mount namespace: no mount, no file.
    const outside = await p.type('echo files=$(ls /tmp/demo | wc -l) mounts=$(grep -c " /tmp/demo " /proc/self/mountinfo)');
    expect(outside.out).toMatch(/\nfiles=0 mounts=0\n/);

    await p.expectFail('secret-mount', 'unshare --mount');
    await p.typeAll(`mkdir -p /tmp/secret && unshare --mount sh -c 'mount -t tmpfs none /tmp/secret && echo hi > /tmp/secret/note && sleep 1000' &`);
    await p.expectPass('secret-mount');

    await p.expectFail('find-the-cell', 'readlink');
    await p.typeAll('box run -d --name cell --chroot busybox sleep 1000', `readlink /proc/${pidOf('cell')}/root > /root/cell-root`);
    await p.expectPass('find-the-cell');
  }, 6 * T);

  it('network namespaces: a new one has only lo, down; veth, bridge and NAT exercises', async () => {
    const p = await open('network-namespaces');
    // <LOOPBACK> and nothing more: not UP (busybox's ip prints no state for it).
    const out = await p.run('box run --rm --ns net,mnt busybox ip link', /\n1: lo: <LOOPBACK> [^\n]*\n[\s\S]*[#$] *$/);
    const links = [...out.matchAll(/^\d+: ([^:@\s]+)[:@]/gm)].map((m) => m[1]);
    expect(links).toEqual(['lo']);

    await p.expectFail('neighbor', 'veth');
    await p.typeAll(
      'box run -d --name neighbor --network none busybox sleep 1000',
      `N=${pidOf('neighbor')}`,
      'ip link add veth-c type veth peer name veth-d',
      'ip link set veth-d netns $N',
      'ip addr add 10.0.1.1/24 dev veth-c',
      'ip link set veth-c up',
      'nsenter -t $N -n ip addr add 10.0.1.2/24 dev veth-d',
      'nsenter -t $N -n ip link set veth-d up',
    );
    await p.expectPass('neighbor');

    await p.expectFail('left-right', 'bridge');
    await p.typeAll(
      'ip link add br0 type bridge',
      'ip addr add 10.0.2.1/24 dev br0',
      'ip link set br0 up',
      `plug() { P=${pidOf('$1')}; ip link add $1-out type veth peer name $1-in; ip link set $1-out master br0 up; ` +
        'ip link set $1-in netns $P; nsenter -t $P -n ip addr add $2/24 dev $1-in; nsenter -t $P -n ip link set $1-in up; ' +
        'nsenter -t $P -n ip route add default via 10.0.2.1; }',
      'box run -d --name left --network none busybox sleep 1000',
      'box run -d --name right --network none busybox sleep 1000',
      'plug left 10.0.2.11',
      'plug right 10.0.2.12',
    );
    await p.expectPass('left-right');

    await p.expectFail('nat-out', 'MASQUERADE');
    await p.typeAll(
      'box run -d --name outside --network none busybox sleep 1000',
      `OUT=${pidOf('outside')}`,
      'ip link add to-world type veth peer name world',
      'ip link set world netns $OUT',
      'ip addr add 198.51.100.1/24 dev to-world',
      'ip link set to-world up',
      'nsenter -t $OUT -n ip addr add 198.51.100.2/24 dev world',
      'nsenter -t $OUT -n ip link set world up',
    );
    // Wired, but neither forwarding nor NAT yet: still a fail.
    expect((await p.check('nat-out')).status).toBe('fail');
    await p.typeAll('echo 1 > /proc/sys/net/ipv4/ip_forward', 'iptables -t nat -A POSTROUTING -s 10.0.2.0/24 ! -o br0 -j MASQUERADE');
    await p.expectPass('nat-out');
  }, 8 * T);

  it('IPC namespaces: a queue made in the sandbox is not in a new IPC namespace; two exercises', async () => {
    const p = await open('ipc-namespaces');
    await p.runStarting("cat > /root/send <<'EOF'", PROMPT);
    await p.runStarting("cat > /root/receive <<'EOF'", PROMPT);
    await p.run('chmod +x /root/send /root/receive', PROMPT);
    await p.run('/root/send hello from the sandbox', PROMPT);
    expect(await p.run('ipcs -q', /0x00001234[\s\S]*[#$] *$/)).toContain('0x00001234');
    const other = await p.run('unshare --ipc ipcs -q', /Message Queues[\s\S]*\n[^\n]*[#$] *$/);
    expect(other).not.toContain('0x00001234');

    await p.expectFail('mailroom', 'nsenter');
    await p.typeAll('box run -d --name mailroom busybox sleep 1000', `nsenter --target ${pidOf('mailroom')} --ipc ipcmk -Q`);
    await p.expectPass('mailroom');

    await p.expectFail('vault-size', 'sysvipc');
    await p.run('box run -d --name vault busybox sleep 1000', /\n[0-9a-f]{64}\n/);
    await p.runStarting('nsenter --target $(box inspect vault', /Shared memory id: \d+/);
    await p.typeAll(`box exec vault cat /proc/sysvipc/shm | awk 'NR == 2 { print $4 }' > /root/vault-size`);
    await p.expectPass('vault-size');
  }, 6 * T);

  it('user namespaces: root inside is uid 100000 outside; uid_map by hand', async () => {
    const p = await open('user-namespaces');
    const map = await p.run('cat /proc/self/uid_map', /\n\s*0\s+\d+\s+\d+\s*\n/);
    const [, outside] = /\n\s*0\s+(\d+)\s+\d+\s*\n/.exec(map)!;
    expect(Number(outside)).toBeGreaterThan(0); // root here is an ordinary uid on the host
    const inner = await p.run("unshare --user --map-root-user sh -c 'id; cat /proc/self/uid_map'", /uid=0\(root\)[^\n]*\n\s*0\s+0\s+1\s*\n/);
    expect(inner).toMatch(/\n\s*0\s+0\s+1\s*\n/);

    await p.expectFail('map-by-hand', 'nsenter');
    await p.typeAll('unshare --user sleep 1000 &', 'P=$!', "echo '0 4321 1' > /proc/$P/uid_map", "echo '0 4321 1' > /proc/$P/gid_map",
      'nsenter --target $P --user sleep 2000 &');
    await p.expectPass('map-by-hand');

    await p.expectFail('mapped-uid', 'uid_map');
    await p.typeAll('box run -d --name mapped --userns busybox sleep 1000', `awk '/^Uid:/ { print $2 }' /proc/${pidOf('mapped')}/status > /root/mapped-uid`);
    await p.expectPass('mapped-uid');
  }, 6 * T);

  it('cgroup and time namespaces: / in /proc/self/cgroup, an uptime two days longer', async () => {
    const p = await open('cgroup-time-namespaces');
    // The sandbox is in a cgroup namespace of its own: its cgroup reads "/".
    const own = await p.run('cat /proc/self/cgroup', /\n\d+:[^\n]*:\/\n[\s\S]*[#$] *$/);
    expect(own).not.toMatch(/\n\d+:[^\n]*:\/box/);
    await p.run('box run -d --name watched busybox sleep 1000', /\n[0-9a-f]{64}\n/);
    const inside = await p.run('box exec watched cat /proc/self/cgroup', /\n\d+:[^\n]*:\/\n[\s\S]*[#$] *$/);
    expect(inside.split('\n').filter((l) => /^\d+:/.test(l)).every((l) => l.endsWith(':/'))).toBe(true);

    const days = (s: string) => Number(/ up\s+(\d+) days?/.exec(s)?.[1] ?? 0);
    const here = days(await p.run('uptime', / up [^\n]*load average[^\n]*\n/));
    const there = days(await p.run('box run --rm --ns pid,mnt,time --time-offset 2d busybox uptime', / up [^\n]*load average[^\n]*\n/));
    expect(there - here).toBe(2);

    await p.expectFail('cgroup-path', '/proc/PID/cgroup');
    await p.typeAll(`grep -v ':/$' /proc/${pidOf('watched')}/cgroup | head -n 1 | cut -d: -f3 > /root/cgroup-path`);
    await p.expectPass('cgroup-path');

    await p.expectFail('timetraveler', '--time-offset');
    await p.typeAll('box run -d --name timetraveler --ns pid,mnt,time --time-offset 31d busybox sleep 1000');
    await p.expectPass('timetraveler');
  }, 6 * T);
});
