// A rate-limited work queue of keys, as client-go's: a key queued many times is processed once, never by
// two workers at the same time, and failures are retried with per-key exponential backoff.
import { ItemBackoff } from './backoff.js';

export interface WorkQueueOptions {
  /** Most distinct keys waiting; adds past it are dropped (level-triggered resyncs bring them back). */
  maxLength?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** After this many consecutive failures a key is dropped until something enqueues it afresh. */
  maxRetries?: number;
}

export class WorkQueue<K = string> {
  private readonly queue: K[] = [];
  private head = 0;
  /** Keys waiting to be processed (in `queue`, or re-queued when their current processing ends). */
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly delayed = new Map<K, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: ((k: K | undefined) => void)[] = [];
  private readonly backoff: ItemBackoff<K>;
  private shuttingDown = false;
  readonly maxLength: number;
  readonly maxRetries: number;
  dropped = 0;

  constructor(opts: WorkQueueOptions = {}) {
    this.maxLength = opts.maxLength ?? 100_000;
    this.maxRetries = opts.maxRetries ?? 15;
    this.backoff = new ItemBackoff<K>(opts.baseDelayMs ?? 5, opts.maxDelayMs ?? 30_000, this.maxLength);
  }

  get length(): number {
    return this.queue.length - this.head;
  }

  /** Queues `key` unless it is already waiting. Returns false if it was dropped (queue full or shut down). */
  add(key: K): boolean {
    if (this.shuttingDown) return false;
    if (this.dirty.has(key)) return true;
    if (this.dirty.size >= this.maxLength) {
      this.dropped++;
      return false;
    }
    this.dirty.add(key);
    // A key being processed is re-queued by done(), so one key never runs on two workers at once.
    if (this.processing.has(key)) return true;
    const w = this.waiters.shift();
    if (w) {
      this.dirty.delete(key);
      this.processing.add(key);
      w(key);
      return true;
    }
    this.queue.push(key);
    return true;
  }

  /** Queues `key` after `ms` (an earlier pending add for the same key wins). */
  addAfter(key: K, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + ms;
    const prev = this.delayed.get(key);
    if (prev && prev.at <= at) return;
    if (prev) clearTimeout(prev.timer);
    if (!prev && this.delayed.size >= this.maxLength) {
      this.dropped++;
      return;
    }
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, timer });
  }

  /** Re-queues a key that failed, after its backoff; gives up after maxRetries. Returns false if dropped. */
  addRateLimited(key: K): boolean {
    if (this.backoff.retries(key) >= this.maxRetries) {
      this.backoff.forget(key);
      this.dropped++;
      return false;
    }
    this.addAfter(key, this.backoff.when(key));
    return true;
  }

  /** Clears a key's failure history (call after it was processed successfully). */
  forget(key: K): void {
    this.backoff.forget(key);
  }

  retries(key: K): number {
    return this.backoff.retries(key);
  }

  /** The next key to process, or undefined once the queue is shut down. Call done(key) afterwards. */
  get(): Promise<K | undefined> {
    if (this.length > 0) {
      const key = this.queue[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: K): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const d of this.delayed.values()) clearTimeout(d.timer);
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }
}

/**
 * Runs `workers` loops that take keys and reconcile them: a thrown error or a `false` result re-queues
 * the key with backoff; success forgets its failures. Resolves when the queue shuts down and all finish.
 */
export async function runWorkers<K>(
  queue: WorkQueue<K>,
  workers: number,
  reconcile: (key: K) => Promise<void>,
  onError: (key: K, err: unknown) => void = () => {},
): Promise<void> {
  const loop = async () => {
    while (true) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        await reconcile(key);
        queue.forget(key);
      } catch (err) {
        onError(key, err);
        queue.addRateLimited(key);
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
}
