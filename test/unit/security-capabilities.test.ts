import { describe, expect, it } from 'vitest';
import {
  CAPABILITIES,
  DOCKER_DEFAULT_CAPS,
  capHex,
  capMask,
  capName,
  capsFromMask,
  lastCap,
  resolveCaps,
} from '../../runtime/src/security/capabilities.ts';
import { UserError } from '../../runtime/src/sys/errors.ts';
import { fakeSys } from '../support/fake-sys.ts';

describe('the capability table', () => {
  it('numbers the 41 capabilities of <linux/capability.h> from 0 to 40 without gaps', () => {
    const numbers = Object.values(CAPABILITIES).sort((a, b) => a - b);
    expect(numbers).toEqual([...Array(41).keys()]);
    expect(CAPABILITIES.CAP_CHOWN).toBe(0);
    expect(CAPABILITIES.CAP_SYS_ADMIN).toBe(21);
    expect(CAPABILITIES.CAP_AUDIT_WRITE).toBe(29);
    expect(CAPABILITIES.CAP_CHECKPOINT_RESTORE).toBe(40);
    expect(capName(21)).toBe('CAP_SYS_ADMIN');
    expect(capName(50)).toBe('CAP_50');
  });

  it("gives Docker's default set the mask a reader sees as CapEff in a docker container", () => {
    expect(DOCKER_DEFAULT_CAPS).toHaveLength(14);
    expect(capHex(capMask(DOCKER_DEFAULT_CAPS))).toBe('00000000a80425fb');
  });

  it('turns a mask back into names', () => {
    expect(capsFromMask(0xa80425fbn)).toEqual(resolveCaps([], []));
    expect(capsFromMask(1n << 21n)).toEqual(['CAP_SYS_ADMIN']);
    expect(capsFromMask(0n)).toEqual([]);
  });
});

describe('resolveCaps (--cap-add, --cap-drop)', () => {
  it('is the default set, sorted by number, when nothing is added or dropped', () => {
    const caps = resolveCaps([], []);
    expect(new Set(caps)).toEqual(new Set(DOCKER_DEFAULT_CAPS));
    expect(caps[0]).toBe('CAP_CHOWN');
    expect(caps.at(-1)).toBe('CAP_SETFCAP');
  });

  it('accepts names with or without CAP_, in any case', () => {
    for (const spelling of ['net_admin', 'NET_ADMIN', 'cap_net_admin', 'CAP_NET_ADMIN', ' Net_Admin ']) {
      expect(resolveCaps([spelling], [])).toContain('CAP_NET_ADMIN');
    }
    expect(resolveCaps([], ['chown'])).not.toContain('CAP_CHOWN');
  });

  it('drops first and adds second, so an add wins, as in Docker', () => {
    expect(resolveCaps(['CHOWN'], ['CHOWN'])).toContain('CAP_CHOWN');
    expect(resolveCaps(['SYS_ADMIN', 'SYS_ADMIN'], []).filter((c) => c === 'CAP_SYS_ADMIN')).toHaveLength(1);
  });

  it('--cap-add ALL gives every capability except the ones dropped', () => {
    const caps = resolveCaps(['ALL'], ['SYS_MODULE']);
    expect(caps).toHaveLength(40);
    expect(caps).not.toContain('CAP_SYS_MODULE');
    expect(caps).toContain('CAP_SYS_ADMIN');
  });

  it('--cap-drop ALL keeps only what is added', () => {
    expect(resolveCaps(['NET_BIND_SERVICE'], ['all'])).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(resolveCaps([], ['ALL'])).toEqual([]);
  });

  it('refuses an unknown name with a one-line message that says where to look', () => {
    expect(() => resolveCaps(['FOO'], [])).toThrow(UserError);
    expect(() => resolveCaps(['FOO'], [])).toThrow("--cap-add: unknown capability 'FOO'; see `man 7 capabilities`");
    expect(() => resolveCaps([], ['sys_admn'])).toThrow("--cap-drop: unknown capability 'sys_admn'; see `man 7 capabilities`");
    expect(() => resolveCaps([''], [])).toThrow(UserError);
  });
});

describe('lastCap', () => {
  it('reads /proc/sys/kernel/cap_last_cap', () => {
    expect(lastCap(fakeSys({ '/proc/sys/kernel/cap_last_cap': '40\n' }))).toBe(40);
    expect(lastCap(fakeSys({ '/proc/sys/kernel/cap_last_cap': '37\n' }))).toBe(37);
  });

  it('falls back to the highest capability it knows when the file is missing or garbled', () => {
    expect(lastCap(fakeSys())).toBe(40);
    expect(lastCap(fakeSys({ '/proc/sys/kernel/cap_last_cap': 'x' }))).toBe(40);
  });
});
