// The Docker Engine API's published description (test/fixtures/docker-engine-api/v1.41.yaml,
// Swagger 2.0) as validators: for an operation (method and path template as the description
// writes them, e.g. GET /containers/{id}/json) and a status, does an answer's body fit the
// schema the description gives that response, and is that status one it defines at all?
//
// Swagger 2.0 schemas are close to JSON Schema draft 4 but not quite: `x-nullable: true`
// allows null (OpenAPI 3 calls it `nullable`), and some keywords are not JSON Schema.
// @openapi-contrib/openapi-schema-to-json-schema does that conversion for `nullable`; the one
// step here is renaming Swagger's `x-nullable` to it. ajv then checks, with the description's
// own `#/definitions/...` references.

import fs from 'node:fs';
import path from 'node:path';
import { fromSchema } from '@openapi-contrib/openapi-schema-to-json-schema';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';

const FILE = path.join(import.meta.dirname, '..', 'fixtures', 'docker-engine-api', 'v1.41.yaml');

interface Operation {
  responses: Record<string, { schema?: object; description?: string }>;
}

interface Spec {
  swagger: string;
  info: { version: string };
  paths: Record<string, Record<string, Operation>>;
  definitions: Record<string, object>;
}

export const spec = parse(fs.readFileSync(FILE, 'utf8'), { maxAliasCount: -1 }) as Spec;

/** x-nullable (Swagger 2.0's vendor keyword) as OpenAPI 3's nullable, everywhere in a schema. */
function nullable<T>(value: T): T {
  if (Array.isArray(value)) return value.map(nullable) as T;
  if (!value || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === 'x-nullable') out.nullable = v;
    else out[k] = nullable(v);
  }
  return out as T;
}

/** One Swagger schema as JSON Schema, its references pointing into the registered description. */
function toJsonSchema(schema: object): object {
  const converted = fromSchema(nullable(schema) as never, { cloneSchema: true, supportPatternProperties: true }) as Record<string, unknown>;
  delete converted.$schema; // draft-04's URI: ajv 8 speaks draft-07, the same for what these use
  return JSON.parse(JSON.stringify(converted).replaceAll('"$ref":"#/definitions/', '"$ref":"engine#/definitions/'));
}

// Unknown formats (int64, dateTime) and Swagger's x- keywords are not checks: formats off, strict off.
const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
ajv.addSchema({ $id: 'engine', definitions: Object.fromEntries(Object.entries(spec.definitions).map(([k, s]) => [k, toJsonSchema(s)])) });

const compiled = new Map<string, ValidateFunction | null>();

/** The operation's response for `status`, or undefined when the description defines no such status. */
export function responseOf(method: string, template: string, status: number) {
  const op = spec.paths[template]?.[method.toLowerCase()];
  if (!op) throw new Error(`v1.41.yaml has no operation ${method} ${template}`);
  return op.responses[String(status)];
}

/**
 * Where `body` differs from the schema v1.41.yaml gives `method template` for `status`, as
 * ajv words it ("/State/Pid must be integer"); [] when it fits. A status the operation does
 * not define is itself a difference; a response without a schema (204, a stream) fits
 * any body.
 */
export function conformance(method: string, template: string, status: number, body: unknown): string[] {
  const response = responseOf(method, template, status);
  if (!response) {
    const known = Object.keys(spec.paths[template][method.toLowerCase()].responses).join(', ');
    return [`status ${status} is not one v1.41.yaml defines for ${method} ${template} (${known})`];
  }
  const key = `${method} ${template} ${status}`;
  if (!compiled.has(key)) compiled.set(key, response.schema ? ajv.compile(toJsonSchema(response.schema)) : null);
  const validate = compiled.get(key);
  if (!validate || validate(body)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '$'} ${e.message}${e.params && 'allowedValues' in e.params ? ` (${(e.params.allowedValues as unknown[]).join(', ')})` : ''}`);
}
