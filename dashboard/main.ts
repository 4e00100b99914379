// bin/dashboard: the teaching page's server, started with the API server, the store members and
// (optionally) the supervisor's control API; prints "dashboard listening on URL".
import { Command, InvalidArgumentError } from 'commander';
import { configFromFlags } from '../apimachinery/client.js';
import { Logger, parseLogLevel } from '../common/index.js';
import { DashboardServer, defaultManifestsDir } from './server.js';

function int(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`not a non-negative integer: ${s}`);
  return n;
}

function url(s: string): string {
  try {
    const u = new URL(s);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
  } catch {
    throw new InvalidArgumentError(`"${s}" is not an http(s) URL`);
  }
  return s;
}

function urls(s: string): string[] {
  const list = s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (list.length === 0) throw new InvalidArgumentError('at least one URL is required');
  return list.map(url);
}

const program = new Command()
  .name('dashboard')
  .description('A live view of the store cluster and the Kubernetes objects on it')
  .option('--server <url>', 'API server URL', url)
  .option('--kubeconfig <file>', 'kubeconfig to reach the API server (instead of --server)')
  .requiredOption('--etcd-servers <urls>', 'comma-separated store client URLs, one per member', urls)
  .option('--etcd-prefix <prefix>', 'key prefix the API server stores under', '/registry')
  .option(
    '--cluster-control <url>',
    "the supervisor's control API (enables the stop/restart/pause buttons)",
    url,
  )
  .option('--bind-address <ip>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port to listen on (0 picks a free one)', int, 8090)
  .option(
    '--manifests-dir <dir>',
    'folder of example manifests the Apply panel offers',
    defaultManifestsDir(),
  )
  .option('--status-interval <ms>', 'how often each member is asked for its Status', int, 1000)
  .option('--batch-interval <ms>', 'how often changes are pushed to the page', int, 100)
  .option('--log-level <level>', 'debug, info, warn or error', 'info');

program.parse();
const o = program.opts<{
  server?: string;
  kubeconfig?: string;
  etcdServers: string[];
  etcdPrefix: string;
  clusterControl?: string;
  bindAddress: string;
  port: number;
  manifestsDir: string;
  statusInterval: number;
  batchInterval: number;
  logLevel: string;
}>();

let log: Logger;
let apiserver;
try {
  log = new Logger('dashboard', parseLogLevel(o.logLevel));
  apiserver = configFromFlags({ server: o.server, kubeconfig: o.kubeconfig });
  if (o.statusInterval < 100) throw new Error('--status-interval must be at least 100 ms');
  if (o.batchInterval < 16 || o.batchInterval > 5000)
    throw new Error('--batch-interval must be between 16 and 5000 ms');
} catch (err) {
  console.error(`error: ${(err as Error).message}`);
  process.exit(2);
}

const server = new DashboardServer({
  apiserver,
  etcdServers: o.etcdServers,
  etcdPrefix: o.etcdPrefix.replace(/\/*$/, '/'),
  clusterControl: o.clusterControl,
  bindAddress: o.bindAddress,
  port: o.port,
  manifestsDir: o.manifestsDir,
  statusIntervalMs: o.statusInterval,
  batchIntervalMs: o.batchInterval,
  log,
});

try {
  const u = await server.start();
  console.log(`dashboard listening on ${u}`);
} catch (err) {
  console.error(`error: cannot listen on ${o.bindAddress}:${o.port}: ${(err as Error).message}`);
  process.exit(1);
}

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal: sig });
    const hard = setTimeout(() => process.exit(0), 3000);
    hard.unref();
    void server.stop().finally(() => process.exit(0));
  });
}
