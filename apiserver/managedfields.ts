// Field ownership for server-side apply: managedFields entries (fieldsV1 sets of f:/k: paths) per
// manager, updated on every write, and the apply merge with conflict detection Kubernetes performs.
import type { KubeObject, ManagedFieldsEntry } from '../apimachinery/index.js';
import { StatusError, failure } from '../apimachinery/index.js';
import type { JSONSchema } from './schemas.js';
import { fieldSchema, itemSchema, resolve } from './patch.js';
import { nowRFC3339 } from './strategy.js';

type Obj = Record<string, unknown>;
const SEP = '\n';
/** Server-owned metadata that no manager owns. */
const SYSTEM_META = new Set([
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'managedFields',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'generateName',
  'selfLink',
]);

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mergeKey(s: JSONSchema | undefined): string | undefined {
  return s?.['x-kubernetes-patch-merge-key'] as string | undefined;
}

function keySeg(item: Obj, key: string): string {
  return `k:${JSON.stringify({ [key]: item[key] })}`;
}

/** Every owned path of `o` (leaves, plus the item marker of each keyed list element). */
export function fieldPaths(
  o: unknown,
  schema: JSONSchema | undefined,
  prefix = '',
  depth = 0,
  out = new Set<string>(),
): Set<string> {
  if (depth > 64) return out;
  const s = resolve(schema);
  if (isObj(o) && !(s && s['x-kubernetes-preserve-unknown-fields'])) {
    for (const [k, v] of Object.entries(o)) {
      if (depth === 0 && (k === 'apiVersion' || k === 'kind' || k === 'status')) continue;
      if (depth === 1 && prefix === 'f:metadata' && SYSTEM_META.has(k)) continue;
      const p = prefix ? `${prefix}${SEP}f:${k}` : `f:${k}`;
      const sub = fieldSchema(s, k);
      if (isObj(v) && Object.keys(v).length > 0) fieldPaths(v, sub, p, depth + 1, out);
      else if (Array.isArray(v) && mergeKey(sub) && v.every(isObj)) {
        const items = itemSchema(sub);
        for (const item of v as Obj[]) {
          const ip = `${p}${SEP}${keySeg(item, mergeKey(sub)!)}`;
          out.add(`${ip}${SEP}.`);
          fieldPaths(item, items, ip, depth + 2, out);
        }
      } else out.add(p);
    }
    return out;
  }
  if (prefix) out.add(prefix);
  return out;
}

/** fieldsV1 of every owned field of `o`, built directly (the create path: no path strings). */
export function fieldsV1Of(o: unknown, schema: JSONSchema | undefined, depth = 0, inMeta = false): Obj {
  const out: Obj = {};
  const s = resolve(schema);
  if (!isObj(o) || depth > 64 || (s && s['x-kubernetes-preserve-unknown-fields'])) return out;
  for (const [k, v] of Object.entries(o)) {
    if (depth === 0 && (k === 'apiVersion' || k === 'kind' || k === 'status')) continue;
    if (inMeta && SYSTEM_META.has(k)) continue;
    const sub = fieldSchema(s, k);
    const key = mergeKey(sub);
    if (isObj(v) && Object.keys(v).length > 0) {
      if (!resolve(sub)?.['x-kubernetes-preserve-unknown-fields']) {
        out[`f:${k}`] = fieldsV1Of(v, sub, depth + 1, depth === 0 && k === 'metadata');
        continue;
      }
    } else if (Array.isArray(v) && key && v.every(isObj)) {
      const items = itemSchema(sub);
      const list: Obj = {};
      for (const item of v as Obj[])
        list[keySeg(item, key)] = { '.': {}, ...fieldsV1Of(item, items, depth + 2) };
      out[`f:${k}`] = list;
      continue;
    }
    out[`f:${k}`] = {};
  }
  return out;
}

/** Builds the nested fieldsV1 object from a path set. */
export function toFieldsV1(paths: Set<string>): Obj {
  const root: Obj = {};
  for (const p of paths) {
    let cur = root;
    for (const seg of p.split(SEP)) {
      if (!isObj(cur[seg])) cur[seg] = {};
      cur = cur[seg] as Obj;
    }
  }
  return root;
}

export function fromFieldsV1(f: unknown, prefix = '', out = new Set<string>()): Set<string> {
  if (!isObj(f)) return out;
  const keys = Object.keys(f);
  if (keys.length === 0 && prefix) out.add(prefix);
  for (const k of keys) fromFieldsV1(f[k], prefix ? `${prefix}${SEP}${k}` : k, out);
  return out;
}

function valueAt(o: unknown, path: string): unknown {
  let cur = o;
  for (const seg of path.split(SEP)) {
    if (seg === '.') return cur;
    if (seg.startsWith('f:')) {
      if (!isObj(cur)) return undefined;
      cur = cur[seg.slice(2)];
    } else if (seg.startsWith('k:')) {
      if (!Array.isArray(cur)) return undefined;
      const want = JSON.parse(seg.slice(2)) as Obj;
      const [k, v] = Object.entries(want)[0];
      cur = cur.find((e) => isObj(e) && JSON.stringify(e[k]) === JSON.stringify(v));
    } else return undefined;
    if (cur === undefined) return undefined;
  }
  return cur;
}

function removeAt(o: unknown, path: string): void {
  const segs = path.split(SEP);
  if (segs[segs.length - 1] === '.') segs.pop();
  let cur = o;
  for (let i = 0; i < segs.length - 1; i++) {
    cur = valueAt(cur, segs[i]);
    if (cur === undefined) return;
  }
  const last = segs[segs.length - 1];
  if (last.startsWith('f:') && isObj(cur)) delete cur[last.slice(2)];
  else if (last.startsWith('k:') && Array.isArray(cur)) {
    const [k, v] = Object.entries(JSON.parse(last.slice(2)) as Obj)[0];
    const i = cur.findIndex((e) => isObj(e) && JSON.stringify(e[k]) === JSON.stringify(v));
    if (i >= 0) cur.splice(i, 1);
  }
}

function entries(o: KubeObject): ManagedFieldsEntry[] {
  return Array.isArray(o.metadata.managedFields) ? o.metadata.managedFields : [];
}

function setEntry(
  list: ManagedFieldsEntry[],
  manager: string,
  operation: 'Apply' | 'Update',
  apiVersion: string,
  paths: Set<string>,
  subresource?: string,
): ManagedFieldsEntry[] {
  const rest = list.filter(
    (e) =>
      !(e.manager === manager && e.operation === operation && (e.subresource ?? '') === (subresource ?? '')),
  );
  if (paths.size === 0) return rest;
  const entry: ManagedFieldsEntry = {
    manager,
    operation,
    apiVersion,
    time: nowRFC3339(),
    fieldsType: 'FieldsV1',
    fieldsV1: toFieldsV1(paths),
  };
  if (subresource) entry.subresource = subresource;
  return [...rest, entry];
}

/** Removes `taken` from every other manager's set (ownership moves to the writer). */
function disown(
  list: ManagedFieldsEntry[],
  taken: Set<string>,
  except: (e: ManagedFieldsEntry) => boolean,
): ManagedFieldsEntry[] {
  const out: ManagedFieldsEntry[] = [];
  for (const e of list) {
    if (except(e)) {
      out.push(e);
      continue;
    }
    const own = fromFieldsV1(e.fieldsV1);
    let changed = false;
    for (const p of taken) if (own.delete(p)) changed = true;
    if (!changed) out.push(e);
    else if (own.size) out.push({ ...e, fieldsV1: toFieldsV1(own) });
  }
  return out;
}

/** Records an Update by `manager`: it now owns every field whose value it set or changed. */
export function trackUpdate(
  next: KubeObject,
  old: KubeObject | null,
  manager: string,
  apiVersion: string,
  schema: JSONSchema | undefined,
  subresource?: string,
): void {
  if (!old) {
    // A create: the writer owns everything it sent.
    const entry: ManagedFieldsEntry = {
      manager,
      operation: 'Update',
      apiVersion,
      time: nowRFC3339(),
      fieldsType: 'FieldsV1',
      fieldsV1: fieldsV1Of(next, schema),
    };
    if (subresource) entry.subresource = subresource;
    next.metadata.managedFields = [entry];
    return;
  }
  const nextPaths = fieldPaths(next, schema);
  const changed = new Set<string>();
  for (const p of nextPaths) {
    if (!old || JSON.stringify(valueAt(next, p)) !== JSON.stringify(valueAt(old, p))) changed.add(p);
  }
  let list = old ? entries(old) : [];
  // Fields that no longer exist are owned by nobody.
  list = list
    .map((e) => {
      const own = fromFieldsV1(e.fieldsV1);
      for (const p of [...own]) if (!nextPaths.has(p) && e.subresource !== 'status') own.delete(p);
      return own.size ? ({ ...e, fieldsV1: toFieldsV1(own) } as ManagedFieldsEntry) : null;
    })
    .filter((e): e is ManagedFieldsEntry => e !== null);
  if (changed.size === 0) {
    next.metadata.managedFields = list;
    return;
  }
  list = disown(list, changed, (e) => e.manager === manager && e.operation === 'Update');
  const mine = list.find(
    (e) => e.manager === manager && e.operation === 'Update' && (e.subresource ?? '') === (subresource ?? ''),
  );
  const paths = mine ? fromFieldsV1(mine.fieldsV1) : new Set<string>();
  for (const p of changed) paths.add(p);
  next.metadata.managedFields = setEntry(list, manager, 'Update', apiVersion, paths, subresource);
}

/** Structured merge of an applied configuration into the live object (keyed lists by merge key). */
function mergeApplied(live: unknown, applied: unknown, schema: JSONSchema | undefined, depth = 0): unknown {
  const s = resolve(schema);
  if (depth > 64 || !isObj(applied) || (s && s['x-kubernetes-preserve-unknown-fields']))
    return structuredClone(applied);
  const out: Obj = isObj(live) ? { ...live } : {};
  for (const [k, v] of Object.entries(applied)) {
    const sub = fieldSchema(s, k);
    const key = mergeKey(sub);
    if (Array.isArray(v) && key && v.every(isObj) && Array.isArray(out[k])) {
      const list = [...(out[k] as unknown[])];
      for (const item of v as Obj[]) {
        const i = list.findIndex((e) => isObj(e) && JSON.stringify(e[key]) === JSON.stringify(item[key]));
        if (i >= 0) list[i] = mergeApplied(list[i], item, itemSchema(sub), depth + 1);
        else list.push(structuredClone(item));
      }
      out[k] = list;
    } else if (isObj(v) && Object.keys(v).length > 0) {
      out[k] = mergeApplied(out[k], v, sub, depth + 1);
    } else {
      out[k] = structuredClone(v);
    }
  }
  return out;
}

/**
 * Server-side apply of `applied` by `manager` onto `live` (null when the object does not exist yet).
 * Returns the new object with managedFields updated, or throws 409 Conflict listing contested fields.
 */
export function applyConfiguration(
  live: KubeObject | null,
  applied: KubeObject,
  manager: string,
  force: boolean,
  apiVersion: string,
  schema: JSONSchema | undefined,
  gr: { group: string; resource: string },
): KubeObject {
  const appliedPaths = fieldPaths(applied, schema);
  const list = live ? entries(live) : [];
  if (live && !force) {
    const conflicts: { manager: string; path: string }[] = [];
    for (const e of list) {
      if (e.manager === manager && e.operation === 'Apply') continue;
      if (e.subresource) continue;
      const own = fromFieldsV1(e.fieldsV1);
      for (const p of appliedPaths) {
        if (p.endsWith(`${SEP}.`)) continue;
        if (own.has(p) && JSON.stringify(valueAt(live, p)) !== JSON.stringify(valueAt(applied, p)))
          conflicts.push({ manager: e.manager ?? '', path: p });
      }
    }
    if (conflicts.length) {
      const fmt = (p: string): string =>
        '.' +
        p
          .split(SEP)
          .map((s) =>
            s.startsWith('f:')
              ? s.slice(2)
              : `[${s
                  .slice(2)
                  .replace(/^\{"(\w+)":/, '$1=')
                  .replace(/\}$/, '')}]`,
          )
          .join('.')
          .replace(/\.\[/g, '[');
      const head =
        conflicts.length === 1
          ? 'Apply failed with 1 conflict'
          : `Apply failed with ${conflicts.length} conflicts`;
      const lines = conflicts.map((c) => `conflict with "${c.manager}" using ${apiVersion}: ${fmt(c.path)}`);
      const msg = conflicts.length === 1 ? `${head}: ${lines[0]}` : `${head}: ${lines.join('\n')}`;
      throw new StatusError(
        failure(409, 'Conflict', msg, {
          name: applied.metadata.name,
          ...(gr.group ? { group: gr.group } : {}),
          kind: gr.resource,
          causes: conflicts.map((c, i) => ({
            reason: 'FieldManagerConflict',
            message: lines[i].split(': ')[0].replace(/^conflict with /, 'conflict with '),
            field: fmt(c.path),
          })),
        }),
      );
    }
  }
  let merged = (live ? mergeApplied(live, applied, schema) : structuredClone(applied)) as KubeObject;
  // Fields this manager applied before but not now are removed, unless someone else also owns them.
  const mine = list.find((e) => e.manager === manager && e.operation === 'Apply');
  if (live && mine) {
    const before = fromFieldsV1(mine.fieldsV1);
    const others = new Set<string>();
    for (const e of list) if (e !== mine) for (const p of fromFieldsV1(e.fieldsV1)) others.add(p);
    for (const p of before) if (!appliedPaths.has(p) && !others.has(p)) removeAt(merged, p);
  }
  merged = merged as KubeObject;
  let nextList = disown(list, appliedPaths, (e) => e.manager === manager && e.operation === 'Apply');
  nextList = setEntry(nextList, manager, 'Apply', apiVersion, appliedPaths);
  merged.metadata = { ...merged.metadata, managedFields: nextList };
  return merged;
}
