// What a user would read: the one-line UserError message `fn` throws (fails if it throws
// anything else, a message of several lines, or nothing).

import { expect } from 'vitest';
import { UserError } from '../../runtime/src/sys/errors.ts';

export function userError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
  throw new Error('expected a UserError, and nothing was thrown');
}
