// A thin raw gRPC client over the same protos, for tests and benchmarks that must see exactly what the
// wire carries (headers, int64 strings, error codes) rather than a client library's interpretation.
import * as grpc from '@grpc/grpc-js';
import { loadProtos } from './proto.js';

export type Unary = (req: Record<string, unknown>) => Promise<any>;

export interface RawEtcdClient {
  kv: Record<'Range' | 'Put' | 'DeleteRange' | 'Txn' | 'Compact', Unary>;
  lease: Record<'LeaseGrant' | 'LeaseRevoke' | 'LeaseTimeToLive' | 'LeaseLeases', Unary>;
  maintenance: Record<'Status' | 'HashKV' | 'Alarm', Unary>;
  cluster: Record<'MemberList', Unary>;
  lock: Record<'Lock' | 'Unlock', Unary>;
  election: Record<'Campaign' | 'Proclaim' | 'Leader' | 'Resign', Unary>;
  /** A bidi Watch stream. */
  watch(): grpc.ClientDuplexStream<any, any>;
  observe(name: Buffer): grpc.ClientReadableStream<any>;
  close(): void;
}

function promisify(client: grpc.Client, method: string, deadlineMs: number): Unary {
  return (req) =>
    new Promise((resolve, reject) => {
      (client as any)[method](
        req,
        { deadline: Date.now() + deadlineMs },
        (err: grpc.ServiceError | null, resp: any) => (err ? reject(err) : resolve(resp)),
      );
    });
}

/** `endpoint` is host:port or an http:// URL. */
export function rawClient(endpoint: string, deadlineMs = 15_000): RawEtcdClient {
  const target = endpoint.replace(/^https?:\/\//, '');
  const p = loadProtos();
  const creds = grpc.credentials.createInsecure();
  const opts = { 'grpc.max_receive_message_length': -1 };
  const kv = new p.KV(target, creds, opts);
  const lease = new p.Lease(target, creds, opts);
  const mnt = new p.Maintenance(target, creds, opts);
  const cluster = new p.Cluster(target, creds, opts);
  const watch = new p.Watch(target, creds, opts);
  const lock = new p.Lock(target, creds, opts);
  const election = new p.Election(target, creds, opts);
  const u = (c: grpc.Client, ms: string[]) =>
    Object.fromEntries(ms.map((m) => [m, promisify(c, m, deadlineMs)])) as any;
  return {
    kv: u(kv, ['Range', 'Put', 'DeleteRange', 'Txn', 'Compact']),
    lease: u(lease, ['LeaseGrant', 'LeaseRevoke', 'LeaseTimeToLive', 'LeaseLeases']),
    maintenance: u(mnt, ['Status', 'HashKV', 'Alarm']),
    cluster: u(cluster, ['MemberList']),
    lock: u(lock, ['Lock', 'Unlock']),
    election: u(election, ['Campaign', 'Proclaim', 'Leader', 'Resign']),
    watch: () => (watch as any).Watch(),
    observe: (name) => (election as any).Observe({ name }),
    close: () => {
      for (const c of [kv, lease, mnt, cluster, watch, lock, election]) c.close();
    },
  };
}
