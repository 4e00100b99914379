// The Kubernetes side of the dashboard: list-then-watch reflectors for Deployments, ReplicaSets, Pods,
// Nodes and node Leases through the API server, each object reduced to the few fields the page draws.
import { KubeClient, isGone, type ResourceType } from '../apimachinery/client.js';
import { Resources } from '../apimachinery/client.js';
import type { KubeObject, Node, Pod, Status } from '../apimachinery/index.js';
import type { Logger } from '../common/index.js';

export type WorkloadKind = 'deployments' | 'replicasets' | 'pods' | 'nodes' | 'leases';

export interface DeploymentView {
  id: string;
  ns: string;
  name: string;
  replicas: number;
  updated: number;
  ready: number;
  available: number;
}
export interface ReplicaSetView {
  id: string;
  ns: string;
  name: string;
  owner?: string;
  replicas: number;
  ready: number;
  revision?: string;
}
export interface PodView {
  id: string;
  ns: string;
  name: string;
  owner?: string;
  node?: string;
  phase: string;
  ready: boolean;
  deleting: boolean;
}
export interface NodeView {
  id: string;
  name: string;
  /** The Ready condition's status: True, False or Unknown (the node lifecycle controller sets Unknown). */
  ready: string;
  reason?: string;
  unschedulable: boolean;
  pods?: string;
}
export interface LeaseView {
  id: string;
  name: string;
  /** renewTime in ms since epoch. */
  renew?: number;
  durationSeconds?: number;
}
export type View = DeploymentView | ReplicaSetView | PodView | NodeView | LeaseView;

const KINDS: { kind: WorkloadKind; type: ResourceType; namespace?: string }[] = [
  { kind: 'deployments', type: Resources.deployments },
  { kind: 'replicasets', type: Resources.replicasets },
  { kind: 'pods', type: Resources.pods },
  { kind: 'nodes', type: Resources.nodes },
  { kind: 'leases', type: Resources.leases, namespace: 'kube-node-lease' },
];

/** Largest number of objects of one kind the dashboard follows: a bound, far above a demo cluster. */
const MAX_OBJECTS = 50_000;

export interface KubeFeedListener {
  upsert(kind: WorkloadKind, v: View): void;
  remove(kind: WorkloadKind, id: string): void;
  /** A kind was re-listed: the page should drop what it has of it. */
  reset(kind: WorkloadKind): void;
}

export class KubeFeed {
  readonly objects: Record<WorkloadKind, Map<string, View>> = {
    deployments: new Map(),
    replicasets: new Map(),
    pods: new Map(),
    nodes: new Map(),
    leases: new Map(),
  };
  readonly synced: Record<WorkloadKind, boolean> = {
    deployments: false,
    replicasets: false,
    pods: false,
    nodes: false,
    leases: false,
  };
  lastError: string | undefined;
  private readonly abort = new AbortController();
  private readonly closers = new Set<() => void>();

  constructor(
    private readonly client: KubeClient,
    private readonly log: Logger,
    private readonly listener: KubeFeedListener,
  ) {}

  start(): void {
    for (const k of KINDS) void this.reflect(k.kind, k.type, k.namespace);
  }

  stop(): void {
    this.abort.abort();
    for (const c of this.closers) c();
  }

  /** List, then watch from the list's resourceVersion; on 410 Gone re-list, on a dropped stream re-watch. */
  private async reflect(kind: WorkloadKind, type: ResourceType, namespace?: string): Promise<void> {
    let rv: string | undefined;
    let failures = 0;
    const backoff = () =>
      new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** Math.min(failures++, 5))));
    while (!this.abort.signal.aborted) {
      if (rv === undefined) {
        const l = await this.client.listAll<KubeObject>(type, { namespace });
        if (!l.ok) {
          this.noteError(kind, l.status);
          await backoff();
          continue;
        }
        const map = this.objects[kind];
        map.clear();
        this.listener.reset(kind);
        for (const o of l.value.items.slice(0, MAX_OBJECTS)) this.apply(kind, 'ADDED', o);
        rv = l.value.metadata.resourceVersion;
        this.synced[kind] = true;
      }
      const w = await this.client.watch<KubeObject>(type, {
        namespace,
        resourceVersion: rv,
        allowWatchBookmarks: true,
        signal: this.abort.signal,
      });
      if (!w.ok) {
        if (isGone(w)) rv = undefined;
        this.noteError(kind, w.status);
        await backoff();
        continue;
      }
      failures = 0;
      const close = () => w.value.close();
      this.closers.add(close);
      try {
        for await (const ev of w.value) {
          if (ev.type === 'ERROR') {
            const st = ev.object as Status;
            if (st.code === 410) rv = undefined;
            this.noteError(kind, st);
            break;
          }
          const o = ev.object as KubeObject;
          if (o.metadata?.resourceVersion) rv = o.metadata.resourceVersion;
          if (ev.type !== 'BOOKMARK') this.apply(kind, ev.type, o);
        }
      } finally {
        this.closers.delete(close);
      }
    }
  }

  private noteError(kind: WorkloadKind, st: Status): void {
    this.lastError = `${kind}: ${st.code} ${st.message ?? ''}`;
    if (!this.abort.signal.aborted)
      this.log.debug('watch interrupted', { kind, code: st.code, message: st.message });
  }

  private apply(kind: WorkloadKind, type: string, o: KubeObject): void {
    const id = o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : String(o.metadata.name);
    const map = this.objects[kind];
    if (type === 'DELETED') {
      if (map.delete(id)) this.listener.remove(kind, id);
      return;
    }
    if (!map.has(id) && map.size >= MAX_OBJECTS) return;
    const v = view(kind, id, o);
    map.set(id, v);
    this.listener.upsert(kind, v);
  }
}

function controllerOf(o: KubeObject): string | undefined {
  const ref = o.metadata.ownerReferences?.find((r) => r.controller) ?? o.metadata.ownerReferences?.[0];
  return ref ? `${o.metadata.namespace}/${ref.name}` : undefined;
}

function num(x: unknown): number {
  return typeof x === 'number' ? x : 0;
}

export function view(kind: WorkloadKind, id: string, o: KubeObject): View {
  const ns = o.metadata.namespace ?? '';
  const name = o.metadata.name ?? '';
  const spec = (o.spec ?? {}) as Record<string, unknown>;
  const status = (o.status ?? {}) as Record<string, unknown>;
  switch (kind) {
    case 'deployments':
      return {
        id,
        ns,
        name,
        replicas: typeof spec.replicas === 'number' ? spec.replicas : 1,
        updated: num(status.updatedReplicas),
        ready: num(status.readyReplicas),
        available: num(status.availableReplicas),
      };
    case 'replicasets':
      return {
        id,
        ns,
        name,
        owner: controllerOf(o),
        replicas: typeof spec.replicas === 'number' ? spec.replicas : 1,
        ready: num(status.readyReplicas),
        revision: o.metadata.annotations?.['deployment.kubernetes.io/revision'],
      };
    case 'pods': {
      const p = o as Pod;
      return {
        id,
        ns,
        name,
        owner: controllerOf(o),
        node: p.spec?.nodeName,
        phase: p.status?.phase ?? 'Pending',
        ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
        deleting: !!o.metadata.deletionTimestamp,
      };
    }
    case 'nodes': {
      const n = o as Node;
      const c = n.status?.conditions?.find((x) => x.type === 'Ready');
      return {
        id,
        name,
        ready: c?.status ?? 'Unknown',
        reason: c?.reason,
        unschedulable: !!n.spec?.unschedulable,
        pods: n.status?.allocatable?.pods,
      };
    }
    case 'leases': {
      const renew = spec.renewTime ? Date.parse(String(spec.renewTime)) : undefined;
      return {
        id,
        name,
        renew: Number.isFinite(renew) ? renew : undefined,
        durationSeconds:
          typeof spec.leaseDurationSeconds === 'number' ? spec.leaseDurationSeconds : undefined,
      };
    }
  }
}
