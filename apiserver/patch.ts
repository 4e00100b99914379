// PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and Kubernetes' strategic merge
// patch (lists merged by key from the schema's x-kubernetes-patch-* hints, with $patch, $setElementOrder,
// $retainKeys and $deleteFromPrimitiveList directives, the subset kubectl apply and edit send).
import { StatusError, badRequest, failure } from '../apimachinery/index.js';
import { DEFINITIONS, type JSONSchema } from './schemas.js';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

const MAX_DEPTH = 100;

// ---- JSON merge patch ---------------------------------------------------------------------------

export function mergePatch(target: unknown, patch: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) throw new StatusError(badRequest('patch nested too deeply'));
  if (!isObj(patch)) return clone(patch);
  const out: Obj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v, depth + 1);
  }
  return out;
}

// ---- JSON patch ---------------------------------------------------------------------------------

interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new StatusError(badRequest(`invalid JSON pointer "${path}"`));
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function unprocessable(msg: string): StatusError {
  return new StatusError(failure(422, 'Invalid', msg));
}

function parentOf(doc: unknown, parts: string[], path: string): unknown {
  let cur = doc;
  for (const p of parts.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isObj(cur)) cur = cur[p];
    else cur = undefined;
    if (cur === undefined) throw unprocessable(`jsonpatch: path "${path}" does not exist`);
  }
  return cur;
}

function getAt(doc: unknown, path: string): unknown {
  let cur = doc;
  for (const p of pointer(path)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isObj(cur)) cur = cur[p];
    else return undefined;
  }
  return cur;
}

function arrayIndex(arr: unknown[], key: string, path: string, forInsert: boolean): number {
  if (key === '-' && forInsert) return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(key))
    throw unprocessable(`jsonpatch: invalid array index "${key}" in "${path}"`);
  const i = Number(key);
  if (i > arr.length || (!forInsert && i === arr.length))
    throw unprocessable(`jsonpatch: index ${i} out of range in "${path}"`);
  return i;
}

function addAt(doc: unknown, path: string, value: unknown): unknown {
  const parts = pointer(path);
  if (parts.length === 0) return clone(value);
  const parent = parentOf(doc, parts, path);
  const last = parts[parts.length - 1];
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, path, true), 0, clone(value));
  else if (isObj(parent)) parent[last] = clone(value);
  else throw unprocessable(`jsonpatch: path "${path}" does not exist`);
  return doc;
}

function removeAt(doc: unknown, path: string): unknown {
  const parts = pointer(path);
  if (parts.length === 0) throw unprocessable('jsonpatch: cannot remove the whole document');
  const parent = parentOf(doc, parts, path);
  const last = parts[parts.length - 1];
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, path, false), 1);
  else if (isObj(parent) && last in parent) delete parent[last];
  else throw unprocessable(`jsonpatch: path "${path}" does not exist`);
  return doc;
}

const MAX_JSON_PATCH_OPS = 10_000;

export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new StatusError(badRequest('a JSON patch must be an array of operations'));
  if (ops.length > MAX_JSON_PATCH_OPS)
    throw new StatusError(badRequest(`a JSON patch may hold at most ${MAX_JSON_PATCH_OPS} operations`));
  let doc = clone(target);
  for (const raw of ops as JsonPatchOp[]) {
    if (!isObj(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string')
      throw new StatusError(badRequest('invalid JSON patch operation'));
    switch (raw.op) {
      case 'add':
        doc = addAt(doc, raw.path, raw.value);
        break;
      case 'remove':
        doc = removeAt(doc, raw.path);
        break;
      case 'replace':
        if (getAt(doc, raw.path) === undefined)
          throw unprocessable(`jsonpatch replace operation does not apply: doc is missing key: ${raw.path}`);
        doc = removeAt(doc, raw.path);
        doc = addAt(doc, raw.path, raw.value);
        break;
      case 'move': {
        const v = getAt(doc, raw.from ?? '');
        if (v === undefined) throw unprocessable(`jsonpatch: from "${raw.from}" does not exist`);
        doc = removeAt(doc, raw.from!);
        doc = addAt(doc, raw.path, v);
        break;
      }
      case 'copy': {
        const v = getAt(doc, raw.from ?? '');
        if (v === undefined) throw unprocessable(`jsonpatch: from "${raw.from}" does not exist`);
        doc = addAt(doc, raw.path, v);
        break;
      }
      case 'test':
        if (JSON.stringify(getAt(doc, raw.path)) !== JSON.stringify(raw.value))
          throw unprocessable(`jsonpatch: test operation for path "${raw.path}" failed`);
        break;
      default:
        throw new StatusError(badRequest(`unknown JSON patch operation "${raw.op}"`));
    }
  }
  return doc;
}

// ---- schema walking (shared with server-side apply) ----------------------------------------------

const resolved = new WeakMap<JSONSchema, JSONSchema>();

/** Follows $ref / allOf wrappers to the schema that has type/properties (memoized: schemas are static). */
export function resolve(s: JSONSchema | undefined): JSONSchema | undefined {
  if (!s) return s;
  let r = resolved.get(s);
  if (!r) {
    r = resolveUncached(s) ?? s;
    resolved.set(s, r);
  }
  return r;
}

function resolveUncached(s: JSONSchema | undefined): JSONSchema | undefined {
  let cur = s;
  for (let i = 0; cur && i < 10; i++) {
    if (typeof cur.$ref === 'string') {
      cur = { ...DEFINITIONS[cur.$ref.replace('#/definitions/', '')], ...stripRef(cur) };
    } else if (Array.isArray(cur.allOf) && cur.allOf.length === 1) {
      const { allOf, ...rest } = cur;
      cur = { ...(allOf[0] as JSONSchema), ...rest };
    } else {
      return cur;
    }
  }
  return cur;
}

function stripRef(s: JSONSchema): JSONSchema {
  const { $ref: _r, ...rest } = s;
  return rest;
}

export function fieldSchema(s: JSONSchema | undefined, key: string): JSONSchema | undefined {
  const r = resolve(s);
  if (!r) return undefined;
  const props = r.properties as Record<string, JSONSchema> | undefined;
  if (props && props[key]) return resolve(props[key]);
  if (isObj(r.additionalProperties)) return resolve(r.additionalProperties as JSONSchema);
  return undefined;
}

export function itemSchema(s: JSONSchema | undefined): JSONSchema | undefined {
  const r = resolve(s);
  return r && isObj(r.items) ? resolve(r.items as JSONSchema) : undefined;
}

// ---- strategic merge patch ----------------------------------------------------------------------

const SET_ORDER = '$setElementOrder/';
const DELETE_PRIMITIVE = '$deleteFromPrimitiveList/';

/** Removes directive keys from a value that is being inserted as-is. */
function cleanDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.filter((e) => !(isObj(e) && e.$patch === 'delete')).map(cleanDirectives);
  if (!isObj(v)) return v;
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith(SET_ORDER) || k.startsWith(DELETE_PRIMITIVE))
      continue;
    if (x === null) continue;
    out[k] = cleanDirectives(x);
  }
  return out;
}

function mergeKeyOf(s: JSONSchema | undefined): string | undefined {
  return s?.['x-kubernetes-patch-merge-key'] as string | undefined;
}

function strategyOf(s: JSONSchema | undefined): string {
  return String(s?.['x-kubernetes-patch-strategy'] ?? '');
}

function smpMap(original: unknown, patch: Obj, schema: JSONSchema | undefined, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new StatusError(badRequest('patch nested too deeply'));
  if (patch.$patch === 'replace') return cleanDirectives(patch);
  if (patch.$patch === 'delete') return undefined;
  if (patch.$patch !== undefined && patch.$patch !== 'merge')
    throw new StatusError(badRequest(`unknown patch type "${String(patch.$patch)}" in map`));
  const out: Obj = isObj(original) ? { ...original } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith(SET_ORDER)) continue;
    if (k.startsWith(DELETE_PRIMITIVE)) {
      const field = k.slice(DELETE_PRIMITIVE.length);
      if (Array.isArray(out[field]) && Array.isArray(v))
        out[field] = (out[field] as unknown[]).filter((e) => !v.includes(e));
      continue;
    }
    const sub = fieldSchema(schema, k);
    if (v === null) {
      delete out[k];
    } else if (isObj(v)) {
      const merged = smpMap(out[k], v, sub, depth + 1);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else if (Array.isArray(v)) {
      out[k] = smpList(out[k], v, sub, depth + 1);
    } else {
      out[k] = v;
    }
  }
  for (const [k, order] of Object.entries(patch)) {
    if (!k.startsWith(SET_ORDER) || !Array.isArray(order)) continue;
    const field = k.slice(SET_ORDER.length);
    if (Array.isArray(out[field]))
      out[field] = applyOrder(out[field] as unknown[], order, mergeKeyOf(fieldSchema(schema, field)));
  }
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set(patch.$retainKeys as string[]);
    for (const k of Object.keys(out)) if (!keep.has(k)) delete out[k];
  }
  return out;
}

function applyOrder(list: unknown[], order: unknown[], key: string | undefined): unknown[] {
  const id = (e: unknown): string => JSON.stringify(key && isObj(e) ? e[key] : e);
  const rank = new Map(order.map((e, i) => [id(e), i]));
  // Items the order does not mention keep their relative place after the ordered ones (stable sort).
  return list
    .map((e, i) => ({ e, i, r: rank.get(id(e)) ?? order.length + i }))
    .sort((a, b) => a.r - b.r)
    .map((x) => x.e);
}

function smpList(
  original: unknown,
  patch: unknown[],
  schema: JSONSchema | undefined,
  depth: number,
): unknown[] {
  const strategy = strategyOf(schema);
  const key = mergeKeyOf(schema);
  if (!strategy.split(',').includes('merge')) return cleanDirectives(patch) as unknown[];
  if (patch.some((e) => isObj(e) && e.$patch === 'replace'))
    return cleanDirectives(patch.filter((e) => !(isObj(e) && e.$patch === 'replace'))) as unknown[];
  const out = Array.isArray(original) ? [...original] : [];
  if (!key) {
    // A merged list of scalars is a set union.
    for (const v of patch) if (!out.some((o) => JSON.stringify(o) === JSON.stringify(v))) out.push(v);
    return out;
  }
  const items = itemSchema(schema);
  for (const p of patch) {
    if (!isObj(p)) throw new StatusError(badRequest(`list items with merge key "${key}" must be objects`));
    const idx = out.findIndex((o) => isObj(o) && JSON.stringify(o[key]) === JSON.stringify(p[key]));
    if (p.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = smpMap(out[idx], p, items, depth + 1);
    else out.push(cleanDirectives(p));
  }
  return out;
}

/** Applies a strategic merge patch to `original`, an object of the kind whose OpenAPI definition is `def`. */
export function strategicMergePatch(original: unknown, patch: unknown, def: string | undefined): unknown {
  if (!isObj(patch)) throw new StatusError(badRequest('a strategic merge patch must be a JSON object'));
  const schema = def ? DEFINITIONS[def] : undefined;
  return smpMap(original, patch, schema, 0);
}
