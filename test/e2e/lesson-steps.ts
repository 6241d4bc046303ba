// One lesson's main demo and one of its exercises, as a reader does them, written once and
// run on the lesson in either language: the commands, outputs and exercise ids are the same
// in English and Korean, and every hint word below is one that both languages' hints contain
// (a command or a file name). korean-lessons.test.ts runs every entry on the Korean lesson;
// lessons-chapters.test.ts runs the first three on the English ones.
import fs from 'node:fs';
import { expect } from 'vitest';
import { PROMPT, T, pidOf } from './lesson-page.ts';
import type { LessonPage } from './lesson-page.ts';

export interface LessonSteps {
  slug: string;
  /** The lesson's main demo, from the page's Run buttons; asserts what the terminal shows. */
  demo(p: LessonPage): Promise<void>;
  /** The exercise checked before (fail, with this word in its hint) and after the task (pass). */
  exercise: { id: string; hint: string; task(p: LessonPage): Promise<void> };
  /** Typed afterwards, so that the next lesson in the same sandbox starts clean. */
  cleanUp?: string[];
}

/** The sandbox sees the host's cgroup version. */
export const V2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
export const CG = `cg() { box inspect $1 | grep -o '"Cgroup": *"[^"]*"' | grep -o 'box-[0-9a-f]*'; }`;
const ID = /\n[0-9a-f]{64}\n/;

/**
 * Show `show()` again until `read` finds a number above zero in it (a count that builds up).
 * A short pause between tries: each try is itself a command run in the sandbox.
 */
export async function untilAboveZero(p: LessonPage, show: () => Promise<string>, read: RegExp): Promise<number> {
  const deadline = Date.now() + T;
  for (;;) {
    const n = Number(read.exec(await show())?.[1] ?? 0);
    if (n > 0 || Date.now() > deadline) return n;
    await p.page.waitForTimeout(250);
  }
}

/** Demo, then the exercise failed, done and passed, then the clean-up. */
export async function runLesson(p: LessonPage, s: LessonSteps): Promise<void> {
  await s.demo(p);
  await p.expectFail(s.exercise.id, s.exercise.hint);
  await s.exercise.task(p);
  await p.expectPass(s.exercise.id);
  if (s.cleanUp) await p.typeAll(...s.cleanUp);
}

export const whyVirtualize: LessonSteps = {
  slug: 'why-virtualize',
  async demo(p) {
    await p.run(`box run -d --name app-old busybox sh -c 'mkdir -p /etc/app; echo "libfmt 1.2" > /etc/app/libfmt.version; sleep 1000'`, ID);
    await p.run(`box run -d --name app-new busybox sh -c 'mkdir -p /etc/app; echo "libfmt 2.0" > /etc/app/libfmt.version; sleep 1000'`, ID);
    await p.run('box exec app-old cat /etc/app/libfmt.version', /\nlibfmt 1\.2\n/);
    await p.run('box exec app-new cat /etc/app/libfmt.version', /\nlibfmt 2\.0\n/);
    // Neither wrote the sandbox's /etc/app.
    expect((await p.type('test -e /etc/app')).status).not.toBe(0);
    await p.run('box run -d --name small --memory 64m --cpus 0.5 busybox sleep 1000', ID);
    await p.run(CG, PROMPT);
    if (!V2) {
      await p.run('cat /sys/fs/cgroup/memory/box/$(cg small)/memory.limit_in_bytes', /\n67108864\n/);
      await p.run('cat /sys/fs/cgroup/cpu/box/$(cg small)/cpu.cfs_period_us /sys/fs/cgroup/cpu/box/$(cg small)/cpu.cfs_quota_us', /\n100000\n50000\n/);
    }
    expect(await p.run(`box run --rm --memory 64m busybox sh -c 'head -c 100m /dev/zero | tail > /dev/null'`, /OOM killer[^\n]*\n/))
      .toContain('(limit of 64 MiB); exit code 137');
  },
  exercise: {
    id: 'side-by-side', hint: 'box exec',
    async task(p) {
      await p.typeAll(
        `box run -d --name legacy busybox sh -c 'mkdir -p /etc/app; echo "libfmt 1.2" > /etc/app/libfmt.version; sleep 1000'`,
        `box run -d --name modern busybox sh -c 'mkdir -p /etc/app; echo "libfmt 2.0" > /etc/app/libfmt.version; sleep 1000'`);
    },
  },
  cleanUp: ['box rm -f app-old app-new small legacy modern'],
};

export const chrootToContainers: LessonSteps = {
  slug: 'chroot-to-containers',
  async demo(p) {
    await p.runStarting("cat > /tmp/escape.c <<'EOF'", PROMPT);
    await p.run('gcc -static -O2 -o /tmp/escape /tmp/escape.c', PROMPT);
    await p.run("echo 'a file of the sandbox, outside every container' > /root/outside.txt", PROMPT);
    // chroot alone: the escape reads the sandbox's file. pivot_root in a mount namespace: it cannot.
    await p.run('box run --rm --chroot -v /tmp/escape:/escape busybox /escape cat /root/outside.txt', /\na file of the sandbox, outside every container\n/);
    await p.run('box run --rm -v /tmp/escape:/escape busybox /escape cat /root/outside.txt', /can't open '\/root\/outside\.txt': No such file or directory\n/);
  },
  exercise: {
    id: 'climbed-out', hint: '/escape',
    async task(p) {
      await p.typeAll('box run -d --name cell --chroot -v /tmp/escape:/escape busybox sleep 1000');
      expect((await p.check('climbed-out')).status, 'a chroot container alone is not an escape').toBe('fail');
      await p.typeAll('box exec cell /escape sleep 1000 &');
    },
  },
  cleanUp: ['box rm -f cell'],
};

export const imagesAsFiles: LessonSteps = {
  slug: 'images-as-files',
  async demo(p) {
    await p.run(`box run -d --name notes busybox sh -c 'echo "remember the milk" > /notes.txt; sleep 1000'`, ID);
    await p.typeAll('until box diff notes | grep -q notes.txt; do sleep 0.2; done');
    await p.run('box diff notes', /\nA \/notes\.txt\n/);
    await p.run('box commit notes notes:1', /\nsha256:[0-9a-f]{64}\n/);
    await p.run('box save notes:1 -o /tmp/notes.tar', PROMPT);
    expect(await p.run('tar -tvf /tmp/notes.tar', /blobs\/sha256\/[0-9a-f]{64}\n[^\n]*[#$] *$/)).toMatch(/ oci-layout\n[\s\S]* index\.json\n/);
    await p.run('mkdir -p /tmp/oci', PROMPT);
    await p.run('tar -xf /tmp/notes.tar -C /tmp/oci', PROMPT);
    await p.run('cd /tmp/oci', PROMPT);
    await p.run('cat oci-layout index.json', /"org\.opencontainers\.image\.ref\.name":"notes:1"/);
    await p.runStarting('M=$(grep', PROMPT);
    await p.run('cat blobs/sha256/$M', /"layers":\[[^\n]*\]\}/);
    await p.runStarting('L=$(grep', PROMPT);
    await p.run('tar -tzvf blobs/sha256/$L', / notes\.txt\n/);
    await p.run('cd', PROMPT);
  },
  exercise: {
    id: 'exported', hint: '--one-file-system',
    async task(p) {
      await p.typeAll(`box exec notes sh -c 'echo and the eggs >> /notes.txt'`,
        `tar -C /proc/${pidOf('notes')}/root --one-file-system -cf /root/notes-rootfs.tar .`);
    },
  },
  cleanUp: ['box rm -f notes', 'box rmi notes:1', 'rm -rf /tmp/oci /tmp/notes.tar /root/notes-rootfs.tar'],
};

/** The fifteen lessons before these chapters existed, as the English e2e files drive them. */
export const earlierLessons: LessonSteps[] = [
  {
    slug: 'pid-namespaces',
    async demo(p) {
      await p.run('box run -it --ns pid,mnt busybox sh', /\n\/ # *$/);
      expect(await p.run('echo $$', /echo \$\$\n1\n/)).toMatch(/\n1\n/);
      await p.run('exit', PROMPT);
    },
    exercise: {
      id: 'outside-pid', hint: 'box inspect',
      async task(p) { await p.typeAll('box run -d --name sleeper busybox sleep 1000', `echo ${pidOf('sleeper')} > /root/answer`); },
    },
    cleanUp: ['box rm -f sleeper', 'rm -f /root/answer'],
  },
  {
    slug: 'uts-namespaces',
    async demo(p) {
      await p.run('box run --rm --ns uts,mnt --hostname web1 busybox hostname', /\nweb1\n[\s\S]*[#$] *$/);
      expect((await p.type('hostname')).out).toMatch(/\nlab\n/);
    },
    exercise: {
      id: 'named-cache', hint: '--hostname',
      async task(p) { await p.typeAll('box run -d --name cache --hostname cache-1 busybox sleep 1000'); },
    },
    cleanUp: ['box rm -f cache'],
  },
  {
    slug: 'mount-namespaces',
    async demo(p) {
      await p.run('mkdir -p /tmp/demo', PROMPT);
      await p.run('unshare --mount sh', PROMPT);
      await p.run('mount -t tmpfs scratch /tmp/demo', PROMPT);
      await p.run('echo hello > /tmp/demo/file', PROMPT);
      await p.run('grep /tmp/demo /proc/self/mountinfo', / \/tmp\/demo [^\n]* - tmpfs scratch /);
      await p.run('exit', PROMPT);
      expect((await p.type('echo files=$(ls /tmp/demo | wc -l) mounts=$(grep -c " /tmp/demo " /proc/self/mountinfo)')).out).toMatch(/\nfiles=0 mounts=0\n/);
    },
    exercise: {
      id: 'find-the-cell', hint: 'readlink',
      async task(p) { await p.typeAll('box run -d --name cell --chroot busybox sleep 1000', `readlink /proc/${pidOf('cell')}/root > /root/cell-root`); },
    },
    cleanUp: ['box rm -f cell', 'rm -f /root/cell-root'],
  },
  {
    slug: 'network-namespaces',
    async demo(p) {
      const out = await p.run('box run --rm --ns net,mnt busybox ip link', /\n1: lo: <LOOPBACK> [^\n]*\n[\s\S]*[#$] *$/);
      expect([...out.matchAll(/^\d+: ([^:@\s]+)[:@]/gm)].map((m) => m[1])).toEqual(['lo']);
    },
    exercise: {
      id: 'neighbor', hint: 'veth',
      async task(p) {
        await p.typeAll(
          'box run -d --name neighbor busybox sleep 1000',
          `N=${pidOf('neighbor')}`,
          'ip link add veth-c type veth peer name veth-d',
          'ip link set veth-d netns $N',
          'ip addr add 10.0.1.1/24 dev veth-c',
          'ip link set veth-c up',
          'nsenter -t $N -n ip addr add 10.0.1.2/24 dev veth-d',
          'nsenter -t $N -n ip link set veth-d up',
        );
      },
    },
    cleanUp: ['box rm -f neighbor'],
  },
  {
    slug: 'ipc-namespaces',
    async demo(p) {
      await p.runStarting("cat > /root/send <<'EOF'", PROMPT);
      await p.runStarting("cat > /root/receive <<'EOF'", PROMPT);
      await p.run('chmod +x /root/send /root/receive', PROMPT);
      await p.run('/root/send hello from the sandbox', PROMPT);
      expect(await p.run('ipcs -q', /0x00001234[\s\S]*[#$] *$/)).toContain('0x00001234');
      expect(await p.run('unshare --ipc ipcs -q', /Message Queues[\s\S]*\n[^\n]*[#$] *$/)).not.toContain('0x00001234');
    },
    exercise: {
      id: 'mailroom', hint: 'nsenter',
      async task(p) { await p.typeAll('box run -d --name mailroom busybox sleep 1000', `nsenter --target ${pidOf('mailroom')} --ipc ipcmk -Q`); },
    },
    cleanUp: ['box rm -f mailroom', 'ipcrm -Q 0x1234; true'],
  },
  {
    slug: 'user-namespaces',
    async demo(p) {
      const map = await p.run('cat /proc/self/uid_map', /\n\s*0\s+\d+\s+\d+\s*\n/);
      expect(Number(/\n\s*0\s+(\d+)\s+\d+\s*\n/.exec(map)![1])).toBeGreaterThan(0);
      await p.run("unshare --user --map-root-user sh -c 'id; cat /proc/self/uid_map'", /uid=0\(root\)[^\n]*\n\s*0\s+0\s+1\s*\n/);
    },
    exercise: {
      id: 'mapped-uid', hint: 'uid_map',
      async task(p) { await p.typeAll('box run -d --name mapped --userns busybox sleep 1000', `awk '/^Uid:/ { print $2 }' /proc/${pidOf('mapped')}/status > /root/mapped-uid`); },
    },
    cleanUp: ['box rm -f mapped', 'rm -f /root/mapped-uid'],
  },
  {
    slug: 'cgroup-time-namespaces',
    async demo(p) {
      const days = (s: string) => Number(/ up\s+(\d+) days?/.exec(s)?.[1] ?? 0);
      const here = days(await p.run('uptime', / up [^\n]*load average[^\n]*\n/));
      const there = days(await p.run('box run --rm --ns pid,mnt,time --time-offset 2d busybox uptime', / up [^\n]*load average[^\n]*\n/));
      expect(there - here).toBe(2);
    },
    exercise: {
      id: 'timetraveler', hint: '--time-offset',
      async task(p) { await p.typeAll('box run -d --name timetraveler --ns pid,mnt,time --time-offset 31d busybox sleep 1000'); },
    },
    cleanUp: ['box rm -f timetraveler'],
  },
  {
    slug: 'cgroups-memory',
    async demo(p) {
      const oom = await p.run('box run --rm --memory 32m busybox dd if=/dev/zero of=/dev/null bs=64M count=1', /OOM killer[^\n]*\n[\s\S]*[#$] *$/);
      expect(oom).toMatch(/killed by the kernel's OOM killer: it ran out of memory \(limit of 32 MiB\); exit code 137/);
    },
    exercise: {
      id: 'capped', hint: '--memory',
      async task(p) { await p.typeAll('box run -d --name capped --memory 48m busybox sleep 1000'); },
    },
    cleanUp: ['box rm -f capped'],
  },
  {
    slug: 'cgroups-cpu',
    async demo(p) {
      await p.run("box run -d --name spinner --cpus 0.2 busybox sh -c 'while :; do :; done'", ID);
      await p.run(CG, PROMPT);
      const throttled = await untilAboveZero(p,
        async () => (V2 ? (await p.type('cat /sys/fs/cgroup/box/$(cg spinner)/cpu.stat')).out
          : p.run('cat /sys/fs/cgroup/cpu/box/$(cg spinner)/cpu.stat', /nr_throttled \d+/)),
        /nr_throttled (\d+)/);
      expect(throttled).toBeGreaterThan(0);
      await p.typeAll('box rm -f spinner'); // give the CPU back
    },
    exercise: {
      id: 'quarter', hint: 'nr_throttled',
      async task(p) { await p.typeAll("box run -d --name slow --cpus 0.25 busybox sh -c 'while :; do :; done'"); },
    },
    cleanUp: ['box rm -f slow'],
  },
  {
    slug: 'cgroups-pids-io-devices',
    async demo(p) {
      await p.run(CG, PROMPT);
      await p.runStarting('box run -d --name bomber --pids-limit 20', ID);
      const refused = await untilAboveZero(p,
        async () => (V2 ? (await p.type('cat /sys/fs/cgroup/box/$(cg bomber)/pids.events')).out
          : p.run('cat /sys/fs/cgroup/pids/box/$(cg bomber)/pids.events', /\nmax \d+\n/)),
        /\nmax (\d+)\n/);
      expect(refused).toBeGreaterThan(0); // forks refused: the bomb is held
      await p.run('box rm -f bomber', PROMPT);
    },
    exercise: {
      id: 'limited', hint: '--pids-limit',
      async task(p) {
        await p.typeAll('box run -d --name limited --pids-limit 10 busybox sleep 1000');
        await p.type("box exec limited sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 100 & done'"); // the last forks fail
      },
    },
    cleanUp: ['box rm -f limited'],
  },
  {
    slug: 'capabilities-seccomp',
    async demo(p) {
      expect(await p.run('box run --rm busybox unshare -U id', /unshare: [^\n]*\n/)).toMatch(/unshare\([^)]*\): Operation not permitted/);
      expect(await p.run('box run --rm --security-opt seccomp=unconfined busybox unshare -U id', /\nuid=\d+[^\n]*\n/)).toMatch(/\nuid=65534\(nobody\)/);
    },
    exercise: {
      id: 'pingless', hint: 'CAP_NET_RAW',
      async task(p) { await p.typeAll('box run -d --name pingless --cap-drop NET_RAW busybox sleep 1000'); },
    },
    cleanUp: ['box rm -f pingless'],
  },
  {
    slug: 'union-filesystems',
    async demo(p) {
      await p.run('mkdir -p /tmp/ov', PROMPT);
      await p.run('mount -t tmpfs ov /tmp/ov', PROMPT);
      await p.run('mkdir /tmp/ov/lower /tmp/ov/upper /tmp/ov/work /tmp/ov/merged', PROMPT);
      await p.run('echo "from the lower layer" > /tmp/ov/lower/greeting.txt', PROMPT);
      await p.run('echo "delete me" > /tmp/ov/lower/old.txt', PROMPT);
      await p.runStarting('mount -t overlay overlay', PROMPT);
      await p.run('echo "changed in merged" >> /tmp/ov/merged/greeting.txt', PROMPT);
      expect(await p.run('cat /tmp/ov/lower/greeting.txt', /\nfrom the lower layer\n[^\n]*[#$] *$/)).not.toContain('changed in merged');
      expect(await p.run('ls -l /tmp/ov/upper', /greeting.txt[\s\S]*[#$] *$/)).toMatch(/ 39 [^\n]* greeting.txt/);
    },
    exercise: {
      id: 'whiteout-by-hand', hint: 'merged',
      async task(p) { await p.run('rm /tmp/ov/merged/old.txt', PROMPT); },
    },
    cleanUp: ['umount /tmp/ov/merged', 'umount /tmp/ov'],
  },
  {
    slug: 'images-registries',
    async demo(p) {
      await p.run('mkdir -p /root/hello', PROMPT);
      await p.run('cd /root/hello', PROMPT);
      await p.run('echo "hello from an image" > message.txt', PROMPT);
      await p.runStarting('printf ', PROMPT);
      await p.run('box build -t hello:1.0 /root/hello', /Successfully tagged hello:1.0\n/);
      await p.run('box tag hello:1.0 hello:latest', PROMPT);
      const images = await p.run('box images', /Total: [^\n]*\n[^\n]*[#$] *$/);
      const ids = [...images.matchAll(/^hello +(?:1\.0|latest) +([0-9a-f]{12}) /gm)].map((m) => m[1]);
      expect(ids).toHaveLength(2);
      expect(ids[0]).toBe(ids[1]); // two tags, one image
      await p.runStarting("cat > /root/registry.yml <<'EOF'", PROMPT);
      await p.run('docker-registry serve /root/registry.yml > /root/registry.log 2>&1 &', PROMPT);
      await p.typeAll('REGISTRY=$!', 'for i in 1 2 3 4 5 6 7 8 9 10; do curl -sf http://127.0.0.1:5000/v2/ && break; sleep 0.5; done');
    },
    exercise: {
      id: 'pushed', hint: 'box tag',
      async task(p) {
        await p.run('box tag hello:1.0 localhost:5000/hello:1.0', PROMPT);
        expect(await p.run('box push localhost:5000/hello:1.0', /1\.0: digest: sha256:[0-9a-f]{64} size: \d+\n/)).toContain('Pushed');
      },
    },
    cleanUp: ['kill $REGISTRY', 'cd', 'box rmi hello:1.0 hello:latest localhost:5000/hello:1.0'],
  },
  {
    slug: 'volumes',
    async demo(p) {
      await p.run('box volume create notes', /\nnotes\n[^\n]*[#$] *$/);
      await p.run("box run --rm -v notes:/data busybox sh -c 'echo first entry >> /data/notes.txt'", PROMPT);
      await p.run("box run --rm -v notes:/data busybox sh -c 'echo second entry >> /data/notes.txt'", PROMPT);
      await p.run('box run --rm -v notes:/data busybox cat /data/notes.txt', /\nfirst entry\nsecond entry\n[^\n]*[#$] *$/);
    },
    exercise: {
      id: 'guestbook', hint: 'dangling=true',
      async task(p) { await p.typeAll('box run --rm -v guestbook:/g busybox sh -c "echo hello from a container > /g/entries.txt"'); },
    },
    cleanUp: ['box volume rm notes guestbook'],
  },
  {
    // Last: a running engine changes how every later `box run` starts.
    slug: 'engine',
    async demo(p) {
      await p.run('box engine start', /engine started \(pid \d+\), listening on \/var\/lib\/box\/engine\.sock[\s\S]*[#$] *$/);
      expect(await p.run('box run --rm busybox echo hello', /\nhello\n[^\n]*[#$] *$/)).toContain('hello');
      expect(await p.run('box engine status', /containers: \d+ running, \d+ served\n/)).toMatch(/engine: running, pid \d+[\s\S]*containers: 0 running, 1 served/);
    },
    exercise: {
      id: 'three-served', hint: 'BOX_ENGINE=off',
      async task(p) { await p.typeAll('box run --rm busybox true', 'box run --rm busybox true'); },
    },
    cleanUp: ['box engine stop'],
  },
];
