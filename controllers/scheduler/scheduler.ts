// The scheduler: watches pods without spec.nodeName (schedulerName default-scheduler), picks a node
// with the framework's filters and scores, and binds through pods/binding. Decisions are made one at a
// time against an in-memory view of every node (bound pods plus pods "assumed" while their binding is in
// flight), so bindings can run in parallel without double-booking a node.
import type { Node, Pod } from '../../apimachinery/index.js';
import { isConflict, isNotFound, Resources } from '../../apimachinery/client.js';
import type { Logger } from '../../common/index.js';
import type { ControllerContext } from '../context.js';
import { keyOf, type Informer } from '../informer.js';
import { nowTime } from '../podutil.js';
import { WorkQueue, runWorkers } from '../workqueue.js';
import { failureMessage, NodeInfo, schedule } from './framework.js';

export interface SchedulerOptions {
  schedulerName?: string;
  /** Bindings in flight at once. */
  parallelism?: number;
  /** First and largest retry delay for a pod that fits nowhere. */
  unschedulableBackoffMs?: number;
  maxUnschedulableBackoffMs?: number;
}

export class Scheduler {
  readonly name = 'scheduler';
  readonly queue: WorkQueue<string>;
  private readonly podInformer: Informer<Pod>;
  private readonly nodeInformer: Informer<Node>;
  private readonly nodes = new Map<string, NodeInfo>();
  private sortedNodes: NodeInfo[] | undefined;
  /** Where each counted pod is: bound (from the cache) or assumed (binding in flight). */
  private readonly placed = new Map<string, { node: string; pod: Pod; assumed: boolean }>();
  private readonly unschedulable = new Set<string>();
  private lastPick = '';
  private readonly log: Logger;
  readonly schedulerName: string;
  private readonly parallelism: number;
  scheduled = 0;

  constructor(
    private readonly ctx: ControllerContext,
    opts: SchedulerOptions = {},
  ) {
    this.log = ctx.logger.child('scheduler');
    this.schedulerName = opts.schedulerName ?? 'default-scheduler';
    this.parallelism = opts.parallelism ?? 16;
    this.queue = new WorkQueue<string>({
      baseDelayMs: opts.unschedulableBackoffMs ?? 1000,
      maxDelayMs: opts.maxUnschedulableBackoffMs ?? 30_000,
      maxRetries: 1_000_000,
    });
    this.podInformer = ctx.informers.informerFor<Pod>(Resources.pods);
    this.nodeInformer = ctx.informers.informerFor<Node>(Resources.nodes);
    this.nodeInformer.addEventHandlers({
      onAdd: (n) => this.nodeChanged(n),
      onUpdate: (o, n) => {
        if (o.metadata.resourceVersion !== n.metadata.resourceVersion) this.nodeChanged(n);
      },
      onDelete: (n) => {
        this.nodes.delete(n.metadata.name!);
        this.sortedNodes = undefined;
      },
    });
    this.podInformer.addEventHandlers({
      onAdd: (p) => this.podChanged(p),
      onUpdate: (_o, p) => this.podChanged(p),
      onDelete: (p) => this.unplace(keyOf(p)),
    });
  }

  run(): Promise<void> {
    return runWorkers(
      this.queue,
      this.parallelism,
      (k) => this.scheduleOne(k),
      (k, err) => {
        // Unschedulable pods are retried with backoff by runWorkers; that is not an error worth a log line.
        if (!(err instanceof UnschedulableError))
          this.log.warn('scheduling attempt failed', {
            pod: k,
            error: String((err as Error)?.message ?? err),
          });
      },
    );
  }

  stop(): void {
    this.queue.shutDown();
  }

  private nodeChanged(n: Node): void {
    const name = n.metadata.name!;
    const info = this.nodes.get(name);
    if (info) info.node = n;
    else {
      const fresh = new NodeInfo(n);
      this.nodes.set(name, fresh);
      this.sortedNodes = undefined;
      for (const [key, p] of this.placed) if (p.node === name) fresh.addPod(key, p.pod);
    }
    // Something may fit now: give every waiting pod another try.
    for (const key of this.unschedulable) {
      this.queue.forget(key);
      this.queue.add(key);
    }
    this.unschedulable.clear();
  }

  private responsibleFor(p: Pod): boolean {
    return (p.spec.schedulerName ?? 'default-scheduler') === this.schedulerName;
  }

  private podChanged(p: Pod): void {
    const key = keyOf(p);
    const phase = p.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      this.unplace(key);
      return;
    }
    if (p.spec.nodeName) {
      this.place(key, p.spec.nodeName, p, false);
      this.unschedulable.delete(key);
      return;
    }
    if (p.metadata.deletionTimestamp || !this.responsibleFor(p)) return;
    if (!this.placed.get(key)?.assumed && !this.unschedulable.has(key)) this.queue.add(key);
  }

  private place(key: string, node: string, pod: Pod, assumed: boolean): void {
    const cur = this.placed.get(key);
    if (cur) {
      if (cur.node === node && !cur.assumed && !assumed) {
        cur.pod = pod;
        return;
      }
      this.nodes.get(cur.node)?.removePod(key, cur.pod);
    }
    this.placed.set(key, { node, pod, assumed });
    this.nodes.get(node)?.addPod(key, pod);
  }

  private unplace(key: string): void {
    const cur = this.placed.get(key);
    if (!cur) return;
    this.nodes.get(cur.node)?.removePod(key, cur.pod);
    this.placed.delete(key);
  }

  private nodeList(): NodeInfo[] {
    this.sortedNodes ??= [...this.nodes.values()].sort((a, b) =>
      a.node.metadata.name! < b.node.metadata.name! ? -1 : 1,
    );
    return this.sortedNodes;
  }

  async scheduleOne(key: string): Promise<void> {
    const pod = this.podInformer.get(key);
    if (!pod || pod.spec.nodeName || pod.metadata.deletionTimestamp || !this.responsibleFor(pod)) return;
    if (this.placed.get(key)?.assumed) return;
    // Decide and assume with no await in between: the next decision sees this one.
    const nodes = this.nodeList();
    const d = schedule(pod, nodes, this.lastPick);
    if (!d.node) {
      const message = failureMessage(nodes.length, d.reasons);
      await this.unschedulableFor(pod, message);
      throw new UnschedulableError(message);
    }
    this.lastPick = d.node;
    this.place(key, d.node, pod, true);
    const res = await this.ctx.client.createSubresource(
      Resources.pods,
      pod.metadata.name!,
      'binding',
      {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace, uid: pod.metadata.uid },
        target: { apiVersion: 'v1', kind: 'Node', name: d.node },
      },
      pod.metadata.namespace,
    );
    if (!res.ok) {
      const cur = this.placed.get(key);
      if (cur?.assumed) this.unplace(key);
      if (isNotFound(res) || isConflict(res)) return; // deleted, or bound by someone else meanwhile
      throw new Error(`binding to ${d.node}: ${res.status.message}`);
    }
    this.scheduled++;
    this.ctx.recorder.event(
      { ...pod, apiVersion: 'v1', kind: 'Pod' },
      'Normal',
      'Scheduled',
      `Successfully assigned ${key} to ${d.node}`,
    );
  }

  private async unschedulableFor(pod: Pod, message: string): Promise<void> {
    const key = keyOf(pod);
    this.ctx.recorder.event(
      { ...pod, apiVersion: 'v1', kind: 'Pod' },
      'Warning',
      'FailedScheduling',
      message,
    );
    const prev = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (prev?.status !== 'False' || prev.message !== message) {
      const conditions = [
        ...(pod.status?.conditions ?? []).filter((c) => c.type !== 'PodScheduled'),
        {
          type: 'PodScheduled',
          status: 'False' as const,
          reason: 'Unschedulable',
          message,
          lastProbeTime: null,
          lastTransitionTime: nowTime(),
        },
      ];
      const res = await this.ctx.client.updateStatus<Pod>(Resources.pods, {
        ...pod,
        status: { phase: 'Pending', ...(pod.status ?? {}), conditions },
      });
      if (!res.ok && !isNotFound(res) && !isConflict(res))
        this.log.warn('could not record Unschedulable', { pod: key, message: res.status.message });
    }
    this.log.info('pod is unschedulable', { pod: key, message });
    this.unschedulable.add(key);
  }
}

/** Thrown for a pod that fits on no node, so the work queue retries it with growing backoff. */
export class UnschedulableError extends Error {
  override readonly name = 'UnschedulableError';
}
