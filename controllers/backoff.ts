// Exponential backoff with a ceiling, per key (work queue retries) or standalone (re-list after a broken watch).

/** Delay for the n-th consecutive failure (n starts at 0): base * 2^n, capped at max. */
export function backoffDelay(failures: number, baseMs: number, maxMs: number): number {
  if (failures < 0) throw new Error('backoffDelay: negative failure count');
  // 2^n overflows to Infinity past n=1023; cap the exponent first so the result stays a finite number.
  const exp = Math.min(failures, 52);
  return Math.min(maxMs, baseMs * 2 ** exp);
}

/** Remembers consecutive failures per key; `forget` resets a key after a success. Bounded by maxKeys. */
export class ItemBackoff<K = string> {
  private readonly failures = new Map<K, number>();

  constructor(
    readonly baseMs = 5,
    readonly maxMs = 60_000,
    readonly maxKeys = 100_000,
  ) {}

  /** Records one more failure of `key` and returns how long to wait before retrying it. */
  when(key: K): number {
    const n = this.failures.get(key) ?? 0;
    if (!this.failures.has(key) && this.failures.size >= this.maxKeys) {
      // Too many distinct failing keys: evict the oldest rather than grow without bound.
      const oldest = this.failures.keys().next().value as K;
      this.failures.delete(oldest);
    }
    this.failures.set(key, n + 1);
    return backoffDelay(n, this.baseMs, this.maxMs);
  }

  retries(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: K): void {
    this.failures.delete(key);
  }
}

/** A single backoff sequence with jitter (for reconnect loops). */
export class Backoff {
  private n = 0;
  constructor(
    readonly baseMs = 100,
    readonly maxMs = 30_000,
    readonly jitter = 0.2,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const d = backoffDelay(this.n++, this.baseMs, this.maxMs);
    return Math.round(d * (1 + this.jitter * (this.random() * 2 - 1)));
  }

  reset(): void {
    this.n = 0;
  }
}
