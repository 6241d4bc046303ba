// The engine's Docker API answers a box error with the HTTP status of its code (as dockerd maps
// its errdefs), never by the words of the message: not found 404, conflict 409, the rest 400.
// And the places that say "no such network" or "the name is already in use" carry those codes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError, apiError } from '../../runtime/src/engine/api/http.ts';
import { ConflictError, isConflict, isNotFound, NotFoundError, UserError } from '../../runtime/src/sys/errors.ts';
import { claimName } from '../../runtime/src/container/state.ts';
import { lookupNetwork } from '../../runtime/src/net/store.ts';

let root = '';
let before: string | undefined;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'engine-api-errors-'));
  before = process.env.BOX_ROOT;
  process.env.BOX_ROOT = root;
});
afterEach(() => {
  if (before === undefined) delete process.env.BOX_ROOT;
  else process.env.BOX_ROOT = before;
  fs.rmSync(root, { recursive: true, force: true });
});

const status = (err: unknown) => { const e = apiError(err); return [e.status, e.message]; };

describe('apiError', () => {
  it('maps by code: not found 404, conflict 409, any other UserError 400, with the message as it was', () => {
    expect(status(new NotFoundError('no such volume: x'))).toEqual([404, 'no such volume: x']);
    expect(status(new ConflictError('volume x is in use'))).toEqual([409, 'volume x is in use']);
    expect(status(new UserError('--memory: give a size'))).toEqual([400, '--memory: give a size']);
  });

  it('does not read the words: a plain UserError that says "not found" or "already" is a 400', () => {
    expect(status(new UserError('the flag was not found'))[0]).toBe(400);
    expect(status(new UserError('--restart and --rm conflict: give one'))[0]).toBe(400);
    expect(status(new UserError('no such thing as that option'))[0]).toBe(400);
  });

  it('passes an ApiError through, and makes anything else a 500 of its first line', () => {
    const api = new ApiError(501, 'not implemented');
    expect(apiError(api)).toBe(api);
    const original = console.error;
    console.error = () => {}; // the engine logs the stack of an unexpected error
    try {
      expect(status(new Error('boom\nat somewhere'))).toEqual([500, 'boom']);
    } finally {
      console.error = original;
    }
  });
});

describe('the codes where box says it', () => {
  it('a container name taken twice is a conflict', () => {
    claimName('web', 'a'.repeat(64));
    let err: unknown;
    try { claimName('web', 'b'.repeat(64)); } catch (e) { err = e; }
    expect(isConflict(err)).toBe(true);
    expect((err as Error).message).toBe("the name 'web' is already in use; remove that container (box rm web) or pick another");
  });

  it('a network that does not exist is not found', () => {
    let err: unknown;
    try { lookupNetwork('nope'); } catch (e) { err = e; }
    expect(isNotFound(err)).toBe(true);
    expect(apiError(err).status).toBe(404);
  });
});
