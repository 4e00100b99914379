// The window of MsgApps sent to one follower and not yet acknowledged: a bounded ring of (last index, bytes).

export class Inflights {
  private start = 0;
  private count = 0;
  private bytes = 0;
  private readonly indexes: number[];
  private readonly sizes: number[];

  constructor(
    readonly size: number,
    readonly maxBytes: number,
  ) {
    this.indexes = new Array<number>(size).fill(0);
    this.sizes = new Array<number>(size).fill(0);
  }

  /** Record a MsgApp whose last entry is `index`; indexes must grow. */
  add(index: number, bytes: number): void {
    if (this.full()) throw new Error('raft: cannot add into a full inflights');
    const next = (this.start + this.count) % this.size;
    this.indexes[next] = index;
    this.sizes[next] = bytes;
    this.count++;
    this.bytes += bytes;
  }

  /** The follower acknowledged everything up to `to`. */
  freeLE(to: number): void {
    if (this.count === 0 || to < this.indexes[this.start]!) return;
    let i = 0;
    let idx = this.start;
    for (; i < this.count; i++) {
      if (to < this.indexes[idx]!) break;
      this.bytes -= this.sizes[idx]!;
      idx = (idx + 1) % this.size;
    }
    this.count -= i;
    this.start = idx;
    if (this.count === 0) this.start = 0;
  }

  /** Forget the oldest message, assuming it was lost (a heartbeat answer showed the follower is alive). */
  freeFirstOne(): void {
    if (this.count > 0) this.freeLE(this.indexes[this.start]!);
  }

  full(): boolean {
    return this.count === this.size || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }

  len(): number {
    return this.count;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}
