// bin/apiserver: flags in kube-apiserver's spelling, then an ApiServer until SIGINT/SIGTERM.
import { Command, InvalidArgumentError } from 'commander';
import { Logger, parseGoDuration, parseLogLevel } from '../common/index.js';
import { readFileSync } from 'node:fs';
import { ApiServer, type EtcdTLS } from './server.js';

/** Go-style durations as Kubernetes flags take them: 5m, 30s, 1h30m, 500ms, 0. */
export function parseDuration(s: string): number {
  const ms = parseGoDuration(s);
  if (ms === undefined) throw new InvalidArgumentError(`invalid duration "${s}" (e.g. 5m0s, 30s, 0)`);
  return ms;
}

function int(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`not a non-negative integer: ${s}`);
  return n;
}

const program = new Command()
  .name('apiserver')
  .description('A stateless Kubernetes-style API server on an etcd v3 store')
  .requiredOption('--etcd-servers <urls>', 'comma-separated etcd client URLs, e.g. http://127.0.0.1:2379')
  .option('--etcd-cafile <path>', 'SSL Certificate Authority file used to secure etcd communication')
  .option('--etcd-certfile <path>', 'SSL certification file used to secure etcd communication')
  .option('--etcd-keyfile <path>', 'SSL key file used to secure etcd communication')
  .option('--bind-address <ip>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port to serve plain HTTP on (0 picks a free one)', int, 8080)
  .option('--etcd-prefix <prefix>', 'prefix of every key in the store', '/registry')
  .option(
    '--etcd-compaction-interval <duration>',
    'how often to compact store history (0 disables)',
    parseDuration,
    5 * 60_000,
  )
  .option('--watch-cache-size <n>', 'events kept per resource for watches to resume from', int, 10_000)
  .option(
    '--watch-bookmark-interval <duration>',
    'how often watchers that allow bookmarks get one',
    parseDuration,
    60_000,
  )
  .option(
    '--min-request-timeout <seconds>',
    'a watch without timeoutSeconds lasts between this and twice this',
    int,
    1800,
  )
  .option(
    '--event-ttl <duration>',
    'how long Events are kept after their last write (0 keeps them)',
    parseDuration,
    3_600_000,
  )
  .option('--log-level <level>', 'debug, info, warn or error', 'info');

program.parse();
const o = program.opts<{
  etcdServers: string;
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
  bindAddress: string;
  port: number;
  etcdPrefix: string;
  etcdCompactionInterval: number;
  watchCacheSize: number;
  watchBookmarkInterval: number;
  minRequestTimeout: number;
  eventTtl: number;
  logLevel: string;
}>();

const log = new Logger('apiserver', parseLogLevel(o.logLevel));
const prefix = o.etcdPrefix.replace(/\/+$/, '');
if (!prefix.startsWith('/')) {
  console.error('error: --etcd-prefix must start with "/"');
  process.exit(2);
}
// As kube-apiserver: https etcd servers are checked against --etcd-cafile; a client certificate and key, if
// given, are presented to them (etcd's --client-cert-auth).
let etcdTLS: EtcdTLS | undefined;
try {
  if (!!o.etcdCertfile !== !!o.etcdKeyfile) throw new Error('--etcd-certfile and --etcd-keyfile go together');
  if (o.etcdCertfile && !o.etcdCafile) throw new Error('--etcd-certfile needs --etcd-cafile');
  const read = (flag: string, path?: string) => {
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read ${flag} ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  if (o.etcdCafile || o.etcdCertfile)
    etcdTLS = {
      ca: read('--etcd-cafile', o.etcdCafile),
      cert: read('--etcd-certfile', o.etcdCertfile),
      key: read('--etcd-keyfile', o.etcdKeyfile),
    };
} catch (err) {
  console.error(`error: ${(err as Error).message}`);
  process.exit(2);
}
const server = new ApiServer(
  {
    etcdTLS,
    etcdServers: o.etcdServers
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    bindAddress: o.bindAddress,
    port: o.port,
    etcdPrefix: prefix,
    compactionIntervalMs: o.etcdCompactionInterval,
    watchCacheSize: Math.max(100, o.watchCacheSize),
    bookmarkIntervalMs: o.watchBookmarkInterval,
    minRequestTimeoutSeconds: Math.max(1, o.minRequestTimeout),
    eventTTLSeconds: Math.ceil(o.eventTtl / 1000),
  },
  log,
);

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal: sig });
    const force = setTimeout(() => process.exit(0), 5000);
    force.unref();
    void server.stop().finally(() => process.exit(0));
  });
}

server.start().catch((err) => {
  log.error('failed to start', { error: String(err instanceof Error ? err.message : err) });
  process.exit(1);
});
