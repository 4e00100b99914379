// Prometheus metrics of a store node, under etcd's metric names where etcd has one, so existing
// dashboards and alerts (e.g. wal_fsync_duration p99) carry over.
import client from 'prom-client';

export class Metrics {
  readonly registry = new client.Registry();

  readonly grpcHandled = new client.Counter({
    name: 'grpc_server_handled_total',
    help: 'Total number of RPCs completed on the server, regardless of success or failure.',
    labelNames: ['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code'] as const,
    registers: [this.registry],
  });
  readonly grpcSeconds = new client.Histogram({
    name: 'grpc_server_handling_seconds',
    help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
    labelNames: ['grpc_type', 'grpc_service', 'grpc_method'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  /**
   * The two gRPC metrics' children for one call type, method and code, made once: prom-client's labelled
   * inc/observe hashes the label object on every call, which was ~1 KB of garbage per request.
   */
  private readonly rpcChildren = new Map<
    string,
    { handled: { inc(): void }; seconds: { observe(v: number): void } }
  >();

  /** Counts one finished RPC and its latency. */
  observeRpc(type: string, service: string, method: string, code: string, seconds: number): void {
    const key = `${type} ${service} ${method} ${code}`;
    let c = this.rpcChildren.get(key);
    if (!c) {
      c = {
        handled: this.grpcHandled.labels(type, service, method, code),
        seconds: this.grpcSeconds.labels(type, service, method),
      };
      this.rpcChildren.set(key, c);
    }
    c.handled.inc();
    c.seconds.observe(seconds);
  }

  readonly hasLeader = new client.Gauge({
    name: 'etcd_server_has_leader',
    help: 'Whether or not a leader exists. 1 is existence, 0 is not.',
    registers: [this.registry],
  });
  readonly isLeader = new client.Gauge({
    name: 'etcd_server_is_leader',
    help: 'Whether or not this member is a leader. 1 if is, 0 otherwise.',
    registers: [this.registry],
  });
  readonly leaderChanges = new client.Counter({
    name: 'etcd_server_leader_changes_seen_total',
    help: 'The number of leader changes seen.',
    registers: [this.registry],
  });
  readonly term = new client.Gauge({
    name: 'etcd_server_raft_term',
    help: 'The current Raft term of this member.',
    registers: [this.registry],
  });
  readonly committedIndex = new client.Gauge({
    name: 'etcd_server_proposals_committed_total',
    help: 'The total number of consensus proposals committed.',
    registers: [this.registry],
  });
  readonly appliedIndex = new client.Gauge({
    name: 'etcd_server_proposals_applied_total',
    help: 'The total number of consensus proposals applied.',
    registers: [this.registry],
  });
  readonly proposalsPending = new client.Gauge({
    name: 'etcd_server_proposals_pending',
    help: 'The current number of pending proposals to commit.',
    registers: [this.registry],
  });
  readonly proposalsFailed = new client.Counter({
    name: 'etcd_server_proposals_failed_total',
    help: 'The total number of failed proposals seen.',
    registers: [this.registry],
  });
  readonly walFsync = new client.Histogram({
    name: 'etcd_disk_wal_fsync_duration_seconds',
    help: 'The latency distributions of fsync called by WAL.',
    buckets: [
      0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192,
    ],
    registers: [this.registry],
  });
  readonly walBatchEntries = new client.Histogram({
    name: 'etcd_disk_wal_batch_entries',
    help: 'Entries written per WAL sync (group commit size).',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [this.registry],
  });
  readonly snapshotSave = new client.Histogram({
    name: 'etcd_debugging_snap_save_total_duration_seconds',
    help: 'The total latency distributions of save called by snapshot.',
    buckets: [0.001, 0.01, 0.1, 0.5, 1, 2, 5, 10],
    registers: [this.registry],
  });
  readonly dbSize = new client.Gauge({
    name: 'etcd_mvcc_db_total_size_in_bytes',
    help: 'Total size of the underlying database physically allocated in bytes.',
    registers: [this.registry],
  });
  readonly currentRevision = new client.Gauge({
    name: 'etcd_debugging_mvcc_current_revision',
    help: 'The current revision of store.',
    registers: [this.registry],
  });
  readonly compactRevision = new client.Gauge({
    name: 'etcd_debugging_mvcc_compact_revision',
    help: 'The revision of the last compaction in store.',
    registers: [this.registry],
  });
  readonly watchers = new client.Gauge({
    name: 'etcd_debugging_mvcc_watcher_total',
    help: 'Total number of watchers.',
    registers: [this.registry],
  });
  readonly watchStreams = new client.Gauge({
    name: 'etcd_debugging_mvcc_watch_stream_total',
    help: 'Total number of watch streams.',
    registers: [this.registry],
  });
  readonly slowWatchers = new client.Gauge({
    name: 'etcd_debugging_mvcc_slow_watcher_total',
    help: 'Total number of unsynced slow watchers.',
    registers: [this.registry],
  });
  readonly leases = new client.Gauge({
    name: 'etcd_server_leases',
    help: 'The number of leases currently granted.',
    registers: [this.registry],
  });
  readonly leasesExpired = new client.Counter({
    name: 'etcd_debugging_server_lease_expired_total',
    help: 'The total number of expired leases.',
    registers: [this.registry],
  });

  private sources: (() => void)[] = [];

  constructor() {
    client.collectDefaultMetrics({ register: this.registry });
  }

  /** Registers a function that refreshes gauges right before each scrape. */
  onScrape(fn: () => void): void {
    this.sources.push(fn);
  }

  async text(): Promise<string> {
    for (const fn of this.sources) fn();
    return this.registry.metrics();
  }
}
