// How objects are laid out in the store: JSON with apiVersion, kind and metadata first and no
// resourceVersion (the key's mod_revision is the resourceVersion, set on the way out).
import type { KubeObject } from '../apimachinery/index.js';
import type { StoredKV } from './storage.js';

export function encodeForStore(obj: KubeObject): Buffer {
  const { apiVersion, kind, metadata, ...rest } = obj;
  const { resourceVersion: _rv, ...meta } = metadata;
  return Buffer.from(JSON.stringify({ apiVersion, kind, metadata: meta, ...rest }), 'utf8');
}

export class CorruptObjectError extends Error {
  override readonly name = 'CorruptObjectError';
}

export function decodeStored(kv: StoredKV): KubeObject {
  let o: KubeObject;
  try {
    o = JSON.parse(kv.value.toString('utf8')) as KubeObject;
  } catch (e) {
    throw new CorruptObjectError(`stored value at ${kv.key} is not JSON: ${(e as Error).message}`);
  }
  if (!o || typeof o !== 'object' || !o.metadata || typeof o.metadata !== 'object') {
    throw new CorruptObjectError(`stored value at ${kv.key} has no metadata`);
  }
  o.metadata.resourceVersion = String(kv.modRevision);
  return o;
}

const META = '"metadata":{';

/**
 * The stored JSON with metadata.resourceVersion spliced in, without parsing: lists of many objects are
 * served this way. Falls back to parse+stringify for values we did not write (e.g. etcdctl put).
 */
export function rawWithResourceVersion(kv: StoredKV): string {
  const s = kv.value.toString('utf8');
  const i = s.indexOf(META);
  // Our encoder writes metadata right after apiVersion and kind, so the first match is the object's own.
  if (i > 0 && i < 200 && !s.slice(i, i + 400).includes('"resourceVersion"')) {
    const at = i + META.length;
    const sep = s[at] === '}' ? '' : ',';
    return `${s.slice(0, at)}"resourceVersion":"${kv.modRevision}"${sep}${s.slice(at)}`;
  }
  return JSON.stringify(decodeStored(kv));
}
