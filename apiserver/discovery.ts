// Discovery (/api, /apis, /api/v1, /apis/<group>/<version>, /version) and OpenAPI v2/v3 documents, all
// derived from the resource table and the one set of schemas in schemas.ts.
import { createHash } from 'node:crypto';
import { RESOURCES, apiVersionOf, type ResourceInfo } from '../apimachinery/index.js';
import { DEFINITIONS, KIND_DEFINITIONS, definitionFor, type JSONSchema } from './schemas.js';

export const KUBE_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-ekl',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'node' + process.versions.node,
  compiler: 'tsc',
  platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
};

export function groupVersions(): { group: string; version: string }[] {
  const seen = new Map<string, { group: string; version: string }>();
  for (const r of RESOURCES) seen.set(`${r.group}/${r.version}`, { group: r.group, version: r.version });
  return [...seen.values()];
}

export function apiVersions(serverAddress: string): unknown {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

export function apiGroupList(): unknown {
  const groups = groupVersions()
    .filter((gv) => gv.group !== '')
    .map((gv) => ({
      name: gv.group,
      versions: [{ groupVersion: `${gv.group}/${gv.version}`, version: gv.version }],
      preferredVersion: { groupVersion: `${gv.group}/${gv.version}`, version: gv.version },
    }));
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function apiGroup(group: string): unknown | undefined {
  const gv = groupVersions().find((g) => g.group === group);
  if (!gv) return undefined;
  const v = { groupVersion: `${gv.group}/${gv.version}`, version: gv.version };
  return { kind: 'APIGroup', apiVersion: 'v1', name: group, versions: [v], preferredVersion: v };
}

/**
 * What discovery says of each subresource: the kind it takes or returns (another group's, for scale and
 * eviction) and its verbs, as Kubernetes lists them. Absent here: the resource's own kind, get/patch/update.
 */
const SUBRESOURCES: Record<string, { group?: string; version?: string; kind?: string; verbs: string[] }> = {
  scale: { group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] },
  binding: { group: '', version: 'v1', kind: 'Binding', verbs: ['create'] },
  eviction: { group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] },
  finalize: { verbs: ['update'] },
  log: { verbs: ['get'] },
  exec: { kind: 'PodExecOptions', verbs: ['create', 'get'] },
  attach: { kind: 'PodAttachOptions', verbs: ['create', 'get'] },
  portforward: { kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
};

function subresourceKind(r: ResourceInfo, sub: string): { group: string; version: string; kind: string } {
  const d = SUBRESOURCES[sub];
  return { group: d?.group ?? r.group, version: d?.version ?? r.version, kind: d?.kind ?? r.kind };
}

const subresourceVerbs = (sub: string): string[] => SUBRESOURCES[sub]?.verbs ?? ['get', 'patch', 'update'];

function subresourceEntry(r: ResourceInfo, sub: string): unknown {
  const k = subresourceKind(r, sub);
  return {
    name: `${r.resource}/${sub}`,
    singularName: '',
    namespaced: r.namespaced,
    // group and version only when they differ from the list's own (as Kubernetes writes them).
    ...(k.group !== r.group || k.version !== r.version ? { group: k.group, version: k.version } : {}),
    kind: k.kind,
    verbs: subresourceVerbs(sub),
  };
}

export function apiResourceList(group: string, version: string): unknown | undefined {
  const rs = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (!rs.length) return undefined;
  const resources: unknown[] = [];
  for (const r of rs) {
    resources.push({
      name: r.resource,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
      ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
      ...(r.categories.length ? { categories: r.categories } : {}),
      storageVersionHash: createHash('sha256')
        .update(`${r.group}/${r.version}/${r.kind}`)
        .digest('base64')
        .slice(0, 11),
    });
    for (const s of r.subresources) resources.push(subresourceEntry(r, s));
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf(group, version), resources };
}

// ---- aggregated discovery (apidiscovery.k8s.io/v2) ------------------------------------------------

export const AGGREGATED_DISCOVERY_TYPE =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

/** Whether the Accept header prefers aggregated discovery v2 (what kubectl 1.32 asks for first). */
export function wantsAggregated(accept: string | undefined): boolean {
  if (!accept) return false;
  const first = accept.split(',')[0].replace(/\s+/g, '');
  return (
    /g=apidiscovery\.k8s\.io/.test(first) && /v=v2(;|$)/.test(first) && /as=APIGroupDiscoveryList/.test(first)
  );
}

function subresourceDiscovery(r: ResourceInfo, sub: string): unknown {
  return { subresource: sub, responseKind: subresourceKind(r, sub), verbs: subresourceVerbs(sub) };
}

/** /api (the core group only) or /apis (every named group) as one APIGroupDiscoveryList. */
export function aggregatedDiscovery(core: boolean): unknown {
  const items = groupVersions()
    .filter((gv) => (gv.group === '') === core)
    .map((gv) => ({
      metadata: { name: gv.group, creationTimestamp: null },
      versions: [
        {
          version: gv.version,
          resources: RESOURCES.filter((r) => r.group === gv.group && r.version === gv.version).map((r) => ({
            resource: r.resource,
            responseKind: { group: r.group, version: r.version, kind: r.kind },
            scope: r.namespaced ? 'Namespaced' : 'Cluster',
            singularResource: r.singular,
            verbs: r.verbs,
            ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
            ...(r.categories.length ? { categories: r.categories } : {}),
            ...(r.subresources.length
              ? { subresources: r.subresources.map((sub) => subresourceDiscovery(r, sub)) }
              : {}),
          })),
          freshness: 'Current',
        },
      ],
    }));
  return { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items };
}

// ---- OpenAPI ------------------------------------------------------------------------------------

function rewriteRefs(v: unknown, to: string): unknown {
  if (Array.isArray(v)) return v.map((x) => rewriteRefs(x, to));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v))
      out[k] = k === '$ref' && typeof x === 'string' ? x.replace('#/definitions/', to) : rewriteRefs(x, to);
    return out;
  }
  return v;
}

/** Drops keys OpenAPI v2 does not allow (nullable, anyOf of int-or-string). */
function toV2(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toV2);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) {
      if (k === 'nullable') continue;
      if (k === 'anyOf' && o['x-kubernetes-int-or-string']) {
        out.format = 'int-or-string';
        out.type = 'string';
        continue;
      }
      out[k] = toV2(x);
    }
    return out;
  }
  return v;
}

const COMMON_WRITE_PARAMS = [
  {
    name: 'dryRun',
    in: 'query',
    description: 'When present, indicates that modifications should not be persisted.',
    schema: { type: 'string', uniqueItems: true },
  },
  {
    name: 'fieldManager',
    in: 'query',
    description: 'fieldManager is a name associated with the actor or entity that is making these changes.',
    schema: { type: 'string', uniqueItems: true },
  },
  {
    name: 'fieldValidation',
    in: 'query',
    description:
      'fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields (Ignore, Warn, Strict).',
    schema: { type: 'string', uniqueItems: true },
  },
];

function ref3(def: string): unknown {
  return { $ref: `#/components/schemas/${def}` };
}

function pathsFor(group: string, version: string, v3: boolean): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
  for (const r of RESOURCES.filter((x) => x.group === group && x.version === version)) {
    const def = definitionFor(r.group, r.kind)!;
    const gvk = { group: r.group, version: r.version, kind: r.kind };
    const coll = r.namespaced ? `${base}/namespaces/{namespace}/${r.resource}` : `${base}/${r.resource}`;
    const item = `${coll}/{name}`;
    const body = v3 ? { requestBody: { content: { '*/*': { schema: ref3(def) } }, required: true } } : {};
    const resp = (code: string): unknown => ({
      [code]: v3
        ? { description: 'OK', content: { 'application/json': { schema: ref3(def) } } }
        : { description: 'OK', schema: { $ref: `#/definitions/${def}` } },
    });
    const params = v3
      ? COMMON_WRITE_PARAMS
      : COMMON_WRITE_PARAMS.map(({ schema, ...p }) => ({ ...p, type: (schema as JSONSchema).type }));
    const op = (verb: string, action: string, extra: Record<string, unknown> = {}): unknown => ({
      description: `${verb} ${r.kind}`,
      operationId: `${action}${r.kind}`,
      tags: [group ? `${group.split('.')[0]}_${version}` : `core_${version}`],
      'x-kubernetes-action': action,
      'x-kubernetes-group-version-kind': gvk,
      ...extra,
    });
    paths[coll] = {
      get: op('list or watch objects of kind', 'list', { responses: resp('200') }),
      post: op('create a', 'post', { ...body, parameters: params, responses: resp('201') }),
    };
    paths[item] = {
      get: op('read the specified', 'get', { responses: resp('200') }),
      put: op('replace the specified', 'put', { ...body, parameters: params, responses: resp('200') }),
      patch: op('partially update the specified', 'patch', {
        ...(v3
          ? {
              requestBody: {
                content: {
                  'application/json-patch+json': { schema: { type: 'object' } },
                  'application/merge-patch+json': { schema: { type: 'object' } },
                  'application/strategic-merge-patch+json': { schema: { type: 'object' } },
                  'application/apply-patch+yaml': { schema: { type: 'object' } },
                },
                required: true,
              },
            }
          : {}),
        parameters: [
          ...params,
          v3
            ? { name: 'force', in: 'query', schema: { type: 'boolean', uniqueItems: true } }
            : { name: 'force', in: 'query', type: 'boolean' },
        ],
        responses: resp('200'),
      }),
      delete: op('delete a', 'delete', { responses: resp('200') }),
    };
  }
  return paths;
}

let v2Cache: string | null = null;
export function openAPIV2(): string {
  if (!v2Cache) {
    const paths: Record<string, unknown> = {};
    for (const gv of groupVersions()) Object.assign(paths, pathsFor(gv.group, gv.version, false));
    v2Cache = JSON.stringify({
      swagger: '2.0',
      info: { title: 'Kubernetes', version: KUBE_VERSION.gitVersion },
      paths,
      definitions: toV2(DEFINITIONS),
    });
  }
  return v2Cache;
}

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

const v3Cache = new Map<string, { body: string; hash: string }>();
export function openAPIV3Doc(path: string): { body: string; hash: string } | undefined {
  const hit = v3Cache.get(path);
  if (hit) return hit;
  const gv = groupVersions().find((g) => gvPath(g.group, g.version) === path);
  // autoscaling/v1 only holds the Scale schema, referenced from the scale subresources.
  const isAutoscaling = path === 'apis/autoscaling/v1';
  if (!gv && !isAutoscaling) return undefined;
  const schemas = rewriteRefs(DEFINITIONS, '#/components/schemas/') as Record<string, unknown>;
  const doc = {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: KUBE_VERSION.gitVersion },
    paths: gv ? pathsFor(gv.group, gv.version, true) : {},
    components: { schemas },
  };
  const body = JSON.stringify(doc);
  const out = { body, hash: createHash('sha512').update(body).digest('hex').toUpperCase() };
  v3Cache.set(path, out);
  return out;
}

export function openAPIV3Root(): unknown {
  const paths: Record<string, unknown> = {};
  const all = [...groupVersions().map((g) => gvPath(g.group, g.version)), 'apis/autoscaling/v1'];
  for (const p of all) paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${openAPIV3Doc(p)!.hash}` };
  return { paths };
}

export { KIND_DEFINITIONS };
