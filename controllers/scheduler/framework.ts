// The scheduler's decision, as pure functions: filters (node ready and schedulable, taints tolerated,
// nodeSelector, resources fit) and scores (least allocated, spread of one owner's replicas).
import { controllerRef, type Node, type Pod, type Taint, type Toleration } from '../../apimachinery/index.js';
import { intValue, milliCPU } from '../quantity.js';

export interface Resources {
  milliCPU: number;
  memory: number;
  pods: number;
}

/** What the scheduler tracks per node: allocatable, requested by pods bound or assumed there, and owners. */
export class NodeInfo {
  requested: Resources = { milliCPU: 0, memory: 0, pods: 0 };
  /** Requests with Kubernetes' non-zero defaults for pods that ask for nothing (used by scoring only). */
  nonZeroRequested: Resources = { milliCPU: 0, memory: 0, pods: 0 };
  /** Pods per controller owner uid. */
  readonly owners = new Map<string, number>();
  readonly pods = new Set<string>();

  private allocatableOf: Node | undefined;
  private allocatableCache: Resources = { milliCPU: 0, memory: 0, pods: 0 };

  constructor(public node: Node) {}

  /** Parsed once per Node object: scoring 1,000 pods over 100 nodes must not re-parse quantities. */
  get allocatable(): Resources {
    if (this.allocatableOf !== this.node) {
      const a = this.node.status?.allocatable ?? this.node.status?.capacity ?? {};
      this.allocatableCache = {
        milliCPU: milliCPU(a.cpu ?? 0),
        memory: intValue(a.memory ?? 0),
        pods: intValue(a.pods ?? 110),
      };
      this.allocatableOf = this.node;
    }
    return this.allocatableCache;
  }

  addPod(key: string, pod: Pod): void {
    if (this.pods.has(key)) return;
    this.pods.add(key);
    const r = podRequests(pod);
    this.requested.milliCPU += r.milliCPU;
    this.requested.memory += r.memory;
    this.requested.pods += 1;
    const nz = nonZeroRequests(pod);
    this.nonZeroRequested.milliCPU += nz.milliCPU;
    this.nonZeroRequested.memory += nz.memory;
    const owner = controllerRef(pod)?.uid;
    if (owner) this.owners.set(owner, (this.owners.get(owner) ?? 0) + 1);
  }

  removePod(key: string, pod: Pod): void {
    if (!this.pods.delete(key)) return;
    const r = podRequests(pod);
    this.requested.milliCPU -= r.milliCPU;
    this.requested.memory -= r.memory;
    this.requested.pods -= 1;
    const nz = nonZeroRequests(pod);
    this.nonZeroRequested.milliCPU -= nz.milliCPU;
    this.nonZeroRequested.memory -= nz.memory;
    const owner = controllerRef(pod)?.uid;
    if (owner) {
      const n = (this.owners.get(owner) ?? 1) - 1;
      if (n <= 0) this.owners.delete(owner);
      else this.owners.set(owner, n);
    }
  }
}

const requestsCache = new WeakMap<Pod, Resources>();

/** A pod's cpu/memory requests (memoized per object: pods are immutable snapshots from the cache). */
export function podRequests(pod: Pod): Resources {
  let r = requestsCache.get(pod);
  if (!r) requestsCache.set(pod, (r = computeRequests(pod)));
  return r;
}

function computeRequests(pod: Pod): Resources {
  let cpu = 0;
  let mem = 0;
  for (const c of pod.spec.containers ?? []) {
    cpu += milliCPU(c.resources?.requests?.cpu);
    mem += intValue(c.resources?.requests?.memory);
  }
  // An init container runs alone, so a pod needs the larger of its biggest init container and the sum.
  for (const c of pod.spec.initContainers ?? []) {
    cpu = Math.max(cpu, milliCPU(c.resources?.requests?.cpu));
    mem = Math.max(mem, intValue(c.resources?.requests?.memory));
  }
  return { milliCPU: cpu, memory: mem, pods: 1 };
}

const DEFAULT_MILLI_CPU = 100;
const DEFAULT_MEMORY = 200 * 1024 * 1024;

const nonZeroCache = new WeakMap<Pod, Resources>();

function nonZeroRequests(pod: Pod): Resources {
  let r = nonZeroCache.get(pod);
  if (!r) nonZeroCache.set(pod, (r = computeNonZero(pod)));
  return r;
}

function computeNonZero(pod: Pod): Resources {
  let cpu = 0;
  let mem = 0;
  for (const c of pod.spec.containers ?? []) {
    const r = c.resources?.requests;
    cpu += r?.cpu !== undefined ? milliCPU(r.cpu) : DEFAULT_MILLI_CPU;
    mem += r?.memory !== undefined ? intValue(r.memory) : DEFAULT_MEMORY;
  }
  return { milliCPU: cpu, memory: mem, pods: 1 };
}

/** Why a node was rejected, worded as kube-scheduler words it (counted in FailedScheduling messages). */
export type FilterFailure = string;

export function tolerates(tolerations: Toleration[] | undefined, taint: Taint): boolean {
  return (tolerations ?? []).some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return !t.key || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}

/** Runs every filter; returns undefined if the pod fits, else the first reason it does not. */
export function filterNode(pod: Pod, info: NodeInfo): FilterFailure | undefined {
  const node = info.node;
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return 'node(s) had untolerated taint {node.kubernetes.io/not-ready: }';
  if (
    node.spec?.unschedulable &&
    !tolerates(pod.spec.tolerations, { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' })
  ) {
    return 'node(s) were unschedulable';
  }
  for (const t of node.spec?.taints ?? []) {
    if (t.effect === 'PreferNoSchedule') continue;
    if (!tolerates(pod.spec.tolerations, t))
      return `node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`;
  }
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(pod.spec.nodeSelector ?? {})) {
    if (labels[k] !== v) return "node(s) didn't match Pod's node affinity/selector";
  }
  const alloc = info.allocatable;
  const req = podRequests(pod);
  if (info.requested.pods + 1 > alloc.pods) return 'Too many pods';
  if (req.milliCPU > 0 && info.requested.milliCPU + req.milliCPU > alloc.milliCPU) return 'Insufficient cpu';
  if (req.memory > 0 && info.requested.memory + req.memory > alloc.memory) return 'Insufficient memory';
  return undefined;
}

/** 0..100: more free cpu and memory after placing the pod scores higher (LeastAllocated). */
export function leastAllocatedScore(pod: Pod, info: NodeInfo): number {
  const alloc = info.allocatable;
  const nz = nonZeroRequests(pod);
  const part = (requested: number, capacity: number) =>
    capacity <= 0 || requested > capacity ? 0 : ((capacity - requested) * 100) / capacity;
  return (
    (part(info.nonZeroRequested.milliCPU + nz.milliCPU, alloc.milliCPU) +
      part(info.nonZeroRequested.memory + nz.memory, alloc.memory)) /
    2
  );
}

/** 0..100: fewer pods of the same controller already on the node scores higher (spread replicas). */
export function spreadScore(pod: Pod, info: NodeInfo, maxOnAnyNode: number): number {
  const owner = controllerRef(pod)?.uid;
  if (!owner || maxOnAnyNode === 0) return 100;
  return (100 * (maxOnAnyNode - (info.owners.get(owner) ?? 0))) / maxOnAnyNode;
}

export interface Decision {
  node?: string;
  /** Reasons per node when none fit, counted: "3 Insufficient cpu". */
  reasons: Map<string, number>;
  feasible: number;
}

/**
 * Picks a node for the pod: filter all, score the feasible ones (equal weights), take the best; ties go
 * to the node after the previous pick in name order, so equal nodes are used in turn.
 */
export function schedule(pod: Pod, nodes: NodeInfo[], lastPick = ''): Decision {
  const reasons = new Map<string, number>();
  const feasible: NodeInfo[] = [];
  for (const n of nodes) {
    const why = filterNode(pod, n);
    if (why) reasons.set(why, (reasons.get(why) ?? 0) + 1);
    else feasible.push(n);
  }
  if (feasible.length === 0) return { reasons, feasible: 0 };
  const owner = controllerRef(pod)?.uid;
  let maxOwned = 0;
  if (owner) for (const n of feasible) maxOwned = Math.max(maxOwned, n.owners.get(owner) ?? 0);
  let best: NodeInfo | undefined;
  let bestScore = -1;
  let bestAfterLast: NodeInfo | undefined;
  let bestAfterLastScore = -1;
  for (const n of feasible) {
    const s = Math.round(leastAllocatedScore(pod, n) + spreadScore(pod, n, maxOwned));
    if (s > bestScore) {
      bestScore = s;
      best = n;
    }
    if (n.node.metadata.name! > lastPick && s > bestAfterLastScore) {
      bestAfterLastScore = s;
      bestAfterLast = n;
    }
  }
  const pick = bestAfterLast && bestAfterLastScore === bestScore ? bestAfterLast : best!;
  return { node: pick.node.metadata.name, reasons, feasible: feasible.length };
}

/** "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {...}." */
export function failureMessage(total: number, reasons: Map<string, number>): string {
  const parts = [...reasons].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([r, n]) => `${n} ${r}`);
  return `0/${total} nodes are available${parts.length ? ': ' + parts.join(', ') : ''}.`;
}
