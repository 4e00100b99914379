// An EventRecorder writes core/v1 Events about what a component did. Repeats of the same event on the same
// object are aggregated into one Event with a rising count, as Kubernetes does, so `kubectl describe`
// shows "(x5 over 2m)". Sending is asynchronous and bounded: under overload events are dropped, never the
// reconcile that reported them.
import type { Event, KubeObject } from '../apimachinery/index.js';
import { isNotFound, Resources, type KubeClient } from '../apimachinery/client.js';
import { Logger } from '../common/index.js';
import { WorkQueue, runWorkers } from './workqueue.js';

interface Aggregate {
  namespace: string;
  name: string;
  event: Event;
  created: boolean;
  dirty: boolean;
}

/** Distinct (object, reason, message) series remembered for aggregation. */
const MAX_SERIES = 4096;
/** Events waiting to be sent; past it new ones are dropped. */
const MAX_PENDING = 2000;

/**
 * Kubernetes' spam filter: per (source, involved object) a token bucket of 25 events refilled at one per
 * 5 minutes, so a ReplicaSet creating 1,000 pods records its first 25 SuccessfulCreate events, not 1,000.
 */
export const SPAM_BURST = 25;
export const SPAM_REFILL_MS = 300_000;
const MAX_BUCKETS = 10_000;

export class SpamFilter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    readonly burst = SPAM_BURST,
    readonly refillMs = SPAM_REFILL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** True if an event about `objectKey` may be recorded now (and takes a token). */
  allow(objectKey: string): boolean {
    const now = this.now();
    let b = this.buckets.get(objectKey);
    if (!b) {
      if (this.buckets.size >= MAX_BUCKETS) this.buckets.delete(this.buckets.keys().next().value as string);
      b = { tokens: this.burst, at: now };
      this.buckets.set(objectKey, b);
    }
    const refill = Math.floor((now - b.at) / this.refillMs);
    if (refill > 0) {
      b.tokens = Math.min(this.burst, b.tokens + refill);
      b.at += refill * this.refillMs;
    }
    if (b.tokens <= 0) return false;
    b.tokens--;
    return true;
  }
}

export class EventRecorder {
  private readonly series = new Map<string, Aggregate>();
  private readonly queue = new WorkQueue<string>({ maxLength: MAX_PENDING, maxRetries: 3, baseDelayMs: 100 });
  private readonly workers: Promise<void>;
  private seq = 0;
  private readonly log: Logger;
  private readonly spam = new SpamFilter();
  /** Events suppressed by the spam filter (as Kubernetes, they are simply not recorded). */
  suppressed = 0;

  constructor(
    private readonly client: KubeClient,
    readonly component: string,
    readonly host = '',
    logger?: Logger,
    concurrency = 4,
  ) {
    this.log = logger?.child('events') ?? new Logger('events');
    this.workers = runWorkers(this.queue, concurrency, (k) => this.send(k));
  }

  event(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const m = obj.metadata;
    if (!this.spam.allow(`${m.uid ?? `${m.namespace}/${m.name}`}`)) {
      this.suppressed++;
      return;
    }
    const key = `${m.uid ?? m.name}|${type}|${reason}|${message}`;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    let agg = this.series.get(key);
    if (agg) {
      agg.event.count = (agg.event.count ?? 1) + 1;
      agg.event.lastTimestamp = now;
      agg.dirty = true;
      // Refresh its place in the LRU order.
      this.series.delete(key);
      this.series.set(key, agg);
    } else {
      const namespace = m.namespace || 'default';
      const name = `${m.name}.${(Date.now() * 1000 + (this.seq++ % 1000)).toString(16)}`;
      agg = {
        namespace,
        name,
        created: false,
        dirty: true,
        event: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name, namespace },
          involvedObject: {
            apiVersion: obj.apiVersion,
            kind: obj.kind,
            namespace: m.namespace,
            name: m.name,
            uid: m.uid,
            resourceVersion: m.resourceVersion,
          },
          reason,
          message,
          type,
          source: { component: this.component, ...(this.host ? { host: this.host } : {}) },
          reportingComponent: this.component,
          reportingInstance: this.host || this.component,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      };
      this.series.set(key, agg);
      this.evict();
    }
    this.queue.add(key);
  }

  /** Waits (bounded) for queued events to be sent; used on shutdown. */
  async flush(timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  async stop(): Promise<void> {
    this.queue.shutDown();
    await this.workers;
  }

  private evict(): void {
    for (const [k, a] of this.series) {
      if (this.series.size <= MAX_SERIES) break;
      if (!a.dirty) this.series.delete(k);
    }
  }

  private async send(key: string): Promise<void> {
    const agg = this.series.get(key);
    if (!agg || !agg.dirty) return;
    agg.dirty = false;
    if (agg.created) {
      const res = await this.client.patch(
        Resources.events,
        agg.name,
        { count: agg.event.count, lastTimestamp: agg.event.lastTimestamp },
        { namespace: agg.namespace },
      );
      if (res.ok) return;
      if (!isNotFound(res)) {
        agg.dirty = true;
        throw new Error(`event patch: ${res.status.message}`);
      }
      agg.created = false; // Expired or deleted: start the series again.
    }
    const res = await this.client.create(Resources.events, agg.event);
    if (!res.ok) {
      if (res.status.code === 404 || res.status.code === 403) {
        // Namespace gone or terminating: nothing will accept this event.
        this.log.debug('event dropped', { reason: agg.event.reason, message: res.status.message });
        return;
      }
      agg.dirty = true;
      throw new Error(`event create: ${res.status.message}`);
    }
    agg.created = true;
  }
}
