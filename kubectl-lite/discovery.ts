// Resource names through discovery (/api, /apis): plurals, singulars, kinds, short names and
// `<plural>.<group>`, as kubectl resolves them.
import type { KubeClient, ResourceType } from '../apimachinery/client.js';
import { CommandError, statusMessage } from './errors.js';

export interface ApiResource extends ResourceType {
  singular: string;
  shortNames: string[];
  verbs: string[];
}

interface APIResourceList {
  groupVersion: string;
  resources: {
    name: string;
    singularName?: string;
    namespaced: boolean;
    kind: string;
    shortNames?: string[];
    verbs?: string[];
  }[];
}

export class Discovery {
  private cache: ApiResource[] | undefined;
  constructor(private readonly client: KubeClient) {}

  async resources(): Promise<ApiResource[]> {
    if (this.cache) return this.cache;
    const get = async <T>(path: string): Promise<T> => {
      const r = await this.client.request<T>('GET', path);
      if (!r.ok) throw new CommandError(statusMessage(r.status, this.client.config.server));
      return r.value;
    };
    const lists: APIResourceList[] = [];
    const core = await get<{ versions: string[] }>('/api');
    for (const v of core.versions) lists.push(await get<APIResourceList>(`/api/${v}`));
    const groups = await get<{
      groups: {
        name: string;
        preferredVersion?: { groupVersion: string };
        versions: { groupVersion: string }[];
      }[];
    }>('/apis');
    for (const g of groups.groups) {
      const gv = g.preferredVersion?.groupVersion ?? g.versions[0]?.groupVersion;
      if (gv) lists.push(await get<APIResourceList>(`/apis/${gv}`));
    }
    const out: ApiResource[] = [];
    for (const l of lists) {
      const [group, version] = l.groupVersion.includes('/')
        ? l.groupVersion.split('/')
        : ['', l.groupVersion];
      for (const r of l.resources) {
        if (r.name.includes('/')) continue; // subresources
        out.push({
          group: group!,
          version: version!,
          resource: r.name,
          kind: r.kind,
          namespaced: r.namespaced,
          singular: r.singularName || r.kind.toLowerCase(),
          shortNames: r.shortNames ?? [],
          verbs: r.verbs ?? [],
        });
      }
    }
    return (this.cache = out);
  }

  /** The resource a user typed (`deploy`, `deployments.apps`, `Pod`...), or kubectl's error. */
  async resolve(name: string): Promise<ApiResource> {
    const all = await this.resources();
    const lower = name.toLowerCase();
    const dot = lower.indexOf('.');
    const [base, group] = dot > 0 ? [lower.slice(0, dot), lower.slice(dot + 1)] : [lower, undefined];
    const hit = all.find(
      (r) =>
        (group === undefined || r.group === group) &&
        (r.resource === base ||
          r.singular === base ||
          r.kind.toLowerCase() === base ||
          r.shortNames.includes(base)),
    );
    if (!hit) throw new CommandError(`error: the server doesn't have a resource type "${name}"`);
    return hit;
  }

  /** The resource for a manifest's apiVersion and kind. */
  async forKind(apiVersion: string, kind: string): Promise<ApiResource> {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
    const hit = (await this.resources()).find(
      (r) => r.group === group && r.version === version && r.kind === kind,
    );
    if (!hit)
      throw new CommandError(
        `error: resource mapping not found for kind "${kind}" in version "${apiVersion}"`,
      );
    return hit;
  }
}

/** kubectl's `<resource>.<group>` (core resources have no group). */
export function qualified(r: ResourceType): string {
  return r.group ? `${r.resource}.${r.group}` : r.resource;
}

/** kubectl's `<singular kind>.<group>/<name>` as printed by -o name and write commands. */
export function objectRef(r: ResourceType, name: string): string {
  const kind = r.kind.toLowerCase();
  return `${r.group ? `${kind}.${r.group}` : kind}/${name}`;
}
