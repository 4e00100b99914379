// Pure Deployment arithmetic: the pod-template hash that names ReplicaSets, maxSurge/maxUnavailable
// resolution, and how far a rolling update may scale the new and old ReplicaSets in one step.
import type { Deployment, PodTemplateSpec, ReplicaSet } from '../../apimachinery/index.js';

export const RevisionAnnotation = 'deployment.kubernetes.io/revision';
export const DesiredReplicasAnnotation = 'deployment.kubernetes.io/desired-replicas';
export const MaxReplicasAnnotation = 'deployment.kubernetes.io/max-replicas';
export const PodTemplateHashLabel = 'pod-template-hash';

/** JSON with object keys sorted: equal objects give equal strings whatever their key order. */
export function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
    .join(',')}}`;
}

/** 32-bit FNV-1a over the UTF-8 bytes of `s`. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

// Kubernetes' SafeEncodeString alphabet: no vowels (no accidental words) and no look-alikes (0/o, 1/l).
const ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

export function safeEncode(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += ALPHANUMS[s.charCodeAt(i) % ALPHANUMS.length];
  return out;
}

/** The template without the pod-template-hash label: what "same template" compares. */
export function templateWithoutHash(t: PodTemplateSpec | undefined): PodTemplateSpec | undefined {
  if (!t) return t;
  const labels = { ...(t.metadata?.labels ?? {}) };
  delete labels[PodTemplateHashLabel];
  return { ...t, metadata: { ...(t.metadata ?? {}), labels } };
}

/** The pod-template-hash of a template (plus the Deployment's collisionCount, when non-zero). */
export function computeHash(template: PodTemplateSpec, collisionCount?: number): string {
  let s = stableStringify(templateWithoutHash(template));
  if (collisionCount) s += `#${collisionCount}`;
  return safeEncode(String(fnv1a32(s)));
}

export function equalIgnoreHash(a: PodTemplateSpec | undefined, b: PodTemplateSpec | undefined): boolean {
  return stableStringify(templateWithoutHash(a)) === stableStringify(templateWithoutHash(b));
}

/** An int-or-percent of `total`: percentages round up for surge, down for unavailable. */
export function scaledValue(
  v: number | string | undefined,
  total: number,
  roundUp: boolean,
  dflt: string,
): number {
  const x = v ?? dflt;
  if (typeof x === 'number') return x;
  const m = /^(\d+)%$/.exec(x);
  if (!m) {
    const n = Number(x);
    if (Number.isInteger(n)) return n;
    throw new Error(`invalid int-or-percent "${x}"`);
  }
  const f = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(f) : Math.floor(f);
}

/** maxSurge and maxUnavailable as pod counts; both zero would deadlock, so unavailable becomes 1. */
export function resolveFenceposts(d: Deployment): { maxSurge: number; maxUnavailable: number } {
  const replicas = d.spec.replicas ?? 1;
  const ru = d.spec.strategy?.rollingUpdate;
  const maxSurge = scaledValue(ru?.maxSurge, replicas, true, '25%');
  let maxUnavailable = scaledValue(ru?.maxUnavailable, replicas, false, '25%');
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  if (maxUnavailable > replicas) maxUnavailable = replicas;
  return { maxSurge, maxUnavailable };
}

export function specReplicas(rs: ReplicaSet): number {
  return rs.spec.replicas ?? 0;
}

/**
 * Pods an RS may have right now: its spec, or more while its controller has not yet deleted pods after a
 * scale-down (status.replicas still higher). Using this bound keeps surge honest while caches lag.
 */
export function podsUpperBound(rs: ReplicaSet): number {
  return Math.max(specReplicas(rs), rs.status?.replicas ?? 0);
}

/** Available pods an RS will keep: never more than its spec (a scale-down is deleting the rest). */
export function availableLowerBound(rs: ReplicaSet): number {
  return Math.min(specReplicas(rs), rs.status?.availableReplicas ?? 0);
}

/** The new RS's replicas after one rolling-update scale-up step. */
export function newRSReplicasForRollingUpdate(d: Deployment, all: ReplicaSet[], newRS: ReplicaSet): number {
  const replicas = d.spec.replicas ?? 1;
  const { maxSurge } = resolveFenceposts(d);
  const current = all.reduce((s, rs) => s + podsUpperBound(rs), 0);
  const maxTotal = replicas + maxSurge;
  if (current >= maxTotal) return specReplicas(newRS);
  const up = Math.min(maxTotal - current, replicas - specReplicas(newRS));
  return specReplicas(newRS) + Math.max(0, up);
}

/**
 * How many old pods a rolling update may remove now without dropping below replicas - maxUnavailable
 * available pods: scale-downs, oldest RS first, as [rs, newReplicas] pairs.
 */
export function oldRSScaleDowns(
  d: Deployment,
  oldRSs: ReplicaSet[],
  newRS: ReplicaSet | undefined,
): [ReplicaSet, number][] {
  const replicas = d.spec.replicas ?? 1;
  const { maxUnavailable } = resolveFenceposts(d);
  const minAvailable = replicas - maxUnavailable;
  const all = newRS ? [...oldRSs, newRS] : oldRSs;
  const oldCount = oldRSs.reduce((s, rs) => s + specReplicas(rs), 0);
  if (oldCount === 0) return [];
  const allCount = all.reduce((s, rs) => s + podsUpperBound(rs), 0);
  const newUnavailable = newRS
    ? Math.max(0, specReplicas(newRS) - (newRS.status?.availableReplicas ?? 0))
    : 0;
  let budget = allCount - minAvailable - newUnavailable;
  if (budget <= 0) return [];
  const sorted = [...oldRSs].sort(byCreation);
  const next = new Map<ReplicaSet, number>(sorted.map((rs) => [rs, specReplicas(rs)]));
  // First remove old pods that are not available anyway: that costs no availability.
  for (const rs of sorted) {
    if (budget <= 0) break;
    const spec = next.get(rs)!;
    const unhealthy = spec - Math.min(spec, rs.status?.availableReplicas ?? 0);
    if (unhealthy <= 0) continue;
    const down = Math.min(budget, unhealthy);
    next.set(rs, spec - down);
    budget -= down;
  }
  // Then available ones, down to the minimum availability.
  const available = all.reduce(
    (s, rs) => s + Math.min(next.get(rs) ?? specReplicas(rs), rs.status?.availableReplicas ?? 0),
    0,
  );
  let removable = available - minAvailable;
  for (const rs of sorted) {
    if (removable <= 0) break;
    const spec = next.get(rs)!;
    if (spec === 0) continue;
    const down = Math.min(spec, removable);
    next.set(rs, spec - down);
    removable -= down;
  }
  return sorted.filter((rs) => next.get(rs)! !== specReplicas(rs)).map((rs) => [rs, next.get(rs)!]);
}

export function byCreation(a: ReplicaSet, b: ReplicaSet): number {
  const x = a.metadata.creationTimestamp ?? '';
  const y = b.metadata.creationTimestamp ?? '';
  if (x !== y) return x < y ? -1 : 1;
  return (a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1;
}

export function revisionOf(rs: ReplicaSet): number {
  const n = Number(rs.metadata.annotations?.[RevisionAnnotation] ?? '0');
  return Number.isFinite(n) ? n : 0;
}
