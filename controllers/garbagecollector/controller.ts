// The garbage collector: follows ownerReferences. Dependents whose owners are all gone are deleted
// (background propagation); an owner deleted with foreground propagation keeps its foregroundDeletion
// finalizer until its blocking dependents are gone; one deleted with orphan propagation has its
// dependents' ownerReferences removed, then its orphan finalizer.
import {
  FINALIZER_FOREGROUND,
  FINALIZER_ORPHAN,
  type KubeObject,
  type OwnerReference,
} from '../../apimachinery/index.js';
import {
  isConflict,
  isNotFound,
  Resources,
  resourceForOwner,
  type ResourceType,
} from '../../apimachinery/client.js';
import type { Logger } from '../../common/index.js';
import type { Controller, ControllerContext } from '../context.js';
import { OwnerIndex, type Informer } from '../informer.js';
import { WorkQueue, runWorkers } from '../workqueue.js';

/** The resources whose objects the collector tracks as owners and dependents. */
export const GC_RESOURCES: ResourceType[] = [
  Resources.deployments,
  Resources.replicasets,
  Resources.pods,
  Resources.services,
  Resources.endpoints,
  Resources.configmaps,
  Resources.secrets,
];

interface NodeRef {
  informer: Informer<KubeObject>;
  namespace?: string;
  name: string;
}

/** Owners verified absent with the API server (uid), so we do not ask again for every dependent. */
const MAX_ABSENT = 10_000;

export class GarbageCollector implements Controller {
  readonly name = 'garbagecollector';
  readonly queue = new WorkQueue<string>();
  private readonly informers: Informer<KubeObject>[] = [];
  /** uid -> where the object lives in our caches: the ownership graph's nodes. */
  private readonly nodes = new Map<string, NodeRef>();
  private readonly absent = new Set<string>();
  private readonly log: Logger;

  constructor(
    private readonly ctx: ControllerContext,
    resources: ResourceType[] = GC_RESOURCES,
  ) {
    this.log = ctx.logger.child(this.name);
    for (const r of resources) {
      const inf = ctx.informers.informerFor<KubeObject>(r);
      this.informers.push(inf);
      inf.addEventHandlers({
        onAdd: (o) => this.observe(inf, o, undefined),
        onUpdate: (old, o) => this.observe(inf, o, old),
        onDelete: (o) => this.forget(o),
      });
    }
  }

  run(workers: number): Promise<void> {
    return runWorkers(
      this.queue,
      workers,
      (uid) => this.sync(uid),
      (uid, err) => this.log.warn('sync failed', { uid, error: String((err as Error)?.message ?? err) }),
    );
  }

  stop(): void {
    this.queue.shutDown();
  }

  private observe(informer: Informer<KubeObject>, o: KubeObject, old: KubeObject | undefined): void {
    const uid = o.metadata.uid;
    if (!uid) return;
    this.nodes.set(uid, { informer, namespace: o.metadata.namespace, name: o.metadata.name! });
    if (old && old.metadata.resourceVersion === o.metadata.resourceVersion) {
      // Periodic resync: re-check only objects that are waiting on us.
      if (o.metadata.ownerReferences?.length || o.metadata.deletionTimestamp) this.queue.add(uid);
      return;
    }
    if (o.metadata.ownerReferences?.length || hasGCFinalizer(o)) this.queue.add(uid);
    // An owner waiting for its dependents must look again when one stops pointing at it.
    for (const ref of old?.metadata.ownerReferences ?? []) {
      if (!o.metadata.ownerReferences?.some((r) => r.uid === ref.uid)) this.queue.add(ref.uid);
    }
    if (o.metadata.deletionTimestamp)
      for (const ref of o.metadata.ownerReferences ?? []) this.queue.add(ref.uid);
  }

  private forget(o: KubeObject): void {
    const uid = o.metadata.uid;
    if (!uid) return;
    this.nodes.delete(uid);
    this.rememberAbsent(uid);
    for (const d of this.dependents(uid)) this.queue.add(d.metadata.uid!);
    for (const ref of o.metadata.ownerReferences ?? []) this.queue.add(ref.uid);
  }

  private rememberAbsent(uid: string): void {
    if (this.absent.size >= MAX_ABSENT) this.absent.delete(this.absent.values().next().value as string);
    this.absent.add(uid);
  }

  private dependents(uid: string): KubeObject[] {
    return this.informers.flatMap((i) => i.byIndex(OwnerIndex, uid));
  }

  private lookup(uid: string): { obj: KubeObject; informer: Informer<KubeObject> } | undefined {
    const n = this.nodes.get(uid);
    if (!n) return undefined;
    const obj = n.informer.getByName(n.name, n.namespace);
    return obj && obj.metadata.uid === uid ? { obj, informer: n.informer } : undefined;
  }

  async sync(uid: string): Promise<void> {
    const found = this.lookup(uid);
    if (!found) return;
    const { obj, informer } = found;
    const finalizers = obj.metadata.finalizers ?? [];
    if (obj.metadata.deletionTimestamp && finalizers.includes(FINALIZER_ORPHAN)) {
      await this.orphanDependents(obj);
      await this.removeFinalizer(informer.resource, obj, FINALIZER_ORPHAN);
      return;
    }
    if (obj.metadata.deletionTimestamp && finalizers.includes(FINALIZER_FOREGROUND)) {
      const deps = this.dependents(uid);
      for (const d of deps) {
        if (d.metadata.deletionTimestamp) continue;
        const r = this.resourceOf(d);
        if (r) await this.deleteObject(r, d, 'Foreground');
      }
      const blocking = deps.filter((d) =>
        d.metadata.ownerReferences?.some((r) => r.uid === uid && r.blockOwnerDeletion),
      );
      if (blocking.length === 0) await this.removeFinalizer(informer.resource, obj, FINALIZER_FOREGROUND);
      return;
    }
    const refs = obj.metadata.ownerReferences ?? [];
    if (refs.length === 0) return;
    const solid: OwnerReference[] = [];
    const dangling: OwnerReference[] = [];
    const waiting: OwnerReference[] = [];
    for (const ref of refs) {
      const state = await this.ownerState(ref, obj.metadata.namespace);
      if (state === 'absent') dangling.push(ref);
      else if (state === 'deleting-foreground') waiting.push(ref);
      else solid.push(ref);
    }
    if (solid.length > 0) {
      if (dangling.length === 0) return;
      // Some owner still holds it: only drop the references to owners that are gone.
      const keep = refs.filter((r) => !dangling.includes(r));
      const res = await this.ctx.client.update(informer.resource, {
        ...obj,
        metadata: { ...obj.metadata, ownerReferences: keep },
      });
      if (!res.ok && !isNotFound(res) && !isConflict(res))
        throw new Error(`removing dangling owner refs: ${res.status.message}`);
      return;
    }
    if (obj.metadata.deletionTimestamp) return; // already on its way
    if (waiting.length > 0) {
      await this.deleteObject(informer.resource, obj, 'Foreground');
      return;
    }
    this.log.info('deleting object whose owners are gone', {
      kind: informer.resource.kind,
      namespace: obj.metadata.namespace,
      name: obj.metadata.name,
    });
    await this.deleteObject(informer.resource, obj, 'Background');
  }

  private async ownerState(
    ref: OwnerReference,
    namespace: string | undefined,
  ): Promise<'present' | 'absent' | 'deleting-foreground'> {
    const cached = this.lookup(ref.uid);
    if (cached) {
      const o = cached.obj;
      return o.metadata.deletionTimestamp && o.metadata.finalizers?.includes(FINALIZER_FOREGROUND)
        ? 'deleting-foreground'
        : 'present';
    }
    if (this.absent.has(ref.uid)) return 'absent';
    const r = resourceForOwner(ref.apiVersion, ref.kind);
    if (!r) return 'present'; // a kind we cannot check is never presumed gone
    const got = await this.ctx.client.get(r, ref.name, r.namespaced ? namespace : undefined);
    if (!got.ok) {
      if (isNotFound(got)) {
        this.rememberAbsent(ref.uid);
        return 'absent';
      }
      throw new Error(`looking up owner ${ref.kind}/${ref.name}: ${got.status.message}`);
    }
    if (got.value.metadata.uid !== ref.uid) {
      this.rememberAbsent(ref.uid);
      return 'absent';
    }
    const o = got.value;
    return o.metadata.deletionTimestamp && o.metadata.finalizers?.includes(FINALIZER_FOREGROUND)
      ? 'deleting-foreground'
      : 'present';
  }

  private async orphanDependents(owner: KubeObject): Promise<void> {
    const uid = owner.metadata.uid!;
    for (const d of this.dependents(uid)) {
      const r = this.resourceOf(d);
      if (!r) continue;
      const refs = (d.metadata.ownerReferences ?? []).filter((x) => x.uid !== uid);
      const res = await this.ctx.client.update(r, {
        ...d,
        metadata: { ...d.metadata, ownerReferences: refs.length ? refs : undefined },
      });
      if (!res.ok && !isNotFound(res))
        throw new Error(`orphaning ${r.kind} ${d.metadata.name}: ${res.status.message}`);
    }
  }

  private async removeFinalizer(r: ResourceType, obj: KubeObject, finalizer: string): Promise<void> {
    const finalizers = (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    const res = await this.ctx.client.update(r, { ...obj, metadata: { ...obj.metadata, finalizers } });
    if (!res.ok && !isNotFound(res))
      throw new Error(`removing finalizer ${finalizer}: ${res.status.message}`);
    if (res.ok)
      this.log.info(`removed ${finalizer} finalizer`, {
        kind: r.kind,
        namespace: obj.metadata.namespace,
        name: obj.metadata.name,
      });
  }

  private async deleteObject(
    r: ResourceType,
    obj: KubeObject,
    policy: 'Background' | 'Foreground',
  ): Promise<void> {
    const res = await this.ctx.client.delete(r, obj.metadata.name!, {
      namespace: obj.metadata.namespace,
      propagationPolicy: policy,
      preconditions: { uid: obj.metadata.uid },
    });
    if (!res.ok && !isNotFound(res) && !isConflict(res))
      throw new Error(`deleting ${r.kind} ${obj.metadata.name}: ${res.status.message}`);
  }

  private resourceOf(obj: KubeObject): ResourceType | undefined {
    return this.nodes.get(obj.metadata.uid!)?.informer.resource;
  }
}

function hasGCFinalizer(o: KubeObject): boolean {
  const f = o.metadata.finalizers ?? [];
  return f.includes(FINALIZER_ORPHAN) || f.includes(FINALIZER_FOREGROUND);
}
