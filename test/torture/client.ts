// Raw gRPC clients on the project's etcd protos, with a deadline on every request, so a torture client
// sees exactly what the wire says and can tell a definite error from an unknown outcome.
import * as grpc from '@grpc/grpc-js';
import { loadProtos } from '../../store/api/index.js';

export interface EtcdClient {
  endpoint: string;
  call(service: Service, method: string, req: Record<string, unknown>, deadlineMs: number): Promise<any>;
  watch(): grpc.ClientDuplexStream<any, any>;
  close(): void;
}

type Service = 'kv' | 'lease' | 'maintenance' | 'cluster';

export function etcdClient(endpoint: string): EtcdClient {
  const target = endpoint.replace(/^https?:\/\//, '');
  const p = loadProtos();
  const creds = grpc.credentials.createInsecure();
  // Reconnect quickly after a member restarts; the torture run is all about reconnecting.
  const opts = {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 1000,
  };
  const clients: Record<Service | 'watch', grpc.Client> = {
    kv: new p.KV(target, creds, opts),
    lease: new p.Lease(target, creds, opts),
    maintenance: new p.Maintenance(target, creds, opts),
    cluster: new p.Cluster(target, creds, opts),
    watch: new p.Watch(target, creds, opts),
  };
  return {
    endpoint,
    call: (service, method, req, deadlineMs) =>
      new Promise((resolve, reject) => {
        (clients[service] as any)[method](
          req,
          { deadline: Date.now() + deadlineMs },
          (err: grpc.ServiceError | null, resp: any) => (err ? reject(err) : resolve(resp)),
        );
      }),
    watch: () => (clients.watch as any).Watch(),
    close: () => {
      for (const c of Object.values(clients)) c.close();
    },
  };
}

/**
 * Did a failed write certainly not happen? Only errors the server gives before proposing count; a
 * time-out, a dropped connection or a server-side "timed out" may have been committed after all.
 */
export function isDefiniteFailure(err: unknown): boolean {
  const e = err as { code?: number; details?: string; message?: string };
  const msg = `${e.details ?? ''} ${e.message ?? ''}`;
  if (
    /no leader|too many requests|lease not found|request is too large|too many operations|duplicate key|not capable|No connection established|ECONNREFUSED/i.test(
      msg,
    )
  ) {
    return true;
  }
  return e.code === grpc.status.INVALID_ARGUMENT;
}
