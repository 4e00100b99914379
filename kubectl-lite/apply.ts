// apply, create and delete with -f: manifests from files, folders, URLs or stdin; client-side apply is a
// three-way merge against the last-applied-configuration annotation, --server-side sends an apply patch.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import type { KubeObject } from '../apimachinery/index.js';
import { bool, flag, flags, type Args, UsageError } from './args.js';
import type { Ctx } from './context.js';
import { objectRef, qualified } from './discovery.js';
import { CommandError, statusMessage } from './errors.js';

export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
/** Bounds on what -f reads: a runaway folder or stream must not eat the machine. */
const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;
const MAX_FILES = 1000;

export interface Manifest {
  source: string;
  obj: KubeObject;
}

async function readSource(
  src: string,
  recursive: boolean,
  files: string[] = [],
): Promise<{ name: string; text: string }[]> {
  if (src === '-') {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of process.stdin) {
      n += (c as Buffer).length;
      if (n > MAX_MANIFEST_BYTES) throw new CommandError('error: stdin is larger than 8 MiB');
      chunks.push(c as Buffer);
    }
    return [{ name: 'STDIN', text: Buffer.concat(chunks).toString('utf8') }];
  }
  if (/^https?:\/\//.test(src)) {
    const r = await fetch(src).catch((err: Error) => {
      throw new CommandError(`error: unable to read URL "${src}": ${err.message}`);
    });
    if (!r.ok)
      throw new CommandError(
        `error: unable to read URL "${src}", server reported ${r.status} ${r.statusText}, status code=${r.status}`,
      );
    return [{ name: src, text: await r.text() }];
  }
  let st;
  try {
    st = statSync(src);
  } catch {
    throw new CommandError(`error: the path "${src}" does not exist`);
  }
  if (st.isDirectory()) {
    const out: { name: string; text: string }[] = [];
    for (const e of readdirSync(src, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(src, e.name);
      if (e.isDirectory()) {
        if (recursive) out.push(...(await readSource(p, recursive, files)));
      } else if (/\.(ya?ml|json)$/.test(e.name)) {
        out.push(...(await readSource(p, recursive, files)));
      }
    }
    return out;
  }
  files.push(src);
  if (files.length > MAX_FILES) throw new CommandError(`error: more than ${MAX_FILES} files`);
  if (st.size > MAX_MANIFEST_BYTES) throw new CommandError(`error: ${src} is larger than 8 MiB`);
  return [{ name: src, text: readFileSync(src, 'utf8') }];
}

/** Every object in the -f sources, in order (a kind: List is expanded). */
export async function readManifests(a: Args): Promise<Manifest[]> {
  const srcs = flags(a, 'filename');
  if (srcs.length === 0) throw new UsageError('error: must specify one of -f and -k');
  const out: Manifest[] = [];
  for (const s of srcs) {
    for (const { name, text } of await readSource(s, bool(a, 'recursive'))) {
      let docs: unknown[];
      try {
        docs = loadAll(text);
      } catch (err) {
        throw new CommandError(`error: error parsing ${name}: ${(err as Error).message.split('\n')[0]}`);
      }
      for (const d of docs) {
        if (d === null || d === undefined) continue;
        const o = d as KubeObject & { items?: KubeObject[] };
        if (typeof o !== 'object' || !o.kind || !o.apiVersion) {
          const missing = typeof o === 'object' && o && o.apiVersion ? 'kind' : 'apiVersion';
          throw new CommandError(
            `error: error validating "${name}": error validating data: ${missing} not set`,
          );
        }
        if (o.kind.endsWith('List') && Array.isArray(o.items)) {
          for (const item of o.items) out.push({ source: name, obj: item });
        } else out.push({ source: name, obj: o });
      }
    }
  }
  if (out.length === 0) throw new CommandError('error: no objects passed to apply');
  return out;
}

const isPlain = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isPlain(a) && isPlain(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && deepEqual(a[k], b[k]));
  }
  return false;
}

/**
 * A JSON merge patch taking `current` to `modified`, deleting what the last apply set (`original`) and
 * this one drops; fields others set (and the last apply did not) are left alone.
 */
export function threeWayMergePatch(
  original: Record<string, unknown> | undefined,
  modified: Record<string, unknown>,
  current: Record<string, unknown>,
): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(modified)) {
    const cur = current[k];
    if (isPlain(v) && isPlain(cur)) {
      const sub = threeWayMergePatch(
        isPlain(original?.[k]) ? (original![k] as Record<string, unknown>) : undefined,
        v,
        cur,
      );
      if (Object.keys(sub).length) patch[k] = sub;
    } else if (Array.isArray(v) && original && k in original) {
      // Lists are replaced whole by a merge patch, and the server fills defaults into list items
      // (protocol: TCP...), so a list is sent only when the configuration itself changed it.
      if (!deepEqual(v, original[k])) patch[k] = v;
    } else if (!deepEqual(v, cur)) patch[k] = v;
  }
  for (const k of Object.keys(original ?? {})) {
    if (!(k in modified) && k in current) patch[k] = null;
  }
  return patch;
}

function withLastApplied(obj: KubeObject): KubeObject {
  const copy = structuredClone(obj);
  const ann = { ...(copy.metadata.annotations ?? {}) };
  delete ann[LAST_APPLIED];
  // kubectl keeps an emptied annotations map in the recorded configuration: so do we, byte for byte.
  copy.metadata.annotations = ann;
  // As kubectl writes it (Go's json.Marshal of a map: keys sorted, compact, newline), so that real
  // kubectl and kubectl-lite agree on what was last applied.
  const config = JSON.stringify(sortKeys(copy)) + '\n';
  return { ...copy, metadata: { ...copy.metadata, annotations: { ...ann, [LAST_APPLIED]: config } } };
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (isPlain(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys(v[k])]),
    );
  return v;
}

export async function apply(ctx: Ctx): Promise<number> {
  const a = ctx.args;
  const serverSide = bool(a, 'server-side');
  const manager = flag(a, 'field-manager') ?? (serverSide ? 'kubectl' : 'kubectl-client-side-apply');
  let failed = 0;
  for (const m of await readManifests(a)) {
    try {
      const r = await ctx.discovery.forKind(m.obj.apiVersion!, m.obj.kind!);
      const ns = ctx.nsFor(r, m.obj);
      const name = m.obj.metadata?.name;
      if (!name)
        throw new CommandError(
          `error: error when retrieving current configuration of:\nResource: "${qualified(r)}", GroupVersionKind: "${m.obj.apiVersion}, Kind=${m.obj.kind}"\nfrom server for: "${m.source}": resource name may not be empty`,
        );
      const ref = objectRef(r, name);
      if (serverSide) {
        const res = await ctx.client.patch(r, name, JSON.stringify(m.obj), {
          namespace: ns,
          type: 'apply',
          fieldManager: manager,
          force: bool(a, 'force-conflicts'),
        });
        ctx.must(
          res,
          `error when applying patch:\n${JSON.stringify(m.obj)}\n\nto:\nResource: "${qualified(r)}", Name: "${name}", Namespace: "${ns ?? ''}"\nfor: "${m.source}"`,
        );
        ctx.out(`${ref} serverside-applied\n`);
        continue;
      }
      const current = await ctx.client.get<KubeObject>(r, name, ns);
      const desired = withLastApplied(m.obj);
      if (!current.ok && current.status.code === 404) {
        ctx.must(
          await ctx.client.create(r, desired, { namespace: ns, fieldManager: manager }),
          `error when creating "${m.source}"`,
        );
        ctx.out(`${ref} created\n`);
        continue;
      }
      const cur = ctx.must(current, `error when retrieving current configuration of "${m.source}"`);
      const lastText = cur.metadata.annotations?.[LAST_APPLIED];
      let original: Record<string, unknown> | undefined;
      try {
        original = lastText ? (JSON.parse(lastText) as Record<string, unknown>) : undefined;
      } catch {
        original = undefined;
      }
      const patch = threeWayMergePatch(
        original,
        desired as unknown as Record<string, unknown>,
        cur as unknown as Record<string, unknown>,
      );
      if (Object.keys(patch).length === 0) {
        ctx.out(`${ref} unchanged\n`);
        continue;
      }
      ctx.must(
        await ctx.client.patch(r, name, patch, { namespace: ns, type: 'merge', fieldManager: manager }),
        `error when applying patch:\n${JSON.stringify(patch)}\n\nto:\nResource: "${qualified(r)}", Name: "${name}", Namespace: "${ns ?? ''}"\nfor: "${m.source}"`,
      );
      ctx.out(`${ref} configured\n`);
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      ctx.err(err.message + '\n');
      failed++;
    }
  }
  return failed ? 1 : 0;
}

export async function createFromFiles(ctx: Ctx): Promise<number> {
  let failed = 0;
  for (const m of await readManifests(ctx.args)) {
    try {
      const r = await ctx.discovery.forKind(m.obj.apiVersion!, m.obj.kind!);
      const ns = ctx.nsFor(r, m.obj);
      const created = ctx.must(
        await ctx.client.create(r, m.obj, { namespace: ns, fieldManager: 'kubectl-create' }),
        `error when creating "${m.source}"`,
      );
      ctx.out(`${objectRef(r, created.metadata.name!)} created\n`);
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      ctx.err(err.message + '\n');
      failed++;
    }
  }
  return failed ? 1 : 0;
}

export function propagation(a: Args): 'Background' | 'Foreground' | 'Orphan' {
  const c = flag(a, 'cascade') ?? 'background';
  const map = {
    background: 'Background',
    foreground: 'Foreground',
    orphan: 'Orphan',
    true: 'Background',
    false: 'Orphan',
  } as const;
  const p = map[c as keyof typeof map];
  if (!p)
    throw new UsageError(
      `error: invalid cascade value (${c}). Must be "background", "foreground", or "orphan"`,
    );
  return p;
}

export async function deleteFromFiles(
  ctx: Ctx,
  del: (r: import('./discovery.js').ApiResource, name: string, ns?: string) => Promise<void>,
): Promise<number> {
  let failed = 0;
  for (const m of await readManifests(ctx.args)) {
    try {
      const r = await ctx.discovery.forKind(m.obj.apiVersion!, m.obj.kind!);
      await del(r, m.obj.metadata.name!, ctx.nsFor(r, m.obj));
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      ctx.err(err.message + '\n');
      failed++;
    }
  }
  return failed ? 1 : 0;
}

export { statusMessage };
