// Request and lease ids as etcd's idutil.Generator makes them: the member id's low 16 bits, then a
// millisecond timestamp (40 bits) and an 8-bit counter that carries into it. Unique across restarts of
// the member (time moves on) and across members (the prefix), without coordination.
export class IdGenerator {
  private readonly prefix: bigint;
  private suffix: bigint;

  constructor(memberId: bigint, nowMs: number = Date.now()) {
    this.prefix = (memberId & 0xffffn) << 48n;
    this.suffix = (BigInt(nowMs) & ((1n << 40n) - 1n)) << 8n;
  }

  next(): bigint {
    this.suffix = (this.suffix + 1n) & ((1n << 48n) - 1n);
    return this.prefix | this.suffix;
  }

  /** A lease id: positive int64, never 0. */
  nextLeaseId(): bigint {
    let id = 0n;
    while (id === 0n) id = this.next() & ((1n << 63n) - 1n);
    return id;
  }
}
