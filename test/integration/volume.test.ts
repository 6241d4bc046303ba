// Volumes, binds and tmpfs mounts on the real kernel, as a reader would use them: data that
// outlives its container, a volume filled from the image, read-only mounts, anonymous volumes,
// --volumes-from, the in-use refusal, and a symlink that tries to lead a mount out of the root.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { box, inspect, rootReason, tempBoxRoot } from './helpers.ts';

const root = rootReason ? '' : tempBoxRoot('volume');
const volumes = () => box(root, ['volume', 'ls', '-q']).stdout.split('\n').filter(Boolean);
const data = (name: string) => path.join(root, 'volumes', name, '_data');

describe.skipIf(!!rootReason)('volumes on the real kernel', () => {
  beforeAll(() => {
    const r = box(root, ['run', '--rm', 'busybox', 'true']); // builds the busybox image once
    expect(r.stderr).toBe('');
  }, 120_000);
  afterAll(() => {
    for (const name of ['keeper', 'withanon', 'plainrm', 'src', 'user1', 'mk']) box(root, ['rm', '-f', name]);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(root); // no mount left behind
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('keeps a named volume after its container is gone, under $BOX_ROOT/volumes/NAME/_data', () => {
    expect(box(root, ['volume', 'create', '--label', 'app=db', 'dbdata']).stdout).toBe('dbdata\n');
    expect(box(root, ['run', '--rm', '-v', 'dbdata:/var/lib/db', 'busybox', 'sh', '-c', 'echo row1 > /var/lib/db/table']).code).toBe(0);
    expect(volumes()).toContain('dbdata');
    expect(fs.readFileSync(path.join(data('dbdata'), 'table'), 'utf8')).toBe('row1\n');
    const again = box(root, ['run', '--rm', '-v', 'dbdata:/srv', 'busybox', 'cat', '/srv/table']);
    expect(again.stdout).toBe('row1\n');
    const view = JSON.parse(box(root, ['volume', 'inspect', 'dbdata']).stdout)[0];
    expect(view).toMatchObject({ Name: 'dbdata', Driver: 'local', Labels: { app: 'db' }, Mountpoint: data('dbdata'), Scope: 'local' });
    expect(box(root, ['volume', 'ls', '--filter', 'label=app=db', '-q']).stdout).toBe('dbdata\n');
    // Created on first use, too.
    expect(box(root, ['run', '--rm', '-v', 'fresh:/x', 'busybox', 'true']).code).toBe(0);
    expect(volumes()).toContain('fresh');
  });

  it("fills an empty volume from the image's directory on its first mount, with owners, modes and symlinks", () => {
    // An image whose /etc has a symlink, a file of another owner and mode, and a subdirectory.
    const mk = box(root, ['run', '--name', 'mk', 'busybox', 'sh', '-c',
      'ln -s passwd /etc/pw-link && echo s > /etc/secret && chown 12:34 /etc/secret && chmod 640 /etc/secret && mkdir -p /etc/conf.d && echo 1 > /etc/conf.d/a']);
    expect(mk.code, mk.stderr).toBe(0);
    expect(box(root, ['commit', 'mk', 'etcimg']).code).toBe(0);
    box(root, ['rm', 'mk']);

    const r = box(root, ['run', '--rm', '-v', 'etc:/etc', 'etcimg', 'sh', '-c', 'cat /etc/conf.d/a; readlink /etc/pw-link; stat -c "%u:%g %a" /etc/secret']);
    expect(r.stdout.split('\n').slice(0, 3), r.stderr).toEqual(['1', 'passwd', '12:34 640']);
    // On the host, in the volume itself:
    expect(fs.readlinkSync(path.join(data('etc'), 'pw-link'))).toBe('passwd');
    const st = fs.statSync(path.join(data('etc'), 'secret'));
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([12, 34, 0o640]);
    expect(fs.readFileSync(path.join(data('etc'), 'passwd'), 'utf8')).toContain('root:x:0:0');

    // Never again: a file deleted in the volume stays deleted on the next mount.
    box(root, ['run', '--rm', '-v', 'etc:/etc', 'etcimg', 'rm', '/etc/secret']);
    expect(box(root, ['run', '--rm', '-v', 'etc:/etc', 'etcimg', 'ls', '/etc']).stdout).not.toContain('secret');
  });

  it('does not fill a volume that already has data, nor with volume-nocopy', () => {
    expect(box(root, ['volume', 'create', 'mine']).code).toBe(0);
    fs.writeFileSync(path.join(data('mine'), 'only-this'), 'x');
    const r = box(root, ['run', '--rm', '-v', 'mine:/etc', 'busybox', 'ls', '/etc']);
    expect(r.stdout).toBe('only-this\n');
    const nocopy = box(root, ['run', '--rm', '--mount', 'type=volume,src=bare,dst=/etc,volume-nocopy', 'busybox', 'ls', '-A', '/etc']);
    expect(nocopy.stdout).toBe('');
  });

  it('refuses writes to a read-only volume or bind, and keeps a volume writable under --read-only', () => {
    const ro = box(root, ['run', '--rm', '-v', 'dbdata:/d:ro', 'busybox', 'sh', '-c', 'echo x > /d/new']);
    expect(ro.code).not.toBe(0);
    expect(ro.stderr).toContain('Read-only file system');
    const host = fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-bind-'));
    try {
      const bind = box(root, ['run', '--rm', '--mount', `type=bind,src=${host},dst=/h,readonly`, 'busybox', 'touch', '/h/f']);
      expect(bind.stderr).toContain('Read-only file system');
      expect(fs.readdirSync(host)).toEqual([]);
      const rw = box(root, ['run', '--rm', '-v', `${host}:/h`, 'busybox', 'sh', '-c', 'echo hi > /h/f']);
      expect(rw.code).toBe(0);
      expect(fs.readFileSync(path.join(host, 'f'), 'utf8')).toBe('hi\n');
    } finally {
      fs.rmSync(host, { recursive: true, force: true });
    }
    const r = box(root, ['run', '--rm', '--read-only', '-v', 'dbdata:/d', 'busybox', 'sh', '-c',
      'echo ok > /d/ro-test && cat /d/ro-test; touch /rootfile 2>&1']);
    expect(r.stdout).toContain('ok\n');
    expect(r.stdout).toContain('Read-only file system');
  });

  it('removes anonymous volumes with --rm and rm -v, and keeps them on a plain rm', () => {
    const before = volumes();
    expect(box(root, ['run', '--rm', '-v', '/scratch', 'busybox', 'sh', '-c', 'echo x > /scratch/f']).code).toBe(0);
    expect(volumes()).toEqual(before);

    expect(box(root, ['run', '--name', 'withanon', '-v', '/scratch', '-v', 'dbdata:/d', 'busybox', 'true']).code).toBe(0);
    const anon = inspect(root, 'withanon').Mounts.find((m: any) => m.Destination === '/scratch').Name;
    expect(anon).toMatch(/^[0-9a-f]{64}$/);
    expect(volumes()).toContain(anon);
    expect(box(root, ['rm', '-v', 'withanon']).code).toBe(0);
    expect(volumes()).not.toContain(anon);
    expect(volumes()).toContain('dbdata'); // a named volume stays, as Docker's does

    expect(box(root, ['run', '--name', 'plainrm', '-v', '/scratch', 'busybox', 'true']).code).toBe(0);
    const kept = inspect(root, 'plainrm').Mounts[0].Name;
    expect(box(root, ['rm', 'plainrm']).code).toBe(0);
    expect(volumes()).toContain(kept);
    const prune = box(root, ['volume', 'prune', '-f']);
    expect(prune.stdout).toContain(`Deleted Volumes:\n${kept}\n`);
    expect(volumes()).not.toContain(kept);
    expect(volumes()).toContain('dbdata'); // prune without -a leaves named volumes
  });

  it('gives a tmpfs its size limit', () => {
    const r = box(root, ['run', '--rm', '--tmpfs', '/t:size=1m', 'busybox', 'sh', '-c',
      'dd if=/dev/zero of=/t/f bs=1k count=2048 2>&1 | head -1; df -k /t | tail -1']);
    expect(r.stdout).toContain('No space left on device');
    expect(r.stdout.trim().split('\n').at(-1)!.split(/\s+/)[1]).toBe('1024');
    const m = box(root, ['run', '--rm', '--mount', 'type=tmpfs,dst=/m,tmpfs-mode=700', 'busybox', 'sh', '-c', 'stat -c %a /m; grep " /m " /proc/mounts | cut -d" " -f3']);
    expect(m.stdout).toBe('700\ntmpfs\n');
  });

  it("--volumes-from mounts another container's volumes, read-only with :ro", () => {
    expect(box(root, ['run', '--name', 'src', '-v', 'shared:/shared', '-v', '/anon', 'busybox', 'sh', '-c', 'echo from-src > /shared/f; echo a > /anon/a']).code).toBe(0);
    const rw = box(root, ['run', '--rm', '--volumes-from', 'src', 'busybox', 'sh', '-c', 'cat /shared/f /anon/a; echo more >> /shared/f']);
    expect(rw.stdout).toBe('from-src\na\n');
    const ro = box(root, ['run', '--rm', '--volumes-from', 'src:ro', 'busybox', 'sh', '-c', 'cat /shared/f; touch /shared/g']);
    expect(ro.stdout).toBe('from-src\nmore\n');
    expect(ro.stderr).toContain('Read-only file system');
  });

  it('refuses to remove a volume a container uses, running or stopped, naming it', () => {
    const r = box(root, ['volume', 'rm', 'shared']); // `src` has exited but still uses it
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("box: volume 'shared' is in use by container src; remove it first (box rm src)\n");
    expect(volumes()).toContain('shared');
    expect(box(root, ['rm', 'src']).code).toBe(0);
    expect(box(root, ['volume', 'rm', 'shared']).stdout).toBe('shared\n');
    expect(volumes()).not.toContain('shared');
  });

  it("shows the mounts in box inspect as Docker's Mounts", () => {
    const host = fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-bind-'));
    try {
      expect(box(root, ['run', '--name', 'keeper', '-v', 'dbdata:/d:ro', '-v', `${host}:/h`, '--tmpfs', '/t:size=1m', 'busybox', 'true']).code).toBe(0);
      const mounts = inspect(root, 'keeper').Mounts;
      expect(mounts).toEqual([
        { Type: 'bind', Source: host, Destination: '/h', Mode: '', RW: true, Propagation: 'rprivate' },
        { Type: 'volume', Name: 'dbdata', Source: data('dbdata'), Destination: '/d', Driver: 'local', Mode: '', RW: false, Propagation: '' },
        { Type: 'tmpfs', Source: '', Destination: '/t', Mode: 'size=1048576,mode=1777', RW: true, Propagation: '' },
      ]);
    } finally {
      box(root, ['rm', 'keeper']);
      fs.rmSync(host, { recursive: true, force: true });
    }
  });

  it("lets a --userns container's root write a volume it mounts first", () => {
    const r = box(root, ['run', '--rm', '--userns', '-v', 'userdata:/data', 'busybox', 'sh', '-c', 'echo mine > /data/f && stat -c %u /data/f']);
    expect(r.stdout, r.stderr).toBe('0\n'); // root inside...
    const uid = fs.statSync(path.join(data('userdata'), 'f')).uid; // ...is its own range's first uid outside
    expect(uid >= 100000 && (uid - 100000) % 65536 === 0, String(uid)).toBe(true);
  });

  it('keeps a mount inside the root when a symlink in a volume or the image points out of it', () => {
    const escape = `boxtest-escape-${process.pid}`;
    // A container leaves a symlink to / in a volume; a later run mounts another volume "through" it.
    expect(box(root, ['run', '--rm', '-v', 'evil:/a', 'busybox', 'ln', '-s', '/', '/a/link']).code).toBe(0);
    const r = box(root, ['run', '--rm', '-v', 'evil:/a', '-v', `payload:/a/link/tmp/${escape}`, 'busybox', 'sh', '-c', `echo inside > /tmp/${escape}/f && echo ok`]);
    expect(r.stdout, r.stderr).toBe('ok\n');
    expect(fs.existsSync(`/tmp/${escape}`)).toBe(false); // nothing made on the host
    expect(fs.readFileSync(path.join(data('payload'), 'f'), 'utf8')).toBe('inside\n');

    // An image whose /escape is an absolute symlink to a host path that does not exist.
    expect(box(root, ['run', '--name', 'mk', 'busybox', 'ln', '-s', `/tmp/${escape}-img`, '/escape']).code).toBe(0);
    expect(box(root, ['commit', 'mk', 'symimg']).code).toBe(0);
    box(root, ['rm', 'mk']);
    const img = box(root, ['run', '--rm', '-v', 'payload2:/escape/sub', 'symimg', 'sh', '-c', `ls -d /tmp/${escape}-img/sub`]);
    expect(img.stdout, img.stderr).toBe(`/tmp/${escape}-img/sub\n`); // inside the container's own /tmp
    expect(fs.existsSync(`/tmp/${escape}-img`)).toBe(false);
  });

  it('refuses bad input in one line, and makes nothing', () => {
    const before = volumes();
    const cases: [string[], RegExp][] = [
      [['volume', 'rm', 'nosuch'], /^box: no such volume: 'nosuch'/],
      [['volume', 'inspect', 'nosuch'], /^box: no such volume: 'nosuch'/],
      [['volume', 'create', 'bad/name'], /is not a valid volume name/],
      [['run', '--rm', '--mount', 'type=volume,src=newvol,dst=/d,size=1', 'busybox', 'true'], /unknown key 'size'/],
      [['run', '--rm', '-v', 'newvol:relative', 'busybox', 'true'], /relative; give an absolute path/],
      [['run', '--rm', '-v', 'newvol:/d', '-v', '/no/such/host/dir:/h', 'busybox', 'true'], /does not exist on the host/],
      [['run', '--rm', '--volumes-from', 'nosuchcontainer', 'busybox', 'true'], /no such container/],
    ];
    for (const [args, msg] of cases) {
      const r = box(root, args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(msg);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
    expect(volumes()).toEqual(before);
    // A run that fails after its volumes are made: the named one stays (as Docker's), the
    // anonymous one, made for this container alone, goes with it.
    const r = box(root, ['run', '--rm', '-v', 'keptvol:/d', '-v', '/anon', 'busybox', 'no-such-command']);
    expect(r.code).toBe(127);
    expect(volumes().sort()).toEqual([...before, 'keptvol'].sort());
  });

  it('keeps a named volume across containers inside a lab sandbox (box nested there)', () => {
    const r = box(root, ['run', '--rm', '--lab', 'lab', 'sh', '-c', [
      'box run --rm -v notes:/notes busybox sh -c "echo kept > /notes/n"',
      'box volume ls -q',
      'box run --rm -v notes:/notes busybox cat /notes/n',
      'box run --rm --userns -v unotes:/n busybox sh -c "echo u > /n/f && cat /n/f"',
      // Filled from the image there too (the overlay of its layers with userxattr).
      'box run --rm --userns -v letc:/etc busybox grep -c ^root: /etc/passwd',
      'box volume rm notes',
    ].join(' && ')], { timeout: 60_000 });
    expect(r.stdout.split('\n'), r.stderr).toEqual(['notes', 'kept', 'u', '1', 'notes', '']);
    expect(r.code).toBe(0);
  });
});
