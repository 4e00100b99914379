// Expectations remember the pod creations and deletions a controller has asked for but not yet seen in
// its informer cache, so it does not act twice on a stale cache (over-creating while the watch lags).

interface Record_ {
  adds: number;
  dels: Set<string>;
  at: number;
}

/** After this long unmet expectations are presumed lost (a dropped watch event) and ignored. */
export const EXPECTATIONS_TTL_MS = 5 * 60_000;

export class Expectations {
  private readonly m = new Map<string, Record_>();

  constructor(private readonly now: () => number = Date.now) {}

  /** True when every expected creation and deletion was observed (or the record expired). */
  satisfied(key: string): boolean {
    const r = this.m.get(key);
    if (!r) return true;
    if (r.adds <= 0 && r.dels.size === 0) return true;
    return this.now() - r.at > EXPECTATIONS_TTL_MS;
  }

  expectCreations(key: string, n: number): void {
    const r = this.record(key);
    r.adds = n;
    r.at = this.now();
  }

  expectDeletions(key: string, podKeys: string[]): void {
    const r = this.record(key);
    r.dels = new Set(podKeys);
    r.at = this.now();
  }

  creationObserved(key: string, n = 1): void {
    const r = this.m.get(key);
    if (r) r.adds -= n;
  }

  deletionObserved(key: string, podKey: string): void {
    this.m.get(key)?.dels.delete(podKey);
  }

  pending(key: string): { adds: number; dels: number } {
    const r = this.m.get(key);
    return { adds: Math.max(0, r?.adds ?? 0), dels: r?.dels.size ?? 0 };
  }

  delete(key: string): void {
    this.m.delete(key);
  }

  private record(key: string): Record_ {
    let r = this.m.get(key);
    if (!r) this.m.set(key, (r = { adds: 0, dels: new Set(), at: this.now() }));
    return r;
  }
}
