// A bridge's own MAC address, fixed at creation (net/bridge.ts): from the gateway's address.

import { describe, expect, it } from 'vitest';
import { macOf } from '../../runtime/src/net/bridge.ts';

describe('macOf', () => {
  it('makes a locally administered unicast address from the gateway, as Docker does', () => {
    expect(macOf('172.17.0.1')).toBe('02:42:ac:11:00:01');
    expect(macOf('192.168.240.1')).toBe('02:42:c0:a8:f0:01');
  });
});
