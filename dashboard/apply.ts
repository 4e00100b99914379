// Applies a YAML (or JSON) manifest of one or more documents through the API server: each object is
// created, or updated in place when it exists, and the API server's Status comes back with its causes.
import { loadAll } from 'js-yaml';
import { KubeClient, resourceForOwner, makeStatus } from '../apimachinery/client.js';
import type { KubeObject, Status } from '../apimachinery/index.js';

export interface ApplyResult {
  /** Position of the document in the manifest, from 1. */
  doc: number;
  kind?: string;
  name?: string;
  namespace?: string;
  action?: 'created' | 'configured' | 'unchanged';
  error?: Status;
}

/** Bounds: a manifest is a demo's worth of YAML, not a bulk import. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
export const MAX_DOCUMENTS = 100;

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

/** The objects of a manifest (a `kind: List` is expanded); empty documents are skipped. */
export function parseManifest(text: string): KubeObject[] {
  if (Buffer.byteLength(text) > MAX_MANIFEST_BYTES)
    throw new ManifestError(`manifest is larger than ${MAX_MANIFEST_BYTES} bytes`);
  let docs: unknown[];
  try {
    docs = loadAll(text) as unknown[];
  } catch (err) {
    throw new ManifestError(`YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const out: KubeObject[] = [];
  for (const d of docs) {
    if (d === null || d === undefined) continue;
    if (typeof d !== 'object' || Array.isArray(d))
      throw new ManifestError(
        `document ${out.length + 1} is not a mapping (an object with apiVersion and kind)`,
      );
    const o = d as KubeObject;
    if (o.kind === 'List' && Array.isArray((o as any).items)) out.push(...((o as any).items as KubeObject[]));
    else out.push(o);
    if (out.length > MAX_DOCUMENTS)
      throw new ManifestError(`more than ${MAX_DOCUMENTS} objects in one manifest`);
  }
  if (out.length === 0) throw new ManifestError('the manifest has no objects');
  return out;
}

export async function applyManifest(
  client: KubeClient,
  text: string,
  defaultNamespace = 'default',
): Promise<ApplyResult[]> {
  const objs = parseManifest(text);
  const results: ApplyResult[] = [];
  for (const [i, o] of objs.entries()) results.push(await applyOne(client, o, i + 1, defaultNamespace));
  return results;
}

async function applyOne(
  client: KubeClient,
  o: KubeObject,
  doc: number,
  defaultNamespace: string,
): Promise<ApplyResult> {
  const res: ApplyResult = { doc, kind: o.kind, name: o.metadata?.name };
  if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string') {
    res.error = makeStatus(400, 'BadRequest', `document ${doc}: apiVersion and kind are required`);
    return res;
  }
  const r = resourceForOwner(o.apiVersion, o.kind);
  if (!r) {
    res.error = makeStatus(
      404,
      'NotFound',
      `no kind "${o.kind}" is registered for version "${o.apiVersion}"`,
    );
    return res;
  }
  if (!o.metadata || typeof o.metadata !== 'object') o.metadata = {};
  if (r.namespaced) {
    o.metadata.namespace ??= defaultNamespace;
    res.namespace = o.metadata.namespace;
  }
  const name = o.metadata.name;
  // generateName objects are always new; anything else is looked up first, as kubectl apply does.
  if (name) {
    const existing = await client.get(r, name, o.metadata.namespace);
    if (existing.ok) {
      const updated = await client.update(r, {
        ...o,
        metadata: { ...o.metadata, resourceVersion: existing.value.metadata.resourceVersion },
        // The status belongs to the controllers: keep theirs.
        ...(existing.value.status !== undefined ? { status: existing.value.status } : {}),
      });
      if (!updated.ok) res.error = updated.status;
      else
        res.action =
          updated.value.metadata.resourceVersion === existing.value.metadata.resourceVersion
            ? 'unchanged'
            : 'configured';
      return res;
    }
    if (existing.status.code !== 404) {
      res.error = existing.status;
      return res;
    }
  }
  const created = await client.create(r, o);
  if (!created.ok) res.error = created.status;
  else {
    res.action = 'created';
    res.name = created.value.metadata.name;
  }
  return res;
}
