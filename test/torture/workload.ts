// The torture clients: each loops over a mixed workload on a small key set (puts with unique values,
// linearizable gets and range reads, serializable range reads, the Kubernetes get-then-CAS update,
// deletes, lease grant/attach/revoke) and records every operation with its times and outcome.
import { isDefiniteFailure, type EtcdClient } from './client.js';
import { now, type HistoryOp, type KV, type OpKind } from './history.js';
import { Rng } from './rng.js';

export const PREFIX = '/t/';
const enc = (s: string) => Buffer.from(s);

export interface WorkloadOptions {
  clients: number;
  keys: number;
  seed: number;
  /** Per-request deadline. */
  deadlineMs: number;
  /** Picks the member endpoint for client c; called again after errors so clients move on. */
  clientFor: (c: number, attempt: number) => EtcdClient;
}

export function keyName(i: number): string {
  return `${PREFIX}k${i}`;
}

export function rangeEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  b[b.length - 1]!++;
  return b;
}

function toKV(kv: any): KV {
  return {
    key: Buffer.from(kv.key).toString(),
    value: Buffer.from(kv.value).toString(),
    modRev: Number(kv.modRevision),
    lease: String(kv.lease ?? '0'),
  };
}

export class Workload {
  readonly history: HistoryOp[] = [];
  /** Leases this run was told it got; attaches use only these. */
  private readonly leases: string[] = [];
  private stopped = false;
  private nextId = 0;
  private loops: Promise<void>[] = [];

  constructor(private readonly opts: WorkloadOptions) {}

  start(): void {
    for (let c = 0; c < this.opts.clients; c++) this.loops.push(this.loop(c));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  private async loop(c: number): Promise<void> {
    const rng = new Rng(this.opts.seed * 1000 + c + 1);
    let seq = 0;
    let attempt = 0;
    while (!this.stopped) {
      const client = this.opts.clientFor(c, attempt);
      const key = keyName(rng.int(this.opts.keys));
      const value = `c${c}-${seq++}`;
      const r = rng.next();
      let op: HistoryOp;
      if (r < 0.25) {
        const lease = this.leases.length > 0 && rng.chance(0.2) ? rng.pick(this.leases) : undefined;
        op = await this.put(c, client, key, value, lease);
      } else if (r < 0.45) op = await this.get(c, client, key);
      else if (r < 0.7) {
        // The Kubernetes update: read, then write only if nobody wrote in between.
        const g = await this.get(c, client, key);
        if (g.outcome !== 'ok') op = g;
        else op = await this.cas(c, client, key, g.kvs!.length ? g.kvs![0]!.modRev : 0, value);
      } else if (r < 0.78) op = await this.del(c, client, key);
      else if (r < 0.86) op = await this.range(c, client, rng.chance(0.3));
      else if (r < 0.93) op = await this.grant(c, client);
      else if (this.leases.length > 0) op = await this.revoke(c, client, rng.pick(this.leases));
      else op = await this.grant(c, client);
      attempt = op.outcome === 'ok' ? 0 : attempt + 1;
      if (op.outcome !== 'ok') {
        // Do not spin on a dead member: a short pause before the next try (a client-side backoff, not sync).
        await new Promise((res) => setTimeout(res, 20 + rng.int(80)));
      }
    }
  }

  private async record(
    c: number,
    client: EtcdClient,
    kind: OpKind,
    fields: Partial<HistoryOp>,
    isWrite: boolean,
    call: (deadlineMs: number) => Promise<Partial<HistoryOp>>,
  ): Promise<HistoryOp> {
    const op: HistoryOp = {
      id: this.nextId++,
      client: c,
      member: client.endpoint,
      kind,
      ...fields,
      call: now(),
      ret: 0,
      outcome: 'unknown',
    };
    this.history.push(op);
    try {
      Object.assign(op, await call(this.opts.deadlineMs));
      op.outcome = 'ok';
    } catch (err) {
      const e = err as { details?: string; message?: string };
      op.error = e.details || e.message || String(err);
      // A read that failed had no effect whatever happened; a write is "failed" only when certain.
      op.outcome = !isWrite || isDefiniteFailure(err) ? 'fail' : 'unknown';
    }
    op.ret = now();
    return op;
  }

  private put(c: number, client: EtcdClient, key: string, value: string, lease?: string): Promise<HistoryOp> {
    return this.record(c, client, 'put', { key, value, lease }, true, async (d) => {
      const r = await client.call('kv', 'Put', { key: enc(key), value: enc(value), lease: lease ?? '0' }, d);
      return { rev: Number(r.header.revision) };
    });
  }

  private get(c: number, client: EtcdClient, key: string): Promise<HistoryOp> {
    return this.record(c, client, 'get', { key }, false, async (d) => {
      const r = await client.call('kv', 'Range', { key: enc(key) }, d);
      return { rev: Number(r.header.revision), kvs: (r.kvs as any[]).map(toKV) };
    });
  }

  private range(c: number, client: EtcdClient, serializable: boolean): Promise<HistoryOp> {
    return this.record(c, client, serializable ? 'srange' : 'range', {}, false, async (d) => {
      const r = await client.call(
        'kv',
        'Range',
        { key: enc(PREFIX), rangeEnd: rangeEnd(PREFIX), serializable },
        d,
      );
      return { rev: Number(r.header.revision), kvs: (r.kvs as any[]).map(toKV) };
    });
  }

  private cas(c: number, client: EtcdClient, key: string, expect: number, value: string): Promise<HistoryOp> {
    return this.record(c, client, 'cas', { key, value, expect }, true, async (d) => {
      const r = await client.call(
        'kv',
        'Txn',
        {
          compare: [
            { result: 0 /* EQUAL */, target: 2 /* MOD */, key: enc(key), modRevision: String(expect) },
          ],
          success: [{ requestPut: { key: enc(key), value: enc(value) } }],
          failure: [{ requestRange: { key: enc(key) } }],
        },
        d,
      );
      const out: Partial<HistoryOp> = { rev: Number(r.header.revision), succeeded: !!r.succeeded };
      if (!r.succeeded) out.kvs = (r.responses[0].responseRange.kvs as any[]).map(toKV);
      return out;
    });
  }

  private del(c: number, client: EtcdClient, key: string): Promise<HistoryOp> {
    return this.record(c, client, 'del', { key }, true, async (d) => {
      const r = await client.call('kv', 'DeleteRange', { key: enc(key) }, d);
      return { rev: Number(r.header.revision), deleted: Number(r.deleted) };
    });
  }

  private grant(c: number, client: EtcdClient): Promise<HistoryOp> {
    // A TTL far beyond any run, so only revokes delete keys: expiry timing is not what this checks.
    return this.record(c, client, 'grant', {}, true, async (d) => {
      const r = await client.call('lease', 'LeaseGrant', { TTL: '3600', ID: '0' }, d);
      const id = String(r.ID);
      if (this.leases.length < 16) this.leases.push(id);
      return { rev: Number(r.header.revision), granted: id };
    });
  }

  private revoke(c: number, client: EtcdClient, lease: string): Promise<HistoryOp> {
    return this.record(c, client, 'revoke', { lease }, true, async (d) => {
      const r = await client.call('lease', 'LeaseRevoke', { ID: lease }, d);
      const i = this.leases.indexOf(lease);
      if (i >= 0) this.leases.splice(i, 1);
      return { rev: Number(r.header.revision) };
    });
  }
}
