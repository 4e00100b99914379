// The node lifecycle controller: a node whose Lease in kube-node-lease (or Ready heartbeat) has not been
// renewed for the grace period is marked Ready=Unknown and tainted node.kubernetes.io/unreachable
// (NoSchedule and NoExecute); its pods are marked not ready and, after the eviction timeout, deleted so
// their owners recreate them elsewhere. When heartbeats return, the taints are removed.
import type { Condition, Lease, Node, Pod, Taint } from '../../apimachinery/index.js';
import { isConflict, isNotFound, Resources } from '../../apimachinery/client.js';
import type { Logger } from '../../common/index.js';
import type { Controller, ControllerContext } from '../context.js';
import { mapLimit } from '../context.js';
import { NodeIndex, type Informer } from '../informer.js';
import { nowTime } from '../podutil.js';
import { WorkQueue, runWorkers } from '../workqueue.js';

export const UnreachableTaintKey = 'node.kubernetes.io/unreachable';
export const NotReadyTaintKey = 'node.kubernetes.io/not-ready';
const NODE_CONDITIONS = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];

export interface NodeLifecycleOptions {
  /** Heartbeat silence after which a node is Unknown (--node-monitor-grace-period, default 40s). */
  gracePeriodMs?: number;
  /** How often every node is checked (--node-monitor-period, default 5s). */
  monitorPeriodMs?: number;
  /** How long pods may stay on an unreachable node before deletion (--pod-eviction-timeout, default 300s). */
  evictionTimeoutMs?: number;
}

interface Health {
  /** Our clock when we last saw the heartbeat move. */
  probeAt: number;
  leaseRenew?: string;
  readyHeartbeat?: string;
}

export class NodeLifecycleController implements Controller {
  readonly name = 'nodelifecycle';
  readonly queue = new WorkQueue<string>();
  private readonly nodeInformer: Informer<Node>;
  private readonly leaseInformer: Informer<Lease>;
  private readonly podInformer: Informer<Pod>;
  private readonly health = new Map<string, Health>();
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  readonly gracePeriodMs: number;
  readonly monitorPeriodMs: number;
  readonly evictionTimeoutMs: number;

  constructor(
    private readonly ctx: ControllerContext,
    opts: NodeLifecycleOptions = {},
  ) {
    this.log = ctx.logger.child(this.name);
    this.gracePeriodMs = opts.gracePeriodMs ?? 40_000;
    this.monitorPeriodMs = opts.monitorPeriodMs ?? 5_000;
    this.evictionTimeoutMs = opts.evictionTimeoutMs ?? 300_000;
    this.nodeInformer = ctx.informers.informerFor<Node>(Resources.nodes);
    this.leaseInformer = ctx.informers.informerFor<Lease>(Resources.leases, { namespace: 'kube-node-lease' });
    this.podInformer = ctx.informers.informerFor<Pod>(Resources.pods);
    this.nodeInformer.addEventHandlers({
      onAdd: (n) => this.queue.add(n.metadata.name!),
      onUpdate: (_o, n) => this.queue.add(n.metadata.name!),
      onDelete: (n) => this.health.delete(n.metadata.name!),
    });
    this.leaseInformer.addEventHandlers({
      onAdd: (l) => this.queue.add(l.metadata.name!),
      onUpdate: (_o, l) => this.queue.add(l.metadata.name!),
    });
  }

  run(workers: number): Promise<void> {
    this.timer = setInterval(() => {
      for (const name of this.nodeInformer.keys()) this.queue.add(name);
    }, this.monitorPeriodMs);
    this.timer.unref();
    return runWorkers(
      this.queue,
      workers,
      (k) => this.sync(k),
      (k, err) => this.log.warn('sync failed', { node: k, error: String((err as Error)?.message ?? err) }),
    );
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.queue.shutDown();
  }

  /** Updates what we know of the node's heartbeat; returns ms since it last moved (our clock). */
  private silenceMs(node: Node, now: number): number {
    const name = node.metadata.name!;
    const lease = this.leaseInformer.get(`kube-node-lease/${name}`);
    const leaseRenew = lease?.spec?.renewTime;
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    const readyHeartbeat = ready?.status === 'Unknown' ? undefined : ready?.lastHeartbeatTime;
    let h = this.health.get(name);
    if (!h) {
      // First sight: give the node a full grace period from now, as Kubernetes does after a restart.
      h = { probeAt: now, leaseRenew, readyHeartbeat };
      this.health.set(name, h);
    } else if (
      (leaseRenew && leaseRenew !== h.leaseRenew) ||
      (readyHeartbeat && readyHeartbeat !== h.readyHeartbeat)
    ) {
      h.probeAt = now;
      h.leaseRenew = leaseRenew;
      h.readyHeartbeat = readyHeartbeat;
    }
    return now - h.probeAt;
  }

  async sync(name: string): Promise<void> {
    const node = this.nodeInformer.get(name);
    if (!node) return;
    const now = Date.now();
    const silence = this.silenceMs(node, now);
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    const taints = node.spec?.taints ?? [];
    const unreachable = taints.find((t) => t.key === UnreachableTaintKey && t.effect === 'NoExecute');
    if (silence >= this.gracePeriodMs) {
      if (ready?.status !== 'Unknown') await this.markUnknown(node);
      if (!unreachable) {
        await this.setTaints(node, [
          ...taints.filter((t) => t.key !== UnreachableTaintKey),
          { key: UnreachableTaintKey, effect: 'NoSchedule', timeAdded: nowTime(now) },
          { key: UnreachableTaintKey, effect: 'NoExecute', timeAdded: nowTime(now) },
        ]);
        this.ctx.recorder.event(
          nodeRef(node),
          'Normal',
          'NodeNotReady',
          `Node ${name} status is now: NodeNotReady`,
        );
        await this.markPodsNotReady(name);
        return;
      }
      const since = unreachable.timeAdded ? Date.parse(unreachable.timeAdded) : now;
      if (now - since >= this.evictionTimeoutMs) await this.evictPods(node);
      else this.queue.addAfter(name, this.evictionTimeoutMs - (now - since) + 50);
      return;
    }
    this.queue.addAfter(name, this.gracePeriodMs - silence + 50);
    if (ready?.status === 'True' && taints.some((t) => t.key === UnreachableTaintKey)) {
      await this.setTaints(
        node,
        taints.filter((t) => t.key !== UnreachableTaintKey),
      );
      this.ctx.recorder.event(nodeRef(node), 'Normal', 'NodeReady', `Node ${name} status is now: NodeReady`);
    }
  }

  private async markUnknown(node: Node): Promise<void> {
    const now = nowTime();
    const conditions: Condition[] = (node.status?.conditions ?? []).map((c) =>
      NODE_CONDITIONS.includes(c.type)
        ? {
            ...c,
            status: 'Unknown',
            reason: 'NodeStatusUnknown',
            message: 'Kubelet stopped posting node status.',
            lastTransitionTime: c.status === 'Unknown' ? c.lastTransitionTime : now,
          }
        : c,
    );
    const res = await this.ctx.client.updateStatus<Node>(Resources.nodes, {
      ...node,
      status: { ...(node.status ?? {}), conditions },
    });
    if (!res.ok && !isNotFound(res)) {
      if (isConflict(res))
        throw new Error(`node ${node.metadata.name} changed while marking it Unknown (409)`);
      throw new Error(`marking node ${node.metadata.name} Unknown: ${res.status.message}`);
    }
    this.log.warn('node stopped heartbeating; marked Ready=Unknown', { node: node.metadata.name });
  }

  private async setTaints(node: Node, taints: Taint[]): Promise<void> {
    const fresh = await this.ctx.client.get<Node>(Resources.nodes, node.metadata.name!);
    if (!fresh.ok) return;
    const keepOthers = (fresh.value.spec?.taints ?? []).filter((t) => t.key !== UnreachableTaintKey);
    const ours = taints.filter((t) => t.key === UnreachableTaintKey);
    const res = await this.ctx.client.update<Node>(Resources.nodes, {
      ...fresh.value,
      spec: { ...(fresh.value.spec ?? {}), taints: [...keepOthers, ...ours] },
    });
    if (!res.ok && !isNotFound(res))
      throw new Error(`tainting node ${node.metadata.name}: ${res.status.message}`);
  }

  private async markPodsNotReady(nodeName: string): Promise<void> {
    const pods = this.podInformer.byIndex(NodeIndex, nodeName).filter((p) => !p.metadata.deletionTimestamp);
    await mapLimit(pods, 16, async (p) => {
      const now = nowTime();
      const conditions = (p.status?.conditions ?? []).map((c) =>
        c.type === 'Ready' && c.status !== 'False'
          ? { ...c, status: 'False' as const, lastTransitionTime: now, reason: 'NodeNotReady' }
          : c,
      );
      const res = await this.ctx.client.updateStatus<Pod>(Resources.pods, {
        ...p,
        status: { ...(p.status ?? {}), conditions },
      });
      if (!res.ok && !isNotFound(res) && !isConflict(res))
        this.log.warn('marking pod not ready failed', { pod: p.metadata.name, message: res.status.message });
    });
  }

  private async evictPods(node: Node): Promise<void> {
    const pods = this.podInformer
      .byIndex(NodeIndex, node.metadata.name!)
      .filter((p) => !p.metadata.deletionTimestamp && !toleratesUnreachable(p));
    if (pods.length === 0) return;
    this.log.warn('evicting pods from unreachable node', { node: node.metadata.name, pods: pods.length });
    await mapLimit(pods, 16, async (p) => {
      const res = await this.ctx.client.delete(Resources.pods, p.metadata.name!, {
        namespace: p.metadata.namespace,
        preconditions: { uid: p.metadata.uid },
      });
      if (res.ok)
        this.ctx.recorder.event(
          { ...p, apiVersion: 'v1', kind: 'Pod' },
          'Normal',
          'TaintManagerEviction',
          `Marking for deletion Pod ${p.metadata.namespace}/${p.metadata.name}`,
        );
    });
  }
}

/** A pod that tolerates the unreachable NoExecute taint forever stays (DaemonSet-style). */
function toleratesUnreachable(p: Pod): boolean {
  return (p.spec.tolerations ?? []).some(
    (t) =>
      t.operator === 'Exists' &&
      (!t.key || t.key === UnreachableTaintKey) &&
      (!t.effect || t.effect === 'NoExecute') &&
      t.tolerationSeconds === undefined,
  );
}

function nodeRef(n: Node): Node {
  return { ...n, apiVersion: 'v1', kind: 'Node' };
}
