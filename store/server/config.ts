// A store node's configuration: etcd's flag names and defaults, parsed with commander.
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseGoDuration, parseLogLevel, type LogLevel } from '../../common/index.js';
import { parseInitialCluster, parseURLs } from './members.js';
import type { TlsFiles } from './tls.js';
import { parseTokenOptions, type TokenOptions } from '../auth/index.js';

export interface StoreConfig {
  name: string;
  dataDir: string;
  listenClientURLs: string[];
  advertiseClientURLs: string[];
  listenPeerURLs: string[];
  initialAdvertisePeerURLs: string[];
  initialCluster: Map<string, string[]>;
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  snapshotCount: number;
  /** Entries kept in the Raft log after a snapshot, for slow followers to catch up from. */
  snapshotCatchUpEntries: number;
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  quotaBackendBytes: number;
  maxRequestBytes: number;
  maxTxnOps: number;
  /** HTTP/2 streams (concurrent calls) one client connection may have open. */
  maxConcurrentStreams: number;
  listenMetricsURLs: string[];
  autoCompactionMode: 'periodic' | 'revision';
  /** periodic: milliseconds; revision: a revision count. 0 disables. */
  autoCompactionRetention: number;
  logLevel: LogLevel;
  /** A backup (etcdctl snapshot save) to seed a new data dir from. */
  restoreFrom?: string;
  /** Restore from a file without the trailing sha256 (etcdctl snapshot restore's --skip-hash-check). */
  skipHashCheck?: boolean;
  /** Restart this member as a one-member cluster with its data (etcd's disaster recovery). */
  forceNewCluster: boolean;
  /** Snapshot files kept (the newest); 0 keeps all. */
  maxSnapshots: number;
  /** WAL segment files kept at least (older ones go once a snapshot covers them); 0 keeps all. */
  maxWals: number;
  /** How often watchers that asked for progress_notify get a progress response when idle. */
  watchProgressNotifyIntervalMs: number;
  /** Bound on a request's wait for commit + apply before `etcdserver: request timed out`. */
  requestTimeoutMs: number;
  /** --auth-token: simple tokens, or JWT with its keys, sign method and lifetime. */
  authToken: TokenOptions;
  /** How long an unused simple token lives (etcd --auth-token-ttl, seconds on the command line). */
  authTokenTtlMs: number;
  /** bcrypt cost for new passwords (etcd --bcrypt-cost, 4-31). */
  bcryptCost: number;
  /** --cert-file, --key-file, --trusted-ca-file, --client-cert-auth (https client and metrics URLs). */
  clientTLS: TlsFiles;
  /** --peer-cert-file, --peer-key-file, --peer-trusted-ca-file, --peer-client-cert-auth (https peer URLs). */
  peerTLS: TlsFiles;
}

export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;
export const MAX_QUOTA_BYTES = 8 * 1024 * 1024 * 1024;
/** etcd's default --max-concurrent-streams (math.MaxUint32), also the largest value HTTP/2 can carry. */
export const MAX_CONCURRENT_STREAMS = 0xffffffff;

function int(flag: string, min = 0) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v.trim())) throw new InvalidArgumentError(`${flag} must be an integer, got "${v}"`);
    const n = Number(v);
    if (n < min) throw new InvalidArgumentError(`${flag} must be >= ${min}, got ${n}`);
    return n;
  };
}

/** Parses etcd's retention: a bare number means hours (periodic) or revisions; or a Go duration like 30m, 1h30m, 10s. */
export function parseRetention(mode: 'periodic' | 'revision', v: string): number {
  const s = v.trim();
  if (mode === 'revision') {
    if (!/^\d+$/.test(s))
      throw new Error(`--auto-compaction-retention "${v}" must be a revision count in revision mode`);
    return Number(s);
  }
  if (/^\d+$/.test(s)) return Number(s) * 3600_000;
  const ms = parseGoDuration(s);
  if (ms === undefined) {
    throw new Error(`--auto-compaction-retention "${v}" is not a number of hours or a duration like 30m`);
  }
  return ms;
}

function duration(flag: string) {
  return (v: string): number => {
    const ms = parseGoDuration(v);
    if (ms === undefined || ms <= 0)
      throw new InvalidArgumentError(`${flag} must be a positive duration like 10m or 500ms, got "${v}"`);
    return ms;
  };
}

export function parseConfig(argv: string[], onExit?: (code: number) => never): StoreConfig {
  const program = new Command('store')
    .description('An etcd-compatible store node: etcd v3 gRPC API, Raft, WAL and snapshots.')
    .showHelpAfterError(false)
    .allowExcessArguments(false)
    .option('--name <name>', 'human-readable name for this member', 'default')
    .option('--data-dir <path>', 'path to the data directory (default "<name>.etcd")')
    .option(
      '--listen-client-urls <urls>',
      'list of URLs to listen on for client traffic',
      'http://localhost:2379',
    )
    .option(
      '--advertise-client-urls <urls>',
      "this member's client URLs to advertise",
      'http://localhost:2379',
    )
    .option(
      '--listen-peer-urls <urls>',
      'list of URLs to listen on for peer traffic',
      'http://localhost:2380',
    )
    .option(
      '--initial-advertise-peer-urls <urls>',
      "this member's peer URLs to advertise to the rest of the cluster",
      'http://localhost:2380',
    )
    .option(
      '--initial-cluster <members>',
      'initial cluster configuration for bootstrapping (default "<name>=<initial-advertise-peer-urls>")',
    )
    .addOption(
      new Option('--initial-cluster-state <state>', 'initial cluster state')
        .choices(['new', 'existing'])
        .default('new'),
    )
    .option(
      '--initial-cluster-token <token>',
      'initial cluster token for the etcd cluster during bootstrap',
      'etcd-cluster',
    )
    .option(
      '--snapshot-count <n>',
      'number of committed transactions to trigger a snapshot to disk',
      int('--snapshot-count', 1),
      100000,
    )
    .option(
      '--snapshot-catchup-entries <n>',
      'entries kept after a snapshot for slow followers',
      int('--snapshot-catchup-entries', 1),
      5000,
    )
    .option(
      '--heartbeat-interval <ms>',
      'time (in milliseconds) of a heartbeat interval',
      int('--heartbeat-interval', 1),
      100,
    )
    .option(
      '--election-timeout <ms>',
      'time (in milliseconds) for an election to timeout',
      int('--election-timeout', 1),
      1000,
    )
    .option(
      '--quota-backend-bytes <bytes>',
      'raise alarms when backend size exceeds the given quota (0 defaults to 2 GiB)',
      int('--quota-backend-bytes'),
      0,
    )
    .option(
      '--max-request-bytes <bytes>',
      'maximum client request size in bytes the server will accept',
      int('--max-request-bytes', 1),
      1572864,
    )
    .option(
      '--max-txn-ops <n>',
      'maximum number of operations permitted in a transaction',
      int('--max-txn-ops', 1),
      128,
    )
    .option('--force-new-cluster', 'force to create a new one-member cluster', false)
    .option('--cert-file <path>', 'path to the client server TLS cert file')
    .option('--key-file <path>', 'path to the client server TLS key file')
    .option('--trusted-ca-file <path>', 'path to the client server TLS trusted CA cert file')
    .option('--client-cert-auth', 'enable client cert authentication', false)
    .option('--peer-cert-file <path>', 'path to the peer server TLS cert file')
    .option('--peer-key-file <path>', 'path to the peer server TLS key file')
    .option('--peer-trusted-ca-file <path>', 'path to the peer server TLS trusted CA file')
    .option('--peer-client-cert-auth', 'enable peer client cert authentication', false)
    .addOption(
      new Option(
        '--auth-token <type>',
        "v3 authentication token type and its options: 'simple', or 'jwt,pub-key=P,priv-key=K,sign-method=RS256,ttl=5m'",
      ).default('simple'),
    )
    .option(
      '--auth-token-ttl <seconds>',
      'time (in seconds) of the auth-token-ttl',
      int('--auth-token-ttl', 1),
      300,
    )
    .option(
      '--bcrypt-cost <n>',
      'cost of the bcrypt hashing of auth passwords (4 to 31)',
      (v: string) => {
        const n = int('--bcrypt-cost', 4)(v);
        if (n > 31) throw new InvalidArgumentError(`--bcrypt-cost must be <= 31, got ${n}`);
        return n;
      },
      10,
    )
    .option(
      '--max-snapshots <n>',
      'maximum number of snapshot files to retain (0 is unlimited)',
      int('--max-snapshots'),
      5,
    )
    .option('--max-wals <n>', 'maximum number of wal files to retain (0 is unlimited)', int('--max-wals'), 5)
    .option(
      '--experimental-watch-progress-notify-interval <duration>',
      'duration of periodical watch progress notification',
      duration('--experimental-watch-progress-notify-interval'),
      600_000,
    )
    .option(
      '--max-concurrent-streams <n>',
      'maximum concurrent streams that each client can open at a time',
      int('--max-concurrent-streams', 1),
      MAX_CONCURRENT_STREAMS,
    )
    .option(
      '--listen-metrics-urls <urls>',
      'list of URLs to listen on for the metrics and health endpoints',
      '',
    )
    .addOption(
      new Option(
        '--auto-compaction-mode <mode>',
        'interpret auto-compaction-retention as periodic (hours/duration) or revision',
      )
        .choices(['periodic', 'revision'])
        .default('periodic'),
    )
    .option('--auto-compaction-retention <value>', 'auto compaction retention (0 disables)', '0')
    .option(
      '--request-timeout <ms>',
      'how long a request waits for commit and apply before it fails',
      int('--request-timeout', 1),
      7000,
    )
    .option(
      '--restore-from <file>',
      'seed a new data dir (a new cluster of the --initial-cluster members) from a backup taken with `etcdctl snapshot save`, of this store or of etcd; ignored if the data dir holds a member',
    )
    .option(
      '--skip-hash-check',
      "with --restore-from: accept a file without the sha256 a snapshot ends with (e.g. a copy of an etcd member's member/snap/db)",
      false,
    )
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['debug', 'info', 'warn', 'error'])
        .default('info'),
    );
  program.exitOverride((err) => {
    if (onExit) onExit(err.exitCode);
    throw err;
  });
  program.configureOutput({
    writeErr: (s) => process.stderr.write(s.split('\n')[0]!.trim() ? s.split('\n')[0] + '\n' : s),
  });
  program.parse(argv, { from: 'user' });
  const o = program.opts();

  const fail = (msg: string): never => {
    process.stderr.write(`error: ${msg}\n`);
    if (onExit) onExit(2);
    throw new Error(msg);
  };
  try {
    const name = o.name as string;
    const iapu = parseURLs(o.initialAdvertisePeerUrls, '--initial-advertise-peer-urls');
    const initialCluster = parseInitialCluster(o.initialCluster ?? iapu.map((u) => `${name}=${u}`).join(','));
    if (!initialCluster.has(name)) {
      fail(`couldn't find local name "${name}" in the initial cluster configuration`);
    }
    const mine = [...initialCluster.get(name)!].sort().join(',');
    if (mine !== [...iapu].sort().join(',')) {
      fail(
        `--initial-cluster has ${name}=${mine} but missing from --initial-advertise-peer-urls=${iapu.join(',')}`,
      );
    }
    const clientTLS: TlsFiles = {
      certFile: o.certFile,
      keyFile: o.keyFile,
      trustedCaFile: o.trustedCaFile,
      clientCertAuth: !!o.clientCertAuth,
    };
    const peerTLS: TlsFiles = {
      certFile: o.peerCertFile,
      keyFile: o.peerKeyFile,
      trustedCaFile: o.peerTrustedCaFile,
      clientCertAuth: !!o.peerClientCertAuth,
    };
    // As etcd: an https URL needs its side's certificate and key.
    const https = (v: string | undefined) => (v ?? '').split(',').find((u) => u.includes('https://'));
    for (const [flag, v] of [
      ['--listen-client-urls', o.listenClientUrls],
      ['--listen-metrics-urls', o.listenMetricsUrls],
    ] as const) {
      const u = https(v);
      if (u && !(clientTLS.certFile && clientTLS.keyFile))
        fail(
          `TLS key/cert (--cert-file, --key-file) must be provided for ${flag} ${u.trim()} with HTTPS scheme`,
        );
    }
    const peerHttps = https(o.listenPeerUrls) ?? https(o.initialAdvertisePeerUrls) ?? https(o.initialCluster);
    if (peerHttps && !(peerTLS.certFile && peerTLS.keyFile))
      fail(
        `TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url ${peerHttps.trim()} with HTTPS scheme`,
      );
    const quota = o.quotaBackendBytes === 0 ? DEFAULT_QUOTA_BYTES : o.quotaBackendBytes;
    if (o.electionTimeout < 5 * o.heartbeatInterval) {
      fail(
        `--election-timeout[${o.electionTimeout}ms] should be at least as 5 times as --heartbeat-interval[${o.heartbeatInterval}ms]`,
      );
    }
    return {
      name,
      dataDir: o.dataDir ?? `${name}.etcd`,
      listenClientURLs: parseURLs(o.listenClientUrls, '--listen-client-urls'),
      advertiseClientURLs: parseURLs(o.advertiseClientUrls, '--advertise-client-urls'),
      listenPeerURLs: parseURLs(o.listenPeerUrls, '--listen-peer-urls'),
      initialAdvertisePeerURLs: iapu,
      initialCluster,
      initialClusterState: o.initialClusterState,
      initialClusterToken: o.initialClusterToken,
      snapshotCount: o.snapshotCount,
      snapshotCatchUpEntries: o.snapshotCatchupEntries,
      heartbeatIntervalMs: o.heartbeatInterval,
      electionTimeoutMs: o.electionTimeout,
      quotaBackendBytes: quota,
      maxRequestBytes: o.maxRequestBytes,
      maxTxnOps: o.maxTxnOps,
      authToken: parseTokenOptions(o.authToken, parseGoDuration),
      authTokenTtlMs: o.authTokenTtl * 1000,
      bcryptCost: o.bcryptCost,
      clientTLS,
      peerTLS,
      maxConcurrentStreams: Math.min(o.maxConcurrentStreams, MAX_CONCURRENT_STREAMS),
      forceNewCluster: !!o.forceNewCluster,
      maxSnapshots: o.maxSnapshots,
      maxWals: o.maxWals,
      watchProgressNotifyIntervalMs: o.experimentalWatchProgressNotifyInterval,
      listenMetricsURLs: o.listenMetricsUrls ? parseURLs(o.listenMetricsUrls, '--listen-metrics-urls') : [],
      autoCompactionMode: o.autoCompactionMode,
      autoCompactionRetention: parseRetention(o.autoCompactionMode, o.autoCompactionRetention),
      logLevel: parseLogLevel(o.logLevel),
      requestTimeoutMs: o.requestTimeout,
      restoreFrom: o.restoreFrom,
      skipHashCheck: !!o.skipHashCheck,
    };
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith?.('commander.')) throw err;
    return fail((err as Error).message);
  }
}

/** host:port for gRPC's bind from an http URL (localhost stays localhost; grpc resolves it). */
export function hostPort(u: string): string {
  const url = new URL(u);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const host = url.hostname.startsWith('[') ? url.hostname : url.hostname;
  return `${host}:${port}`;
}
