// Per-kind rules on write, as Kubernetes' registry strategies: what create resets, what a main-resource
// update keeps (status) and a status update keeps (everything but status), when generation moves.
import { randomUUID, randomInt } from 'node:crypto';
import type { KubeObject, ObjectMeta } from '../apimachinery/index.js';

type Obj = Record<string, unknown>;

/** Kinds whose metadata.generation counts spec changes (what controllers' observedGeneration follows). */
const GENERATION_KINDS = new Set(['Deployment', 'ReplicaSet', 'Pod']);
/** Kinds with a status subresource: a main-resource write cannot change status. */
export const STATUS_KINDS = new Set(['Pod', 'Node', 'Deployment', 'ReplicaSet', 'Namespace', 'Service']);

export function nowRFC3339(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

/** generateName: the prefix (cut to fit) plus five characters from Kubernetes' alphabet. */
export function generateName(prefix: string): string {
  let out = prefix.length > 58 ? prefix.slice(0, 58) : prefix;
  for (let i = 0; i < 5; i++) out += NAME_CHARS[randomInt(NAME_CHARS.length)];
  return out;
}

function canonicalSpec(o: KubeObject): string {
  const { apiVersion: _a, kind: _k, metadata: _m, status: _s, ...rest } = o;
  return JSON.stringify(rest);
}

/** Resets server-owned fields on create (uid, timestamps, generation, status where the kind owns it). */
export function prepareForCreate(kind: string, o: KubeObject): void {
  const m: ObjectMeta = o.metadata;
  m.uid = randomUUID();
  m.creationTimestamp = nowRFC3339();
  delete m.resourceVersion;
  delete m.deletionTimestamp;
  delete m.deletionGracePeriodSeconds;
  if (GENERATION_KINDS.has(kind)) m.generation = 1;
  else delete m.generation;
  switch (kind) {
    case 'Deployment':
    case 'ReplicaSet':
      o.status = {};
      break;
    case 'Pod': {
      const st = (o.status ?? {}) as Obj;
      // A pod is created Pending; nominatedNodeName and the like belong to the scheduler and kubelet.
      o.status = { phase: 'Pending', ...(st.qosClass ? { qosClass: st.qosClass } : {}) };
      break;
    }
    case 'Namespace':
      o.status = { phase: 'Active' };
      break;
  }
}

/** A main-resource update (PUT/PATCH on the object). */
export function prepareForUpdate(kind: string, next: KubeObject, old: KubeObject): void {
  keepSystemMeta(next.metadata, old.metadata);
  if (STATUS_KINDS.has(kind)) {
    if (old.status === undefined) delete next.status;
    else next.status = old.status;
  }
  if (GENERATION_KINDS.has(kind)) {
    const gen = old.metadata.generation ?? 1;
    next.metadata.generation = canonicalSpec(next) !== canonicalSpec(old) ? gen + 1 : gen;
  }
}

/** A status update: only status changes; metadata and spec stay as stored. */
export function prepareForStatusUpdate(next: KubeObject, old: KubeObject): KubeObject {
  const out: KubeObject = { ...old, metadata: { ...old.metadata } };
  if (next.status === undefined) delete out.status;
  else out.status = next.status;
  return out;
}

function keepSystemMeta(next: ObjectMeta, old: ObjectMeta): void {
  next.uid = old.uid;
  next.creationTimestamp = old.creationTimestamp;
  next.name = old.name;
  if (old.namespace !== undefined) next.namespace = old.namespace;
  if (old.generateName !== undefined) next.generateName = old.generateName;
  else delete next.generateName;
  // Only the delete path sets or moves the deletion fields.
  if (old.deletionTimestamp) next.deletionTimestamp = old.deletionTimestamp;
  else delete next.deletionTimestamp;
  if (old.deletionGracePeriodSeconds !== undefined)
    next.deletionGracePeriodSeconds = old.deletionGracePeriodSeconds;
  else delete next.deletionGracePeriodSeconds;
  if (old.generation !== undefined) next.generation = old.generation;
}

/** Deep equality of JSON values, ignoring the order of object keys. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return (
    ak.length === bk.length &&
    ak.every((k) => Object.prototype.hasOwnProperty.call(bo, k) && jsonEqual(ao[k], bo[k]))
  );
}

/**
 * Whether a write would change nothing but resourceVersion and managedFields bookkeeping: such writes
 * are skipped (no new revision, no watch event), so a controller re-writing the same status is free.
 */
export function sameContent(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject): KubeObject => {
    const { resourceVersion: _rv, managedFields: _mf, ...meta } = o.metadata;
    return { ...o, metadata: meta };
  };
  return jsonEqual(strip(a), strip(b));
}
