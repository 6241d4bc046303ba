// Errors as the API server sends them: a Status object whose reason and details kubectl
// prints ("The Pod "x" is invalid: spec.containers[0].image: Required value").

import type { Obj } from './store.ts';

export interface Cause { field: string; reason: string; message: string }

export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details?: Obj;
  constructor(code: number, reason: string, message: string, details?: Obj) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
  toStatus(): Obj {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, ...(this.details ? { details: this.details } : {}), code: this.code };
  }
}

export const notFound = (plural: string, name: string) =>
  new ApiError(404, 'NotFound', `${plural} "${name}" not found`, { name, kind: plural });

export const alreadyExists = (plural: string, name: string) =>
  new ApiError(409, 'AlreadyExists', `${plural} "${name}" already exists`, { name, kind: plural });

export const conflict = (plural: string, name: string) =>
  new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, kind: plural });

export function invalid(kind: string, name: string, causes: Cause[]): ApiError {
  const list = causes.map((c) => `${c.field}: ${c.message}`).join(', ');
  return new ApiError(422, 'Invalid', `${kind} "${name}" is invalid: ${causes.length > 1 ? `[${list}]` : list}`, { name, kind, causes: causes.map((c) => ({ reason: c.reason, message: c.message, field: c.field })) });
}

export const badRequest = (message: string) => new ApiError(400, 'BadRequest', message);
