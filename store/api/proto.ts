// Loads etcd's .proto files (kept in store/api/proto/) into gRPC service definitions, the way every
// etcd v3 client sees the wire: etcdserverpb, mvccpb, authpb, v3lockpb, v3electionpb.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The folder holding the .proto files: beside this file when run from source, in the source tree from dist/. */
export function protoDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'proto'), join(here, '..', '..', '..', 'store', 'api', 'proto')];
  for (const c of candidates) if (existsSync(join(c, 'rpc.proto'))) return c;
  throw new Error(`etcd .proto files not found (looked in ${candidates.join(', ')})`);
}

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: Number,
  defaults: true,
  oneofs: true,
  bytes: Buffer,
};

export interface EtcdProtos {
  KV: grpc.ServiceClientConstructor;
  Watch: grpc.ServiceClientConstructor;
  Lease: grpc.ServiceClientConstructor;
  Cluster: grpc.ServiceClientConstructor;
  Maintenance: grpc.ServiceClientConstructor;
  Auth: grpc.ServiceClientConstructor;
  Lock: grpc.ServiceClientConstructor;
  Election: grpc.ServiceClientConstructor;
}

let cached: EtcdProtos | undefined;

/** Parses the protos once per process; both the server and test/bench clients use it. */
export function loadProtos(): EtcdProtos {
  if (cached) return cached;
  const dir = protoDir();
  const def = protoLoader.loadSync(['rpc.proto', 'v3lock.proto', 'v3election.proto'], {
    ...LOADER_OPTIONS,
    includeDirs: [dir],
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    etcdserverpb: Record<string, grpc.ServiceClientConstructor>;
    v3lockpb: Record<string, grpc.ServiceClientConstructor>;
    v3electionpb: Record<string, grpc.ServiceClientConstructor>;
  };
  const e = pkg.etcdserverpb;
  cached = {
    KV: e.KV!,
    Watch: e.Watch!,
    Lease: e.Lease!,
    Cluster: e.Cluster!,
    Maintenance: e.Maintenance!,
    Auth: e.Auth!,
    Lock: pkg.v3lockpb.Lock!,
    Election: pkg.v3electionpb.Election!,
  };
  return cached;
}
