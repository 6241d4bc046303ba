// Our small SHA-256 must agree with OpenSSL's on every length around the block edges.
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../runtime/src/image/sha256.ts';
import { sha256 } from '../../runtime/src/image/digest.ts';

describe('sha256', () => {
  it('matches the FIPS 180-4 examples', () => {
    expect(sha256Hex(Buffer.from(''))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex(Buffer.from('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('agrees with node:crypto for every length from 0 to 300 and some random large inputs', () => {
    for (let n = 0; n <= 300; n++) {
      const data = crypto.randomBytes(n);
      expect(sha256Hex(data), `length ${n}`).toBe(crypto.createHash('sha256').update(data).digest('hex'));
    }
    for (const n of [4095, 4096, 65535, 65536, 65537, 200_000]) {
      const data = crypto.randomBytes(n);
      expect(sha256(data), `length ${n}`).toBe('sha256:' + crypto.createHash('sha256').update(data).digest('hex'));
    }
  });
});
