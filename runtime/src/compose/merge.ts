// Several -f files make one project, merged as Compose merges them: later files override
// single values and extend mappings; some lists add up (ports, expose, cap_add, ...), others
// are replaced whole (command, entrypoint, healthcheck.test); volumes are merged by target;
// environment, labels and build args are merged as maps whatever form each file used.

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `["A=1", "B"]` or `{A: 1}` -> `{A: "1", B: null}`: the forms Compose treats as one. */
export function listOrDict(v: unknown): Record<string, string | null> {
  if (Array.isArray(v)) {
    return Object.fromEntries(v.map((s) => {
      const str = String(s);
      const eq = str.indexOf('=');
      return eq < 0 ? [str, null] : [str.slice(0, eq), str.slice(eq + 1)];
    }));
  }
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, x === null || x === undefined ? null : String(x)]));
  return {};
}

/** `[db, cache]` or `{db: {...}}` -> the long form (a mapping), for merging. */
function namedList(v: unknown): Obj {
  if (Array.isArray(v)) return Object.fromEntries(v.map((s) => [String(s), null]));
  return isObj(v) ? v : {};
}

const APPENDED = new Set(['ports', 'expose', 'cap_add', 'cap_drop', 'env_file', 'tmpfs']);
const AS_MAP = new Set(['environment', 'labels']);
const AS_NAMED = new Set(['networks', 'depends_on']);

function mergeService(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [key, v] of Object.entries(over)) {
    const b = base[key];
    if (b === undefined) out[key] = v;
    else if (AS_MAP.has(key)) out[key] = { ...listOrDict(b), ...listOrDict(v) };
    else if (AS_NAMED.has(key)) out[key] = deepMerge(namedList(b), namedList(v));
    else if (APPENDED.has(key)) out[key] = [...toList(b), ...toList(v).filter((x) => !toList(b).some((y) => JSON.stringify(y) === JSON.stringify(x)))];
    else if (key === 'volumes') out[key] = mergeByTarget(toList(b), toList(v));
    else if (key === 'build') out[key] = mergeBuild(b, v);
    else if (isObj(b) && isObj(v)) out[key] = deepMerge(b, v);
    else out[key] = v;
  }
  return out;
}

function mergeBuild(b: unknown, v: unknown): Obj {
  const long = (x: unknown): Obj => (typeof x === 'string' ? { context: x } : isObj(x) ? x : {});
  const [lb, lv] = [long(b), long(v)];
  const out = { ...lb, ...lv };
  if (lb.args !== undefined && lv.args !== undefined) out.args = { ...listOrDict(lb.args), ...listOrDict(lv.args) };
  return out;
}

const toList = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);

function targetOf(v: unknown): string {
  if (isObj(v)) return String(v.target);
  const parts = String(v).split(':');
  return parts.length === 1 ? parts[0] : parts[1];
}

function mergeByTarget(b: unknown[], v: unknown[]): unknown[] {
  const out = b.filter((x) => !v.some((y) => targetOf(y) === targetOf(x)));
  return [...out, ...v];
}

/** Mappings merged key by key, the later winning; anything else replaced. */
function deepMerge(a: Obj, b: Obj): Obj {
  const out: Obj = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isObj(a[k]) && isObj(v) ? deepMerge(a[k] as Obj, v) : v;
  return out;
}

export function mergeFiles(datas: Obj[]): Obj {
  const out: Obj = {};
  for (const d of datas) {
    for (const [key, v] of Object.entries(d)) {
      if (key === 'services' && isObj(v)) {
        const services = { ...((out.services as Obj) ?? {}) };
        for (const [name, s] of Object.entries(v)) {
          services[name] = isObj(services[name]) && isObj(s) ? mergeService(services[name] as Obj, s) : s;
        }
        out.services = services;
      } else if (isObj(out[key]) && isObj(v)) {
        out[key] = deepMerge(out[key] as Obj, v);
      } else {
        out[key] = v;
      }
    }
  }
  return out;
}
