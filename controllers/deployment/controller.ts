// The Deployment controller: owns ReplicaSets named <deployment>-<pod-template-hash>, rolls from old to
// new ones honouring maxSurge/maxUnavailable (or Recreate), keeps revisionHistoryLimit old ones for
// rollback, and reports status and the Progressing/Available conditions `kubectl rollout status` reads.
import {
  controllerRef,
  selectorFromLabelSelector,
  type Condition,
  type Deployment,
  type DeploymentStatus,
  type OwnerReference,
  type Pod,
  type ReplicaSet,
} from '../../apimachinery/index.js';
import { isAlreadyExists, isConflict, isNotFound, Resources } from '../../apimachinery/client.js';
import type { Logger } from '../../common/index.js';
import type { Controller, ControllerContext } from '../context.js';
import { keyOf, NamespaceIndex, OwnerIndex, type Informer } from '../informer.js';
import { nowTime } from '../podutil.js';
import { WorkQueue, runWorkers } from '../workqueue.js';
import {
  byCreation,
  computeHash,
  DesiredReplicasAnnotation,
  equalIgnoreHash,
  MaxReplicasAnnotation,
  newRSReplicasForRollingUpdate,
  oldRSScaleDowns,
  PodTemplateHashLabel,
  resolveFenceposts,
  revisionOf,
  RevisionAnnotation,
  specReplicas,
} from './util.js';

export class DeploymentController implements Controller {
  readonly name = 'deployment';
  readonly queue = new WorkQueue<string>();
  private readonly dInformer: Informer<Deployment>;
  private readonly rsInformer: Informer<ReplicaSet>;
  private readonly podInformer: Informer<Pod>;
  private readonly log: Logger;

  constructor(private readonly ctx: ControllerContext) {
    this.log = ctx.logger.child(this.name);
    this.dInformer = ctx.informers.informerFor<Deployment>(Resources.deployments);
    this.rsInformer = ctx.informers.informerFor<ReplicaSet>(Resources.replicasets);
    this.dInformer.addEventHandlers({
      onAdd: (d) => this.queue.add(keyOf(d)),
      onUpdate: (_o, d) => this.queue.add(keyOf(d)),
      onDelete: (d) => this.queue.add(keyOf(d)),
    });
    const rsChanged = (rs: ReplicaSet) => {
      const ref = controllerRef(rs);
      if (ref?.kind === 'Deployment') {
        const d = this.dInformer.getByName(ref.name, rs.metadata.namespace);
        if (d && d.metadata.uid === ref.uid) this.queue.add(keyOf(d));
        return;
      }
      if (ref) return;
      for (const d of this.dInformer.byIndex(NamespaceIndex, rs.metadata.namespace ?? '')) {
        if (safeMatches(d, rs.metadata.labels)) this.queue.add(keyOf(d));
      }
    };
    // Recreate waits for old pods to be gone, not just scaled away: it needs to hear about pod deletions.
    this.podInformer = ctx.informers.informerFor<Pod>(Resources.pods);
    this.podInformer.addEventHandlers({
      onDelete: (p) => {
        const ref = controllerRef(p);
        if (ref?.kind !== 'ReplicaSet') return;
        const rs = this.rsInformer.getByName(ref.name, p.metadata.namespace);
        const dref = rs && controllerRef(rs);
        if (dref?.kind !== 'Deployment') return;
        const d = this.dInformer.getByName(dref.name, p.metadata.namespace);
        if (d?.spec.strategy?.type === 'Recreate') this.queue.add(keyOf(d));
      },
    });
    this.rsInformer.addEventHandlers({
      onAdd: rsChanged,
      onUpdate: (o, rs) => {
        if (o.metadata.resourceVersion === rs.metadata.resourceVersion) return;
        rsChanged(rs);
        if (controllerRef(o)?.uid !== controllerRef(rs)?.uid) rsChanged(o);
      },
      onDelete: rsChanged,
    });
  }

  run(workers: number): Promise<void> {
    return runWorkers(
      this.queue,
      workers,
      (k) => this.sync(k),
      (k, err) =>
        this.log.warn('sync failed', { deployment: k, error: String((err as Error)?.message ?? err) }),
    );
  }

  stop(): void {
    this.queue.shutDown();
  }

  async sync(key: string): Promise<void> {
    const d = this.dInformer.get(key);
    if (!d) return;
    const rsList = await this.claimReplicaSets(d);
    if (d.metadata.deletionTimestamp) {
      await this.syncStatus(d, rsList, this.findNewRS(d, rsList), false);
      return;
    }
    if (d.spec.paused) {
      await this.syncPaused(d, rsList);
      return;
    }
    if (d.spec.strategy?.type === 'Recreate') await this.rolloutRecreate(d, rsList);
    else await this.rolloutRolling(d, rsList);
  }

  /** RSs this Deployment controls: owned ones that still match, plus matching orphans it adopts. */
  private async claimReplicaSets(d: Deployment): Promise<ReplicaSet[]> {
    const out: ReplicaSet[] = [];
    for (const rs of this.rsInformer.byIndex(NamespaceIndex, d.metadata.namespace ?? '')) {
      const ref = controllerRef(rs);
      const matches = safeMatches(d, rs.metadata.labels);
      if (ref) {
        if (ref.uid !== d.metadata.uid) continue;
        if (matches) out.push(rs);
        else if (!d.metadata.deletionTimestamp) {
          const refs = (rs.metadata.ownerReferences ?? []).filter((r) => r.uid !== d.metadata.uid);
          await this.writeRS({
            ...rs,
            metadata: { ...rs.metadata, ownerReferences: refs.length ? refs : undefined },
          });
        }
        continue;
      }
      if (!matches || d.metadata.deletionTimestamp || rs.metadata.deletionTimestamp) continue;
      const adopted = await this.writeRS({
        ...rs,
        metadata: {
          ...rs.metadata,
          ownerReferences: [...(rs.metadata.ownerReferences ?? []), ownerRefTo(d)],
        },
      });
      if (adopted) out.push(adopted);
    }
    return out;
  }

  /** The RS running the Deployment's current template: by pod-template-hash, else by template equality. */
  private findNewRS(d: Deployment, rsList: ReplicaSet[]): ReplicaSet | undefined {
    const hash = computeHash(d.spec.template, d.status?.collisionCount);
    const byHash = rsList.find(
      (rs) =>
        rs.metadata.labels?.[PodTemplateHashLabel] === hash &&
        equalIgnoreHash(rs.spec.template, d.spec.template),
    );
    if (byHash) return byHash;
    return [...rsList].sort(byCreation).find((rs) => equalIgnoreHash(rs.spec.template, d.spec.template));
  }

  /**
   * Finds the new RS and brings its annotations up to date (revision = max old + 1, so a rolled-back
   * template gets the newest revision); creates it when missing and `create` is set.
   */
  private async getNewRS(
    d: Deployment,
    rsList: ReplicaSet[],
    create: boolean,
    initialReplicas: (rs: ReplicaSet) => number,
  ): Promise<ReplicaSet | undefined> {
    const existing = this.findNewRS(d, rsList);
    const olds = rsList.filter((rs) => rs !== existing);
    const maxOld = olds.reduce((m, rs) => Math.max(m, revisionOf(rs)), 0);
    const newRevision = String(maxOld + 1);
    const replicas = d.spec.replicas ?? 1;
    const { maxSurge } = resolveFenceposts(d);
    if (existing) {
      const ann = { ...(existing.metadata.annotations ?? {}) };
      let changed = false;
      if (revisionOf(existing) < maxOld + 1) {
        ann[RevisionAnnotation] = newRevision;
        changed = true;
      }
      if ((existing.spec.minReadySeconds ?? 0) !== (d.spec.minReadySeconds ?? 0)) changed = true;
      const updated = changed
        ? await this.writeRS({
            ...existing,
            metadata: { ...existing.metadata, annotations: ann },
            spec: { ...existing.spec, minReadySeconds: d.spec.minReadySeconds ?? 0 },
          })
        : existing;
      await this.setDeploymentRevision(d, (updated ?? existing).metadata.annotations?.[RevisionAnnotation]);
      return updated ?? existing;
    }
    if (!create) return undefined;
    const hash = computeHash(d.spec.template, d.status?.collisionCount);
    const template = structuredClone(d.spec.template);
    template.metadata = {
      ...(template.metadata ?? {}),
      labels: { ...(template.metadata?.labels ?? {}), [PodTemplateHashLabel]: hash },
    };
    const selector = structuredClone(d.spec.selector);
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [PodTemplateHashLabel]: hash };
    const rs: ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        namespace: d.metadata.namespace,
        labels: { ...(template.metadata.labels ?? {}) },
        annotations: {
          [RevisionAnnotation]: newRevision,
          [DesiredReplicasAnnotation]: String(replicas),
          [MaxReplicasAnnotation]: String(replicas + maxSurge),
        },
        ownerReferences: [ownerRefTo(d)],
      },
      spec: { replicas: 0, minReadySeconds: d.spec.minReadySeconds ?? 0, selector, template },
    };
    rs.spec.replicas = initialReplicas(rs);
    const res = await this.ctx.client.create<ReplicaSet>(Resources.replicasets, rs);
    if (!res.ok) {
      if (isAlreadyExists(res)) {
        const cur = await this.ctx.client.get<ReplicaSet>(
          Resources.replicasets,
          rs.metadata.name!,
          rs.metadata.namespace,
        );
        if (
          cur.ok &&
          controllerRef(cur.value)?.uid === d.metadata.uid &&
          equalIgnoreHash(cur.value.spec.template, d.spec.template)
        )
          return cur.value;
        // A different template hashed to the same name: bump collisionCount so the next hash differs.
        const status = { ...(d.status ?? {}), collisionCount: (d.status?.collisionCount ?? 0) + 1 };
        await this.ctx.client.updateStatus<Deployment>(Resources.deployments, { ...d, status });
        throw new Error(
          `replicaset name ${rs.metadata.name} collides; collisionCount now ${status.collisionCount}`,
        );
      }
      throw new Error(`creating replicaset for ${keyOf(d)}: ${res.status.message}`);
    }
    this.log.info('created replicaset', {
      deployment: keyOf(d),
      replicaset: rs.metadata.name,
      replicas: rs.spec.replicas,
    });
    if ((rs.spec.replicas ?? 0) > 0) {
      this.ctx.recorder.event(
        dRef(d),
        'Normal',
        'ScalingReplicaSet',
        `Scaled up replica set ${rs.metadata.name} from 0 to ${rs.spec.replicas}`,
      );
    }
    await this.setDeploymentRevision(d, newRevision);
    return res.value;
  }

  private async setDeploymentRevision(d: Deployment, revision: string | undefined): Promise<void> {
    if (!revision || d.metadata.annotations?.[RevisionAnnotation] === revision) return;
    const res = await this.ctx.client.patch(
      Resources.deployments,
      d.metadata.name!,
      { metadata: { annotations: { [RevisionAnnotation]: revision } } },
      { namespace: d.metadata.namespace },
    );
    if (!res.ok && !isNotFound(res)) throw new Error(`annotating ${keyOf(d)}: ${res.status.message}`);
  }

  private async rolloutRolling(d: Deployment, rsList: ReplicaSet[]): Promise<void> {
    const newRS = await this.getNewRS(d, rsList, true, (rs) => newRSReplicasForRollingUpdate(d, rsList, rs));
    const oldRSs = rsList.filter((rs) => rs.metadata.uid !== newRS?.metadata.uid);
    const all = newRS ? [...oldRSs, newRS] : oldRSs;
    const replicas = d.spec.replicas ?? 1;
    let scaled = false;
    if (newRS && specReplicas(newRS) !== replicas) {
      const target = specReplicas(newRS) > replicas ? replicas : newRSReplicasForRollingUpdate(d, all, newRS);
      if (target !== specReplicas(newRS)) scaled = await this.scaleRS(d, newRS, target);
    }
    if (!scaled) {
      for (const [rs, n] of oldRSScaleDowns(d, oldRSs, newRS))
        scaled = (await this.scaleRS(d, rs, n)) || scaled;
    }
    if (!scaled && newRS && isComplete(d, newRS, oldRSs)) await this.cleanup(d, oldRSs);
    await this.syncStatus(d, rsList, newRS, scaled);
  }

  private async rolloutRecreate(d: Deployment, rsList: ReplicaSet[]): Promise<void> {
    let newRS = await this.getNewRS(d, rsList, false, () => 0);
    const oldRSs = rsList.filter((rs) => rs.metadata.uid !== newRS?.metadata.uid);
    let scaled = false;
    for (const rs of oldRSs) if (specReplicas(rs) > 0) scaled = (await this.scaleRS(d, rs, 0)) || scaled;
    // Recreate means no old pod runs beside a new one: wait until the old ones are gone.
    const oldRunning = oldRSs.reduce(
      (s, rs) =>
        s +
        this.podInformer
          .byIndex(OwnerIndex, rs.metadata.uid!)
          .filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed').length,
      0,
    );
    if (scaled || oldRunning > 0) {
      await this.syncStatus(d, rsList, newRS, scaled);
      return;
    }
    const replicas = d.spec.replicas ?? 1;
    if (!newRS) {
      newRS = await this.getNewRS(d, rsList, true, () => replicas);
      scaled = true;
    } else if (specReplicas(newRS) !== replicas) {
      scaled = await this.scaleRS(d, newRS, replicas);
    }
    if (!scaled && newRS && isComplete(d, newRS, oldRSs)) await this.cleanup(d, oldRSs);
    await this.syncStatus(d, newRS ? [...oldRSs, newRS] : oldRSs, newRS, scaled);
  }

  /** Paused: no rollout, but a scale of the Deployment still reaches its active ReplicaSet. */
  private async syncPaused(d: Deployment, rsList: ReplicaSet[]): Promise<void> {
    const newRS = this.findNewRS(d, rsList);
    const active = rsList.filter((rs) => specReplicas(rs) > 0);
    const replicas = d.spec.replicas ?? 1;
    let scaled = false;
    const target = active.length === 1 ? active[0]! : active.length === 0 ? newRS : undefined;
    if (target && specReplicas(target) !== replicas) scaled = await this.scaleRS(d, target, replicas);
    await this.syncStatus(d, rsList, newRS, scaled);
  }

  private async scaleRS(d: Deployment, rs: ReplicaSet, n: number): Promise<boolean> {
    const from = specReplicas(rs);
    if (from === n) return false;
    const { maxSurge } = resolveFenceposts(d);
    const replicas = d.spec.replicas ?? 1;
    const updated = await this.writeRS({
      ...rs,
      metadata: {
        ...rs.metadata,
        annotations: {
          ...(rs.metadata.annotations ?? {}),
          [DesiredReplicasAnnotation]: String(replicas),
          [MaxReplicasAnnotation]: String(replicas + maxSurge),
        },
      },
      spec: { ...rs.spec, replicas: n },
    });
    if (!updated) return false;
    const dir = n > from ? 'up' : 'down';
    this.ctx.recorder.event(
      dRef(d),
      'Normal',
      'ScalingReplicaSet',
      `Scaled ${dir} replica set ${rs.metadata.name} from ${from} to ${n}`,
    );
    this.log.info(`scaled ${dir} replicaset`, {
      deployment: keyOf(d),
      replicaset: rs.metadata.name,
      from,
      to: n,
    });
    return true;
  }

  /** PUT with the cached resourceVersion: a stale decision fails with 409 and the key is retried. */
  private async writeRS(rs: ReplicaSet): Promise<ReplicaSet | undefined> {
    const res = await this.ctx.client.update<ReplicaSet>(Resources.replicasets, rs);
    if (res.ok) return res.value;
    if (isNotFound(res)) return undefined;
    if (isConflict(res)) throw new Error(`replicaset ${keyOf(rs)} changed under us (409); retrying`);
    throw new Error(`updating replicaset ${keyOf(rs)}: ${res.status.message}`);
  }

  /** Deletes the oldest fully scaled-down RSs beyond revisionHistoryLimit. */
  private async cleanup(d: Deployment, oldRSs: ReplicaSet[]): Promise<void> {
    const limit = d.spec.revisionHistoryLimit ?? 10;
    const idle = oldRSs
      .filter(
        (rs) => specReplicas(rs) === 0 && (rs.status?.replicas ?? 0) === 0 && !rs.metadata.deletionTimestamp,
      )
      .sort((a, b) => revisionOf(a) - revisionOf(b) || byCreation(a, b));
    for (const rs of idle.slice(0, Math.max(0, idle.length - limit))) {
      const res = await this.ctx.client.delete(Resources.replicasets, rs.metadata.name!, {
        namespace: rs.metadata.namespace,
        preconditions: { uid: rs.metadata.uid },
        propagationPolicy: 'Background',
      });
      if (res.ok)
        this.log.info('deleted old replicaset', { deployment: keyOf(d), replicaset: rs.metadata.name });
    }
  }

  private async syncStatus(
    d: Deployment,
    rsList: ReplicaSet[],
    newRS: ReplicaSet | undefined,
    progressed: boolean,
  ): Promise<void> {
    const replicas = d.spec.replicas ?? 1;
    const oldRSs = rsList.filter((rs) => rs.metadata.uid !== newRS?.metadata.uid);
    const all = newRS ? [...oldRSs, newRS] : oldRSs;
    const sum = (f: (rs: ReplicaSet) => number | undefined) => all.reduce((s, rs) => s + (f(rs) ?? 0), 0);
    const available = sum((rs) => rs.status?.availableReplicas);
    const status: DeploymentStatus = {
      observedGeneration: d.metadata.generation,
      replicas: sum((rs) => rs.status?.replicas),
      updatedReplicas: newRS?.status?.replicas ?? 0,
      readyReplicas: sum((rs) => rs.status?.readyReplicas),
      availableReplicas: available,
      unavailableReplicas: Math.max(0, replicas - available),
      ...(d.status?.collisionCount ? { collisionCount: d.status.collisionCount } : {}),
    };
    const { maxUnavailable } = resolveFenceposts(d);
    const now = nowTime();
    const conds: Condition[] = [];
    conds.push(
      available >= replicas - maxUnavailable
        ? cond(
            d,
            'Available',
            'True',
            'MinimumReplicasAvailable',
            'Deployment has minimum availability.',
            now,
          )
        : cond(
            d,
            'Available',
            'False',
            'MinimumReplicasUnavailable',
            'Deployment does not have minimum availability.',
            now,
          ),
    );
    const rsName = newRS?.metadata.name ?? '';
    const prev = d.status?.conditions?.find((c) => c.type === 'Progressing');
    if (d.spec.paused) {
      conds.push(cond(d, 'Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused', now));
    } else if (newRS && isComplete(d, newRS, oldRSs, status)) {
      conds.push(
        cond(
          d,
          'Progressing',
          'True',
          'NewReplicaSetAvailable',
          `ReplicaSet "${rsName}" has successfully progressed.`,
          now,
        ),
      );
    } else if (
      progressed ||
      madeProgress(d.status, status) ||
      prev?.reason === 'NewReplicaSetAvailable' ||
      !prev
    ) {
      conds.push(
        cond(
          d,
          'Progressing',
          'True',
          'ReplicaSetUpdated',
          `ReplicaSet "${rsName}" is progressing.`,
          now,
          true,
        ),
      );
    } else if (prev.reason === 'ProgressDeadlineExceeded') {
      conds.push(prev);
    } else {
      const deadline = (d.spec.progressDeadlineSeconds ?? 600) * 1000;
      const since = Date.parse(prev.lastUpdateTime ?? prev.lastTransitionTime ?? now);
      const left = since + deadline - Date.now();
      if (left <= 0) {
        conds.push(
          cond(
            d,
            'Progressing',
            'False',
            'ProgressDeadlineExceeded',
            `ReplicaSet "${rsName}" has timed out progressing.`,
            now,
          ),
        );
        this.ctx.recorder.event(
          dRef(d),
          'Warning',
          'ProgressDeadlineExceeded',
          `Deployment "${d.metadata.name}" has timed out progressing.`,
        );
      } else {
        conds.push(prev);
        this.queue.addAfter(keyOf(d), left + 100);
      }
    }
    for (const c of d.status?.conditions ?? [])
      if (c.type !== 'Available' && c.type !== 'Progressing') conds.push(c);
    status.conditions = conds;
    if (statusEqual(d.status, status)) return;
    const res = await this.ctx.client.updateStatus<Deployment>(Resources.deployments, { ...d, status });
    if (res.ok || isNotFound(res)) return;
    if (isConflict(res)) {
      this.queue.addAfter(keyOf(d), 100);
      return;
    }
    throw new Error(`updating status of ${keyOf(d)}: ${res.status.message}`);
  }
}

/** The rollout is done: every replica runs the new template and is available, and no old pod is left. */
function isComplete(
  d: Deployment,
  newRS: ReplicaSet,
  oldRSs: ReplicaSet[],
  status?: DeploymentStatus,
): boolean {
  const replicas = d.spec.replicas ?? 1;
  const newStatus = newRS.status;
  const oldPods = oldRSs.reduce((s, rs) => s + (rs.status?.replicas ?? 0) + specReplicas(rs), 0);
  if (status)
    return (
      status.updatedReplicas === replicas &&
      status.replicas === replicas &&
      status.availableReplicas === replicas &&
      oldPods === 0
    );
  return (
    specReplicas(newRS) === replicas &&
    (newStatus?.replicas ?? 0) === replicas &&
    (newStatus?.availableReplicas ?? 0) === replicas &&
    oldPods === 0
  );
}

function madeProgress(prev: DeploymentStatus | undefined, next: DeploymentStatus): boolean {
  if (!prev) return true;
  return (
    (next.updatedReplicas ?? 0) > (prev.updatedReplicas ?? 0) ||
    (next.replicas ?? 0) - (next.updatedReplicas ?? 0) < (prev.replicas ?? 0) - (prev.updatedReplicas ?? 0) ||
    (next.readyReplicas ?? 0) > (prev.readyReplicas ?? 0) ||
    (next.availableReplicas ?? 0) > (prev.availableReplicas ?? 0)
  );
}

/** A condition; lastTransitionTime is kept while the status does not change. */
function cond(
  d: Deployment,
  type: string,
  status: Condition['status'],
  reason: string,
  message: string,
  now: string,
  touch = false,
): Condition {
  const prev = d.status?.conditions?.find((c) => c.type === type);
  const same = prev && prev.status === status && prev.reason === reason && prev.message === message;
  return {
    type,
    status,
    lastUpdateTime: same && !touch ? (prev.lastUpdateTime ?? now) : now,
    lastTransitionTime: prev && prev.status === status ? (prev.lastTransitionTime ?? now) : now,
    reason,
    message,
  };
}

function statusEqual(a: DeploymentStatus | undefined, b: DeploymentStatus): boolean {
  if (!a) return false;
  const strip = (s: DeploymentStatus) => ({
    ...s,
    conditions: (s.conditions ?? []).map((c) => ({
      ...c,
      lastUpdateTime: c.reason === 'ReplicaSetUpdated' ? '' : c.lastUpdateTime,
    })),
  });
  const n = (s: DeploymentStatus) =>
    JSON.stringify(
      strip({
        observedGeneration: s.observedGeneration,
        replicas: s.replicas ?? 0,
        updatedReplicas: s.updatedReplicas ?? 0,
        readyReplicas: s.readyReplicas ?? 0,
        availableReplicas: s.availableReplicas ?? 0,
        unavailableReplicas: s.unavailableReplicas ?? 0,
        collisionCount: s.collisionCount,
        conditions: s.conditions,
      }),
    );
  return n(a) === n(b);
}

function safeMatches(d: Deployment, labels: Record<string, string> | undefined): boolean {
  try {
    return selectorFromLabelSelector(d.spec.selector).matches(labels);
  } catch {
    return false;
  }
}

function ownerRefTo(d: Deployment): OwnerReference {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    name: d.metadata.name!,
    uid: d.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

function dRef(d: Deployment): Deployment {
  return { ...d, apiVersion: 'apps/v1', kind: 'Deployment' };
}
