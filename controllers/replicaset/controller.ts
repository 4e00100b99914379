// The ReplicaSet controller: keeps spec.replicas active pods matching the selector, owned through a
// controller ownerReference; adopts matching orphans, releases pods that stop matching, and reports
// replicas/fullyLabeledReplicas/readyReplicas/availableReplicas in status.
import {
  controllerRef,
  selectorFromLabelSelector,
  type OwnerReference,
  type Pod,
  type ReplicaSet,
  type ReplicaSetStatus,
  type Selector,
} from '../../apimachinery/index.js';
import { isConflict, isNotFound, Resources } from '../../apimachinery/client.js';
import type { Logger } from '../../common/index.js';
import type { Controller, ControllerContext } from '../context.js';
import { mapLimit } from '../context.js';
import { Expectations } from '../expectations.js';
import { keyOf, NamespaceIndex, type Informer } from '../informer.js';
import { compareForDeletion, isPodActive, isPodAvailable, isPodReady, msUntilAvailable } from '../podutil.js';
import { WorkQueue, runWorkers } from '../workqueue.js';

export interface ReplicaSetOptions {
  /** Most pods created or deleted in one sync (Kubernetes' burstReplicas). */
  burstReplicas?: number;
  /** Parallel API calls within one slow-start batch. */
  concurrency?: number;
}

/** Slow start: batches of 1, 2, 4, ... so a failing create (quota, bad template) fails fast and cheap. */
export async function slowStartBatch(
  count: number,
  initial: number,
  fn: (i: number) => Promise<void>,
  limit = 64,
): Promise<{ done: number; error?: unknown }> {
  let done = 0;
  let batch = Math.min(count, initial);
  while (batch > 0) {
    const results = await mapLimit(
      Array.from({ length: batch }, (_, i) => done + i),
      limit,
      async (i) => {
        try {
          await fn(i);
          return undefined;
        } catch (err) {
          return { err };
        }
      },
    );
    const failed = results.find((r) => r !== undefined);
    const ok = results.filter((r) => r === undefined).length;
    done += ok;
    if (failed) return { done, error: failed.err };
    batch = Math.min(2 * batch, count - done);
  }
  return { done };
}

export class ReplicaSetController implements Controller {
  readonly name = 'replicaset';
  readonly queue = new WorkQueue<string>();
  readonly expectations = new Expectations();
  private readonly rsInformer: Informer<ReplicaSet>;
  private readonly podInformer: Informer<Pod>;
  private readonly log: Logger;
  private readonly burst: number;
  private readonly concurrency: number;

  constructor(
    private readonly ctx: ControllerContext,
    opts: ReplicaSetOptions = {},
  ) {
    this.log = ctx.logger.child(this.name);
    this.burst = opts.burstReplicas ?? 500;
    this.concurrency = opts.concurrency ?? 32;
    this.rsInformer = ctx.informers.informerFor<ReplicaSet>(Resources.replicasets);
    this.podInformer = ctx.informers.informerFor<Pod>(Resources.pods);
    this.rsInformer.addEventHandlers({
      onAdd: (rs) => this.queue.add(keyOf(rs)),
      onUpdate: (_o, rs) => this.queue.add(keyOf(rs)),
      onDelete: (rs) => {
        this.expectations.delete(keyOf(rs));
        this.queue.add(keyOf(rs));
      },
    });
    this.podInformer.addEventHandlers({
      onAdd: (p) => this.podAdded(p),
      onUpdate: (o, p) => this.podUpdated(o, p),
      onDelete: (p) => this.podDeleted(p),
    });
  }

  run(workers: number): Promise<void> {
    return runWorkers(
      this.queue,
      workers,
      (k) => this.sync(k),
      (k, err) =>
        this.log.warn('sync failed', { replicaset: k, error: String((err as Error)?.message ?? err) }),
    );
  }

  stop(): void {
    this.queue.shutDown();
  }

  /** The ReplicaSet a controllerRef points at, if it is one we know (uid must match). */
  private resolveRef(namespace: string | undefined, ref: OwnerReference | undefined): ReplicaSet | undefined {
    if (!ref || ref.kind !== 'ReplicaSet') return undefined;
    const rs = this.rsInformer.getByName(ref.name, namespace);
    return rs && rs.metadata.uid === ref.uid ? rs : undefined;
  }

  private matchingReplicaSets(pod: Pod): ReplicaSet[] {
    return this.rsInformer
      .byIndex(NamespaceIndex, pod.metadata.namespace ?? '')
      .filter((rs) => selectorOf(rs).matches(pod.metadata.labels));
  }

  private podAdded(pod: Pod): void {
    if (pod.metadata.deletionTimestamp) {
      this.podDeleted(pod);
      return;
    }
    const rs = this.resolveRef(pod.metadata.namespace, controllerRef(pod));
    if (rs) {
      this.expectations.creationObserved(keyOf(rs));
      this.queue.add(keyOf(rs));
      return;
    }
    if (!controllerRef(pod)) for (const r of this.matchingReplicaSets(pod)) this.queue.add(keyOf(r));
  }

  private podUpdated(old: Pod, pod: Pod): void {
    if (old.metadata.resourceVersion === pod.metadata.resourceVersion) return;
    const oldRef = controllerRef(old);
    const ref = controllerRef(pod);
    if (pod.metadata.deletionTimestamp && !old.metadata.deletionTimestamp) {
      // Graceful deletion started: the pod no longer counts, so the owner may act at once.
      const rs = this.resolveRef(pod.metadata.namespace, ref);
      if (rs) this.expectations.deletionObserved(keyOf(rs), keyOf(pod));
    }
    if (oldRef && oldRef.uid !== ref?.uid) {
      const o = this.resolveRef(old.metadata.namespace, oldRef);
      if (o) this.queue.add(keyOf(o));
    }
    const rs = this.resolveRef(pod.metadata.namespace, ref);
    if (rs) {
      this.queue.add(keyOf(rs));
      const wait = msUntilAvailable(pod, rs.spec.minReadySeconds ?? 0, Date.now());
      if (wait !== undefined) this.queue.addAfter(keyOf(rs), wait + 10);
      return;
    }
    if (!ref && (labelsChanged(old, pod) || oldRef)) {
      for (const r of this.matchingReplicaSets(pod)) this.queue.add(keyOf(r));
    }
  }

  private podDeleted(pod: Pod): void {
    const rs = this.resolveRef(pod.metadata.namespace, controllerRef(pod));
    if (!rs) return;
    this.expectations.deletionObserved(keyOf(rs), keyOf(pod));
    this.queue.add(keyOf(rs));
  }

  async sync(key: string): Promise<void> {
    const rs = this.rsInformer.get(key);
    if (!rs) {
      this.expectations.delete(key);
      return;
    }
    const selector = selectorOf(rs);
    const needsSync = this.expectations.satisfied(key);
    const pods = this.podInformer.byIndex(NamespaceIndex, rs.metadata.namespace ?? '').filter(isPodActive);
    const claimed = await this.claimPods(rs, selector, pods);
    let manageError: unknown;
    if (needsSync && !rs.metadata.deletionTimestamp) {
      try {
        await this.manageReplicas(key, rs, claimed);
      } catch (err) {
        manageError = err;
      }
    }
    await this.updateStatus(rs, claimed);
    if (manageError) throw manageError;
  }

  /** Adopts matching orphans, releases owned pods that no longer match; returns the pods this RS owns. */
  private async claimPods(rs: ReplicaSet, selector: Selector, pods: Pod[]): Promise<Pod[]> {
    const owned: Pod[] = [];
    const uid = rs.metadata.uid!;
    for (const pod of pods) {
      const ref = controllerRef(pod);
      const matches = selector.matches(pod.metadata.labels);
      if (ref) {
        if (ref.uid !== uid) continue;
        if (matches) owned.push(pod);
        else if (!rs.metadata.deletionTimestamp) await this.release(rs, pod);
        continue;
      }
      if (!matches || rs.metadata.deletionTimestamp || pod.metadata.deletionTimestamp) continue;
      if (await this.adopt(rs, pod)) owned.push(pod);
    }
    return owned;
  }

  private async adopt(rs: ReplicaSet, pod: Pod): Promise<boolean> {
    // Check with the API server (not the cache) that the RS is still there and not being deleted.
    const fresh = await this.ctx.client.get<ReplicaSet>(
      Resources.replicasets,
      rs.metadata.name!,
      rs.metadata.namespace,
    );
    if (!fresh.ok || fresh.value.metadata.uid !== rs.metadata.uid || fresh.value.metadata.deletionTimestamp)
      return false;
    const refs = [...(pod.metadata.ownerReferences ?? []), ownerRefTo(rs)];
    const res = await this.ctx.client.update<Pod>(Resources.pods, {
      ...pod,
      metadata: { ...pod.metadata, ownerReferences: refs },
    });
    if (!res.ok) {
      if (isNotFound(res)) return false;
      throw new Error(`adopting pod ${keyOf(pod)}: ${res.status.message}`);
    }
    this.log.info('adopted pod', { replicaset: keyOf(rs), pod: pod.metadata.name });
    return true;
  }

  private async release(rs: ReplicaSet, pod: Pod): Promise<void> {
    const refs = (pod.metadata.ownerReferences ?? []).filter((r) => r.uid !== rs.metadata.uid);
    const res = await this.ctx.client.update<Pod>(Resources.pods, {
      ...pod,
      metadata: { ...pod.metadata, ownerReferences: refs.length ? refs : undefined },
    });
    if (!res.ok && !isNotFound(res)) throw new Error(`releasing pod ${keyOf(pod)}: ${res.status.message}`);
    if (res.ok) this.log.info('released pod', { replicaset: keyOf(rs), pod: pod.metadata.name });
  }

  private async manageReplicas(key: string, rs: ReplicaSet, pods: Pod[]): Promise<void> {
    const want = rs.spec.replicas ?? 1;
    const diff = pods.length - want;
    if (diff < 0) {
      const n = Math.min(-diff, this.burst);
      this.expectations.expectCreations(key, n);
      const { done, error } = await slowStartBatch(n, 1, () => this.createPod(rs), this.concurrency);
      // Creations never attempted or failed will not be observed: stop waiting for them.
      if (done < n) this.expectations.creationObserved(key, n - done);
      if (error) throw error;
    } else if (diff > 0) {
      const n = Math.min(diff, this.burst);
      const victims = [...pods].sort(compareForDeletion).slice(0, n);
      this.expectations.expectDeletions(key, victims.map(keyOf));
      const errors: unknown[] = [];
      await mapLimit(victims, this.concurrency, async (pod) => {
        const res = await this.ctx.client.delete(Resources.pods, pod.metadata.name!, {
          namespace: pod.metadata.namespace,
          preconditions: { uid: pod.metadata.uid },
        });
        if (!res.ok) {
          this.expectations.deletionObserved(key, keyOf(pod));
          if (!isNotFound(res) && !isConflict(res))
            errors.push(new Error(`deleting pod ${keyOf(pod)}: ${res.status.message}`));
          return;
        }
        this.ctx.recorder.event(rsRef(rs), 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name}`);
      });
      if (errors.length) throw errors[0];
    }
  }

  private async createPod(rs: ReplicaSet): Promise<void> {
    const t = rs.spec.template;
    if (!t) throw new Error(`replicaset ${keyOf(rs)} has no pod template`);
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: `${rs.metadata.name}-`,
        namespace: rs.metadata.namespace,
        labels: { ...(t.metadata?.labels ?? {}) },
        ...(t.metadata?.annotations ? { annotations: { ...t.metadata.annotations } } : {}),
        ownerReferences: [ownerRefTo(rs)],
      },
      spec: structuredClone(t.spec),
    };
    const res = await this.ctx.client.create<Pod>(Resources.pods, pod);
    if (!res.ok) {
      this.ctx.recorder.event(rsRef(rs), 'Warning', 'FailedCreate', `Error creating: ${res.status.message}`);
      throw new Error(`creating pod for ${keyOf(rs)}: ${res.status.message}`);
    }
    this.ctx.recorder.event(
      rsRef(rs),
      'Normal',
      'SuccessfulCreate',
      `Created pod: ${res.value.metadata.name}`,
    );
  }

  private async updateStatus(rs: ReplicaSet, pods: Pod[]): Promise<void> {
    const now = Date.now();
    const minReady = rs.spec.minReadySeconds ?? 0;
    const templateLabels = rs.spec.template?.metadata?.labels ?? {};
    const status: ReplicaSetStatus = {
      replicas: pods.length,
      fullyLabeledReplicas: pods.filter((p) =>
        Object.entries(templateLabels).every(([k, v]) => p.metadata.labels?.[k] === v),
      ).length,
      readyReplicas: pods.filter(isPodReady).length,
      availableReplicas: pods.filter((p) => isPodAvailable(p, minReady, now)).length,
      observedGeneration: rs.metadata.generation,
    };
    if (minReady > 0 && status.readyReplicas !== status.availableReplicas) {
      this.queue.addAfter(keyOf(rs), minReady * 1000);
    }
    if (sameStatus(rs.status, status)) return;
    const res = await this.ctx.client.updateStatus<ReplicaSet>(Resources.replicasets, {
      ...rs,
      status: { ...rs.status, ...status },
    });
    if (res.ok || isNotFound(res)) return;
    // A conflict means our cached copy is stale; the watch brings the new one and with it another sync.
    if (isConflict(res)) this.queue.addAfter(keyOf(rs), 100);
    else throw new Error(`updating status of ${keyOf(rs)}: ${res.status.message}`);
  }
}

function sameStatus(a: ReplicaSetStatus | undefined, b: ReplicaSetStatus): boolean {
  return (
    (a?.replicas ?? 0) === b.replicas &&
    (a?.fullyLabeledReplicas ?? 0) === (b.fullyLabeledReplicas ?? 0) &&
    (a?.readyReplicas ?? 0) === (b.readyReplicas ?? 0) &&
    (a?.availableReplicas ?? 0) === (b.availableReplicas ?? 0) &&
    a?.observedGeneration === b.observedGeneration
  );
}

function labelsChanged(a: Pod, b: Pod): boolean {
  return JSON.stringify(a.metadata.labels ?? {}) !== JSON.stringify(b.metadata.labels ?? {});
}

const selectorCache = new WeakMap<ReplicaSet, Selector>();
function selectorOf(rs: ReplicaSet): Selector {
  let s = selectorCache.get(rs);
  if (!s) {
    try {
      s = selectorFromLabelSelector(rs.spec.selector);
    } catch {
      s = selectorFromLabelSelector(null); // an invalid selector selects nothing
    }
    selectorCache.set(rs, s);
  }
  return s;
}

export function ownerRefTo(rs: ReplicaSet): OwnerReference {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    name: rs.metadata.name!,
    uid: rs.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The RS as an event's involvedObject (cached objects may lack apiVersion/kind). */
function rsRef(rs: ReplicaSet): ReplicaSet {
  return { ...rs, apiVersion: 'apps/v1', kind: 'ReplicaSet' };
}
