// bin/store: an etcd-compatible store node (etcd's flags; etcd v3 gRPC on --listen-client-urls).
import { Logger } from '../../common/index.js';
import { GrpcGateway } from '../api/gateway.js';
import { EtcdGrpcServer } from '../api/index.js';
import { hostPort, parseConfig, type StoreConfig } from './config.js';
import { MetricsServer } from './http.js';
import { Metrics } from './metrics.js';
import { restoreDataDir, StoreNode } from './node.js';
import { loadTls, peerCommonName, serverOptions } from './tls.js';
import { credentials } from '@grpc/grpc-js';

/**
 * `bin/store snapshot restore FILE --name N --data-dir D --initial-cluster ... --initial-cluster-token T
 * --initial-advertise-peer-urls U`: etcdctl's restore, for backups (`etcdctl snapshot save`) of this store or of etcd.
 */
async function snapshotRestore(args: string[]): Promise<void> {
  const [file, ...rest] = args;
  const usage =
    'usage: store snapshot restore FILE --name NAME --data-dir DIR [--initial-cluster ...] ' +
    '[--initial-cluster-token ...] [--initial-advertise-peer-urls ...] [--skip-hash-check]\n' +
    'Turns a backup (etcdctl snapshot save, from this store or from etcd 3.4) into a new member data dir;\n' +
    'run it once per member with the same --initial-cluster and --initial-cluster-token, then start each\n' +
    'member with its data dir. --skip-hash-check takes a file without the trailing sha256 (a db file).\n';
  if (file === '--help' || file === '-h') {
    process.stdout.write(usage);
    process.exit(0);
  }
  if (!file || file.startsWith('-')) {
    process.stderr.write(usage);
    process.exit(2);
  }
  let cfg: StoreConfig;
  try {
    cfg = parseConfig(['--restore-from', file, ...rest], (code) => process.exit(code));
  } catch {
    process.exit(2);
  }
  const log = new Logger('store', cfg.logLevel).child(cfg.name);
  try {
    await restoreDataDir(cfg, log);
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exit(1);
  }
  process.stdout.write(`restored snapshot ${file} into ${cfg.dataDir} (member ${cfg.name})\n`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === 'snapshot' && argv[1] === 'restore') return snapshotRestore(argv.slice(2));
  let cfg: StoreConfig;
  try {
    cfg = parseConfig(process.argv.slice(2), (code) => process.exit(code));
  } catch {
    process.exit(2);
  }
  const log = new Logger('store', cfg.logLevel).child(cfg.name);
  const metrics = new Metrics();
  let node: StoreNode;
  let tls: ReturnType<typeof loadTls>;
  try {
    tls = loadTls(cfg.clientTLS, '');
    node = await StoreNode.start(cfg, log, metrics);
  } catch (err) {
    log.error('cannot start', { error: (err as Error).message });
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const grpc = new EtcdGrpcServer(node, { maxConcurrentStreams: cfg.maxConcurrentStreams });
  const http = new MetricsServer(metrics, node);
  let stopping = false;
  const stop = async (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { reason: why });
    const force = setTimeout(() => {
      log.error('clean stop took too long; exiting');
      process.exit(code || 1);
    }, 10_000);
    force.unref();
    await grpc.close(1000).catch(() => undefined);
    await http.close().catch(() => undefined);
    await node.stop().catch((err) => log.error('stop failed', { error: String(err) }));
    log.info('stopped');
    process.exit(code);
  };
  node.onFatal = (err) => void stop(`fatal: ${err.message}`, 1);
  process.on('SIGTERM', () => void stop('SIGTERM', 0));
  process.on('SIGINT', () => void stop('SIGINT', 0));
  try {
    const grpcTls = tls && {
      ...serverOptions(tls),
      commonName: tls.clientCertAuth ? peerCommonName : undefined,
    };
    const urls = cfg.listenClientURLs;
    const ports = await grpc.listen(
      urls.map(hostPort),
      (socket) => http.accept(socket),
      (i) => (urls[i]!.startsWith('https:') ? grpcTls : undefined),
    );
    // The JSON gateway calls this member's own gRPC server (its first client URL), as etcd's does.
    const host = new URL(urls[0]!).hostname; // IPv6 stays in brackets
    const wildcard = host === '0.0.0.0' || host === '[::]';
    const creds =
      tls && urls[0]!.startsWith('https:')
        ? credentials.createSsl(tls.ca ?? null, tls.key, tls.cert)
        : credentials.createInsecure();
    http.gateway = new GrpcGateway(`${wildcard ? '127.0.0.1' : host}:${ports[0]}`, creds);
    if (cfg.listenMetricsURLs.length) await http.listen(cfg.listenMetricsURLs, tls && serverOptions(tls));
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    await stop('listen failed', 1);
    return;
  }
  log.info('serving client requests', {
    urls: cfg.listenClientURLs.join(','),
    metrics: cfg.listenMetricsURLs.join(','),
  });
}

void main();
