// The Compose Specification's own JSON schema (compose-spec/compose-spec, schema/compose-spec.json,
// as shipped in the npm package dclint at schemas/compose.schema.json), checked with ajv.
// A file the schema refuses is refused with the line and key of the first problem.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { inHome } from '../home.ts';
import { UserError } from '../sys/errors.ts';
import { keyPath, nearest } from './errors.ts';

const SCHEMA_FILE = 'node_modules/dclint/schemas/compose.schema.json';

let compiled: ValidateFunction | undefined;

/**
 * Compiling the schema takes ajv ~0.5 s, longer than the rest of `box compose config`. The
 * compiled validator (ajv's standalone code) is kept in runtime/build, beside box's own
 * bundle and as trusted as it, and used while the schema's hash is the same; where
 * runtime/build is read-only (a lab sandbox) the schema is compiled in memory instead.
 */
const CACHE_FILE = 'runtime/build/compose-schema.cjs';

function validator(): ValidateFunction {
  if (compiled) return compiled;
  let text: string;
  try {
    text = fs.readFileSync(inHome(SCHEMA_FILE), 'utf8');
  } catch {
    throw new UserError(`the Compose Specification's schema is missing (${SCHEMA_FILE}); run npm install in ${inHome()}`);
  }
  const hash = createHash('sha256').update(text).digest('hex');
  const require = createRequire(import.meta.url);
  try {
    const cached = require(inHome(CACHE_FILE)) as ValidateFunction & { schemaHash?: string };
    if (cached.schemaHash === hash) return (compiled = cached);
  } catch {
    /* not built yet, or from another schema: compile below */
  }
  // strict: false, validateFormats: false: the schema names formats ("duration", "ports")
  // that only Compose's Go code defines; box checks those values itself when it reads them.
  // validateSchema: false: the file names draft-07 by an https URL that ajv does not know by that name.
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, verbose: true, validateSchema: false, code: { source: true } });
  compiled = ajv.compile(JSON.parse(text));
  try {
    const tmp = inHome(`${CACHE_FILE}.${process.pid}.tmp`);
    fs.writeFileSync(tmp, `${standaloneCode.default(ajv, compiled)}\nmodule.exports.schemaHash = ${JSON.stringify(hash)};\n`);
    fs.renameSync(tmp, inHome(CACHE_FILE));
  } catch {
    /* read-only: compile again next time */
  }
  return compiled;
}

export interface SchemaProblem {
  /** Where in the file: the key's path; `key` set when the problem is a key that should not be there. */
  path: (string | number)[];
  key?: string;
  message: string;
}

/** The first problem the schema finds (the most precise of ajv's), or null. */
export function checkSchema(data: unknown): SchemaProblem | null {
  const validate = validator();
  if (validate(data)) return null;
  const errors = validate.errors ?? [];
  const toPath = (e: ErrorObject) => e.instancePath.split('/').slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  // An unknown key is the clearest thing to report; then the deepest of the others, since
  // oneOf/anyOf failures repeat themselves higher up.
  const extra = errors.find((e) => e.keyword === 'additionalProperties');
  if (extra) {
    const key = (extra.params as { additionalProperty: string }).additionalProperty;
    const allowed = Object.keys((extra.parentSchema as { properties?: object }).properties ?? {});
    const guess = nearest(key, allowed);
    const where = keyPath([...toPath(extra), key]);
    return { path: toPath(extra), key, message: `${where}: '${key}' is not a Compose key here${guess ? `; did you mean '${guess}'?` : ''}` };
  }
  const specific = errors.filter((e) => !['oneOf', 'anyOf', 'if', 'not'].includes(e.keyword));
  const pick = (specific.length ? specific : errors).reduce((a, b) => (toPath(b).length > toPath(a).length ? b : a));
  const p = toPath(pick);
  return { path: p, message: `${keyPath(p) || 'the file'}: ${describe(pick)}` };
}

function describe(e: ErrorObject): string {
  // ajv gives one type as a string ('string,number' for a union) or, for a union, a list.
  if (e.keyword === 'type') return `must be ${[(e.params as { type: string | string[] }).type].flat().join(',').split(',').join(' or ')}`;
  if (e.keyword === 'enum') return `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
  if (e.keyword === 'required') return `needs '${(e.params as { missingProperty: string }).missingProperty}'`;
  return e.message ?? 'is not valid';
}
