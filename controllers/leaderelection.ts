// Leader election on a coordination.k8s.io/v1 Lease through the API server, as client-go's leaderelection:
// acquire when the lease is free or expired, renew every retry period, step down when renewals keep
// failing past the renew deadline. Writes carry the lease's resourceVersion, so of two candidates racing
// for the same lease exactly one wins (the other gets 409 Conflict).
import type { Lease } from '../apimachinery/index.js';
import { isConflict, isNotFound, Resources, type KubeClient } from '../apimachinery/client.js';
import { Logger } from '../common/index.js';

export interface LeaderElectionConfig {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface LeaderCallbacks {
  /** Called once we hold the lease; `signal` aborts when we lose it or stop. */
  onStartedLeading(signal: AbortSignal): void;
  /** Called when we stop leading (lost the lease, or released it). */
  onStoppedLeading?(): void;
  onNewLeader?(identity: string): void;
}

/** RFC 3339 with microseconds: the wire form of metav1.MicroTime that Lease times use. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export interface LeaseRecord {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/**
 * Whether `identity` may take or keep the lease now. Expiry is judged by when *we* last saw the record
 * change (observedAtMs on our clock), not by renewTime, so clock skew between candidates does not matter.
 */
export function mayAcquire(
  record: LeaseRecord | undefined,
  identity: string,
  observedAtMs: number,
  nowMs: number,
  leaseDurationMs: number,
): boolean {
  if (!record || !record.holderIdentity) return true;
  if (record.holderIdentity === identity) return true;
  const duration = record.leaseDurationSeconds ? record.leaseDurationSeconds * 1000 : leaseDurationMs;
  return nowMs - observedAtMs >= duration;
}

/** The record to write when `identity` takes or renews the lease. */
export function nextRecord(
  current: LeaseRecord | undefined,
  identity: string,
  nowMs: number,
  leaseDurationMs: number,
): LeaseRecord {
  const now = microTime(nowMs);
  const holding = current?.holderIdentity === identity;
  return {
    holderIdentity: identity,
    leaseDurationSeconds: Math.max(1, Math.round(leaseDurationMs / 1000)),
    acquireTime: holding ? (current?.acquireTime ?? now) : now,
    renewTime: now,
    leaseTransitions: holding ? (current?.leaseTransitions ?? 0) : (current?.leaseTransitions ?? -1) + 1,
  };
}

export class LeaderElector {
  private observed: { rv: string; holder: string; renew: string } | undefined;
  private observedAt = 0;
  private lease: Lease | undefined;
  private leading = false;
  private stopped = false;
  private leadAbort: AbortController | undefined;
  private inflight: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly log: Logger;
  /** Identity of the holder we last saw (for logs and onNewLeader). */
  leader = '';

  constructor(
    private readonly client: KubeClient,
    readonly config: LeaderElectionConfig,
    private readonly callbacks: LeaderCallbacks,
    logger?: Logger,
    private readonly now: () => number = Date.now,
  ) {
    if (config.renewDeadlineMs >= config.leaseDurationMs) {
      throw new Error('leader election: renew deadline must be shorter than the lease duration');
    }
    if (config.retryPeriodMs >= config.renewDeadlineMs) {
      throw new Error('leader election: retry period must be shorter than the renew deadline');
    }
    this.log = logger?.child('leaderelection') ?? new Logger('leaderelection');
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Campaigns until leading, then renews until the lease is lost or stop() is called. */
  async run(): Promise<void> {
    while (!this.stopped) {
      // Acquire.
      while (!this.stopped && !(await this.tryAcquireOrRenew()))
        await this.sleep(this.jitter(this.config.retryPeriodMs));
      if (this.stopped) return;
      this.leading = true;
      this.leadAbort = new AbortController();
      this.log.info('became leader', {
        lease: `${this.config.namespace}/${this.config.name}`,
        identity: this.config.identity,
      });
      this.callbacks.onStartedLeading(this.leadAbort.signal);
      // Renew.
      let lastRenew = this.now();
      while (!this.stopped) {
        await this.sleep(this.config.retryPeriodMs);
        if (this.stopped) break;
        if (await this.tryAcquireOrRenew()) {
          lastRenew = this.now();
          continue;
        }
        if (this.now() - lastRenew >= this.config.renewDeadlineMs) {
          this.log.warn('failed to renew the lease within the renew deadline; stepping down');
          break;
        }
      }
      this.leading = false;
      this.leadAbort.abort();
      this.callbacks.onStoppedLeading?.();
      // A process that lost leadership exits (as kube-controller-manager does); a released one just returns.
      return;
    }
  }

  /** Stops campaigning; if leading, gives the lease up so a standby takes over at once. */
  async stop(): Promise<void> {
    const wasLeading = this.leading;
    this.stopped = true;
    this.wake?.();
    // Let an in-flight renewal land first, so it cannot overwrite the release below.
    await this.inflight;
    if (wasLeading && this.lease) {
      const spec = this.lease.spec ?? {};
      const released: Lease = {
        ...this.lease,
        spec: { ...spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(this.now()) },
      };
      const res = await this.client.update(Resources.leases, released);
      if (res.ok) this.log.info('released the lease');
      else
        this.log.warn('could not release the lease', { code: res.status.code, message: res.status.message });
    }
  }

  /** One attempt: true if we hold the lease afterwards. */
  tryAcquireOrRenew(): Promise<boolean> {
    const p = this.attempt();
    this.inflight = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  private async attempt(): Promise<boolean> {
    const { namespace, name, identity, leaseDurationMs } = this.config;
    const got = await this.client.get<Lease>(Resources.leases, name, namespace);
    const now = this.now();
    if (!got.ok) {
      if (!isNotFound(got)) {
        this.log.warn('could not read the lease', { code: got.status.code, message: got.status.message });
        return false;
      }
      const created = await this.client.create<Lease>(Resources.leases, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace },
        spec: nextRecord(undefined, identity, now, leaseDurationMs),
      });
      if (!created.ok) return false;
      this.observe(created.value, now);
      return true;
    }
    const lease = got.value;
    this.observe(lease, now);
    if (this.stopped || !mayAcquire(lease.spec, identity, this.observedAt, now, leaseDurationMs))
      return false;
    const updated = await this.client.update<Lease>(Resources.leases, {
      ...lease,
      spec: nextRecord(lease.spec, identity, now, leaseDurationMs),
    });
    if (!updated.ok) {
      if (!isConflict(updated)) this.log.warn('could not update the lease', { code: updated.status.code });
      return false;
    }
    this.observe(updated.value, now);
    return true;
  }

  private observe(lease: Lease, now: number): void {
    this.lease = lease;
    const spec = lease.spec ?? {};
    const rec = {
      rv: lease.metadata.resourceVersion ?? '',
      holder: spec.holderIdentity ?? '',
      renew: spec.renewTime ?? '',
    };
    if (!this.observed || this.observed.holder !== rec.holder || this.observed.renew !== rec.renew) {
      this.observed = rec;
      this.observedAt = now;
    }
    if (rec.holder && rec.holder !== this.leader) {
      this.leader = rec.holder;
      if (rec.holder !== this.config.identity) this.log.info('new leader observed', { leader: rec.holder });
      this.callbacks.onNewLeader?.(rec.holder);
    }
  }

  private jitter(ms: number): number {
    return Math.round(ms * (1 + Math.random() * 0.2));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        r();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        r();
      };
    });
  }
}
