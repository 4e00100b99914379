// bin/cluster: the whole cluster on one machine (store members, API server, controller-manager, scheduler,
// simulated nodes, dashboard) under one supervisor; `bin/cluster ctl ...` talks to a running one.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { Logger, nodeFlagsOf, parseLogLevel } from '../common/index.js';
import { KubeClient, Resources } from '../apimachinery/client.js';
import type { Node } from '../apimachinery/index.js';
import { Supervisor, type ComponentSpec } from './supervisor.js';
import { startControlServer } from './control.js';
import { assertPortsFree, PortInUseError, PortPicker } from './ports.js';
import { kubeconfigYaml, type ClusterFile, type StoreMember } from './files.js';
import { runCtl } from './ctl.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin');

const USAGE = `Usage: cluster --data-dir DIR [flags]
       cluster ctl [--data-dir DIR] COMMAND ...   (see: cluster ctl --help)

Runs a whole etcd-k8s-lite cluster on this machine: store members s1..sN, the API server, the
controller-manager, the scheduler, a node-agent with simulated nodes and the dashboard.

Flags:
  --data-dir DIR            where state, logs, kubeconfig and cluster.json live (default ./data)
  --fresh                   delete the previous cluster's state first and start empty
  --store-members N         store members (default 3)
  --nodes N                 simulated nodes (default 3)
  --ports auto|fixed        auto: pick free ports for everything (default fixed: the ports below)
  --store-client-port P     first member's client port; member i uses P+2i (default 2379)
  --store-peer-port P       first member's peer port; member i uses P+2i (default 2380)
  --apiserver-port P        API server port (default 8080)
  --dashboard-port P        dashboard port (default 8090)
  --control-port P          supervisor control API port (default 8070)
  --node-agent-port P       node-agent control port (default 8071)
  --restore-from FILE       seed new store data dirs from a snapshot (etcdctl snapshot save)
  --no-dashboard            do not start the dashboard
  --log-level LEVEL         debug, info, warn or error, for every component (default info)
  -h, --help                this help
`;

const CONTROLLER_ARGS = [
  // Short periods so the failures the tutorial shows play out in seconds, not minutes.
  '--node-monitor-grace-period',
  '6s',
  '--node-monitor-period',
  '1s',
  '--pod-eviction-timeout',
  '2s',
];
const LEADER_ARGS = [
  '--leader-elect-lease-duration',
  '4s',
  '--leader-elect-renew-deadline',
  '3s',
  '--leader-elect-retry-period',
  '1s',
];

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'ctl') return runCtl(argv.slice(1));
  const { values: f } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string', default: './data' },
      fresh: { type: 'boolean', default: false },
      'store-members': { type: 'string', default: '3' },
      nodes: { type: 'string', default: '3' },
      ports: { type: 'string', default: 'fixed' },
      'store-client-port': { type: 'string', default: '2379' },
      'store-peer-port': { type: 'string', default: '2380' },
      'apiserver-port': { type: 'string', default: '8080' },
      'dashboard-port': { type: 'string', default: '8090' },
      'control-port': { type: 'string', default: '8070' },
      'node-agent-port': { type: 'string', default: '8071' },
      'restore-from': { type: 'string' },
      'no-dashboard': { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (f.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const log = new Logger('cluster', parseLogLevel(f['log-level']!));
  const int = (name: string, v: string, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new UsageError(`--${name}: want an integer in [${min}, ${max}], got "${v}"`);
    return n;
  };
  const members = int('store-members', f['store-members']!, 1, 7);
  const nodes = int('nodes', f.nodes!, 1, 100);
  if (f.ports !== 'auto' && f.ports !== 'fixed')
    throw new UsageError(`--ports: want auto or fixed, got "${f.ports}"`);
  const auto = f.ports === 'auto';
  const dataDir = resolve(f['data-dir']!);
  const clusterFile = join(dataDir, 'cluster.json');
  const storeRoot = join(dataDir, 'store');

  const previous = existsSync(clusterFile)
    ? (JSON.parse(readFileSync(clusterFile, 'utf8')) as ClusterFile)
    : undefined;
  if (
    previous?.supervisor?.pid &&
    previous.supervisor.pid !== process.pid &&
    alive(previous.supervisor.pid)
  ) {
    throw new UsageError(
      `a cluster is already running from ${dataDir} (supervisor pid ${previous.supervisor.pid}); stop it with Ctrl-C or kill ${previous.supervisor.pid}`,
    );
  }
  if (f.fresh) {
    log.info('--fresh: removing the previous cluster state', { dataDir });
    for (const p of ['store', 'logs', 'kubeconfig', 'cluster.json'])
      rmSync(join(dataDir, p), { recursive: true, force: true });
  }
  const resuming = !f.fresh && existsSync(storeRoot);
  mkdirSync(join(dataDir, 'logs'), { recursive: true });

  // Ports: a resumed cluster keeps its store URLs (its members know each other by them) and, with
  // --ports auto, every other port too, so an old kubeconfig keeps working.
  const old = resuming && previous ? previous : undefined;
  if (old && old.storeMembers.length !== members) {
    throw new UsageError(
      `${dataDir} holds a ${old.storeMembers.length}-member store; start it with --store-members ${old.storeMembers.length} (or --fresh)`,
    );
  }
  const kept = old
    ? [
        ...old.storeMembers.flatMap((m) => [m.clientURL, m.peerURL]),
        old.apiserver,
        old.control,
        old.nodeAgent,
        old.dashboard,
      ].flatMap((u) => (u ? [Number(new URL(u).port)] : []))
    : [];
  const picker = new PortPicker(kept);
  const portOf = async (flag: string, previousUrl: string | undefined): Promise<number> => {
    if (auto && previousUrl) return Number(new URL(previousUrl).port);
    if (auto) return picker.next();
    return int(flag, (f as unknown as Record<string, string>)[flag]!, 1, 65535);
  };
  const storeMembers: StoreMember[] = [];
  for (let i = 0; i < members; i++) {
    const prev = old?.storeMembers[i];
    if (prev) {
      storeMembers.push(prev);
      continue;
    }
    const client = auto
      ? await picker.next()
      : int('store-client-port', f['store-client-port']!, 1, 65535) + 2 * i;
    const peer = auto ? await picker.next() : int('store-peer-port', f['store-peer-port']!, 1, 65535) + 2 * i;
    storeMembers.push({
      name: `s${i + 1}`,
      clientURL: `http://127.0.0.1:${client}`,
      peerURL: `http://127.0.0.1:${peer}`,
      dataDir: join(storeRoot, `s${i + 1}`),
    });
  }
  const apiPort = await portOf('apiserver-port', old?.apiserver);
  const controlPort = await portOf('control-port', old?.control);
  const agentPort = await portOf('node-agent-port', old?.nodeAgent);
  const withDashboard = !f['no-dashboard'] && existsSync(join(ROOT, 'dist/dashboard/main.js'));
  const dashPort = withDashboard ? await portOf('dashboard-port', old?.dashboard ?? undefined) : 0;

  const wanted: [number, string, string][] = [];
  for (const m of storeMembers) {
    wanted.push([Number(new URL(m.clientURL).port), `store member ${m.name} (client)`, 'store-client-port']);
    wanted.push([Number(new URL(m.peerURL).port), `store member ${m.name} (peer)`, 'store-peer-port']);
  }
  wanted.push([apiPort, 'apiserver', 'apiserver-port'], [controlPort, 'cluster control API', 'control-port']);
  wanted.push([agentPort, 'node-agent', 'node-agent-port']);
  if (withDashboard) wanted.push([dashPort, 'dashboard', 'dashboard-port']);
  await assertPortsFree(wanted);

  const apiURL = `http://127.0.0.1:${apiPort}`;
  const agentURL = `http://127.0.0.1:${agentPort}`;
  const dashURL = withDashboard ? `http://127.0.0.1:${dashPort}` : null;
  const controlURL = `http://127.0.0.1:${controlPort}`;
  const endpoints = storeMembers.map((m) => m.clientURL);
  const initialCluster = storeMembers.map((m) => `${m.name}=${m.peerURL}`).join(',');
  const level = ['--log-level', f['log-level']!];
  const kube = new KubeClient({ server: apiURL, timeoutMs: 3000 });
  const etcdClients = new Map<string, Etcd3>();

  // bin/store restores a backup into a one-member cluster; a bigger one then grows from it by
  // `member add` and joins (--initial-cluster-state existing), one member at a time, as with etcd.
  const restoring = f['restore-from'] !== undefined && !storeMembers.some((m) => existsSync(m.dataDir));
  const specs: ComponentSpec[] = storeMembers.map((m, i) => {
    const existing = existsSync(m.dataDir);
    const joinsLater = restoring && i > 0;
    const cluster = restoring
      ? storeMembers
          .slice(0, i + 1)
          .map((x) => `${x.name}=${x.peerURL}`)
          .join(',')
      : initialCluster;
    return {
      name: m.name,
      kind: 'store',
      // node itself, with the flags bin/store's #! line asks for: no reliance on the system's `env -S`.
      cmd: process.execPath,
      args: [
        ...nodeFlagsOf(join(BIN, 'store')),
        join(BIN, 'store'),
        '--name',
        m.name,
        '--data-dir',
        m.dataDir,
        '--listen-client-urls',
        m.clientURL,
        '--advertise-client-urls',
        m.clientURL,
        '--listen-peer-urls',
        m.peerURL,
        '--initial-advertise-peer-urls',
        m.peerURL,
        '--initial-cluster',
        cluster,
        '--initial-cluster-state',
        existing || joinsLater ? 'existing' : 'new',
        '--initial-cluster-token',
        'etcd-k8s-lite',
        ...(restoring && i === 0 ? ['--restore-from', resolve(f['restore-from']!)] : []),
        ...level,
      ],
      urls: [m.clientURL, m.peerURL],
      dataDir: m.dataDir,
      healthy: async () => {
        let c = etcdClients.get(m.name);
        if (!c) etcdClients.set(m.name, (c = new Etcd3({ hosts: m.clientURL, dialTimeout: 2000 })));
        const s = await withTimeout(c.maintenance.status(), 2000);
        return s.leader !== '0';
      },
    };
  });
  specs.push({
    name: 'apiserver',
    kind: 'apiserver',
    cmd: join(BIN, 'apiserver'),
    args: [
      '--etcd-servers',
      endpoints.join(','),
      '--bind-address',
      '127.0.0.1',
      '--port',
      String(apiPort),
      ...level,
    ],
    urls: [apiURL],
    healthy: async () => (await fetch(`${apiURL}/readyz`)).status === 200,
  });
  const alwaysUp = async () => true;
  specs.push({
    name: 'controller-manager',
    kind: 'controller-manager',
    cmd: join(BIN, 'controller-manager'),
    args: ['--server', apiURL, ...CONTROLLER_ARGS, ...LEADER_ARGS, ...level],
    urls: [],
    healthy: alwaysUp,
  });
  specs.push({
    name: 'scheduler',
    kind: 'scheduler',
    cmd: join(BIN, 'scheduler'),
    args: ['--server', apiURL, ...LEADER_ARGS, '--pod-max-backoff', '3s', ...level],
    urls: [],
    healthy: alwaysUp,
  });
  specs.push({
    name: 'node-agent',
    kind: 'node-agent',
    cmd: join(BIN, 'node-agent'),
    args: [
      '--server',
      apiURL,
      '--nodes',
      String(nodes),
      '--heartbeat-interval',
      '1s',
      '--max-grace-period',
      '2s',
      '--port',
      String(agentPort),
      ...level,
    ],
    urls: [agentURL],
    healthy: async () => {
      if ((await fetch(`${agentURL}/healthz`)).status !== 200) return false;
      const r = await kube.list<Node>(Resources.nodes);
      const ready = (n: Node) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      return r.ok && r.value.items.filter(ready).length >= nodes;
    },
  });
  if (dashURL) {
    specs.push({
      name: 'dashboard',
      kind: 'dashboard',
      cmd: join(BIN, 'dashboard'),
      args: [
        '--server',
        apiURL,
        '--etcd-servers',
        endpoints.join(','),
        '--cluster-control',
        controlURL,
        '--bind-address',
        '127.0.0.1',
        '--port',
        String(dashPort),
        '--manifests-dir',
        join(ROOT, 'manifests'),
        ...level,
      ],
      urls: [dashURL],
      healthy: async () => (await fetch(`${dashURL}/healthz`)).status === 200,
    });
  }

  const kubeconfigPath = join(dataDir, 'kubeconfig');
  let ready = false;
  const writeClusterFile = (running: boolean) => {
    const file: ClusterFile = {
      dataDir,
      ready: running && ready,
      supervisor: { pid: running ? process.pid : null },
      control: controlURL,
      kubeconfig: kubeconfigPath,
      apiserver: apiURL,
      dashboard: dashURL,
      nodeAgent: agentURL,
      storeMembers,
      components: sup.list(),
    };
    // Written aside and renamed, so a reader never sees half a file.
    writeFileSync(clusterFile + '.tmp', JSON.stringify(file, null, 2) + '\n');
    renameSync(clusterFile + '.tmp', clusterFile);
  };
  const sup: Supervisor = new Supervisor(specs, join(dataDir, 'logs'), log, undefined, undefined, () => {
    if (ready) writeClusterFile(true);
  });

  let stopping = false;
  const control = await startControlServer(
    sup,
    controlPort,
    () => (sup.get('node-agent')?.state === 'running' ? agentURL : undefined),
    () => void shutdown('shutdown requested on the control API'),
  );
  const shutdown = async (why: string) => {
    if (stopping) {
      log.warn('second signal: killing every component now');
      process.exit(130);
    }
    stopping = true;
    log.info(`${why}: stopping every component`);
    await sup.stopAll();
    await control.close();
    for (const c of etcdClients.values()) c.close();
    kube.close();
    writeClusterFile(false);
    log.info('stopped; start again with the same --data-dir to resume');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  log.info(resuming ? 'resuming the cluster in the data dir' : 'starting a new cluster', {
    dataDir,
    storeMembers: members,
  });
  try {
    if (restoring) {
      sup.start(storeMembers[0]!.name);
      await sup.waitHealthy(storeMembers[0]!.name, 60_000);
      // Each new member joins as a learner (no effect on the quorum while it catches up) and is promoted
      // once in sync: the leader refuses a premature promotion, so retry for a bounded time.
      const retry = async <T>(what: string, op: (c: Etcd3) => Promise<T>): Promise<T> => {
        for (let attempt = 1; ; attempt++) {
          // A fresh client each time: the client's circuit breaker would otherwise refuse the retries.
          const c = new Etcd3({ hosts: storeMembers[0]!.clientURL, dialTimeout: 3000 });
          try {
            return await op(c);
          } catch (err) {
            if (attempt >= 60) throw new Error(`${what}: ${(err as Error).message}`, { cause: err });
            await new Promise((r) => setTimeout(r, 500));
          } finally {
            c.close();
          }
        }
      };
      for (const m of storeMembers.slice(1)) {
        log.info('growing the restored store', { member: m.name, peerURL: m.peerURL });
        const added = await retry(`member add ${m.name}`, (c) =>
          c.cluster.memberAdd({ peerURLs: [m.peerURL], isLearner: true }),
        );
        sup.start(m.name);
        await sup.waitHealthy(m.name, 60_000);
        await retry(`member promote ${m.name}`, (c) => c.cluster.memberPromote({ ID: added.member.ID }));
      }
    }
    for (const m of storeMembers) sup.start(m.name);
    // Members of a new multi-member cluster need each other to elect a leader: start all, then wait.
    for (const m of storeMembers) await sup.waitHealthy(m.name, 60_000);
    for (const name of [
      'apiserver',
      'controller-manager',
      'scheduler',
      'node-agent',
      ...(dashURL ? ['dashboard'] : []),
    ]) {
      sup.start(name);
      await sup.waitHealthy(name, 60_000);
      if (name === 'apiserver') writeFileSync(kubeconfigPath, kubeconfigYaml(apiURL, endpoints));
    }
  } catch (err) {
    log.error((err as Error).message);
    await shutdown('start-up failed');
    return 1;
  }
  ready = true;
  writeClusterFile(true);
  printSummary({ dataDir, endpoints, apiURL, dashURL, controlURL, kubeconfigPath, members: storeMembers });
  return -1;
}

function printSummary(s: {
  dataDir: string;
  endpoints: string[];
  apiURL: string;
  dashURL: string | null;
  controlURL: string;
  kubeconfigPath: string;
  members: StoreMember[];
}): void {
  const bold = (t: string) => (process.stdout.isTTY ? `\x1b[1m${t}\x1b[0m` : t);
  const lines = [
    '',
    bold(`etcd-k8s-lite is up (state in ${s.dataDir})`),
    ...s.members.map((m) => `  store ${m.name.padEnd(6)} ${m.clientURL}   (peer ${m.peerURL})`),
    `  apiserver    ${s.apiURL}`,
    `  dashboard    ${s.dashURL ?? '(off: --no-dashboard, or not built)'}`,
    `  control API  ${s.controlURL}/components`,
    `  kubeconfig   ${s.kubeconfigPath}`,
    `  logs         ${join(s.dataDir, 'logs')}/<component>.log`,
    '',
    'Next, in another terminal:',
    `  export KUBECONFIG=${s.kubeconfigPath}`,
    '  bin/kubectl-lite get nodes',
    '  bin/kubectl-lite apply -f manifests/ && bin/kubectl-lite store keys /registry/deployments',
    '',
    'Ctrl-C stops everything; run the same command again to resume.',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error('timed out')), ms))),
  ]);
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    if (
      err instanceof UsageError ||
      err instanceof PortInUseError ||
      (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(`error: ${(err as Error).message}\n`);
      process.exit(2);
    }
    process.stderr.write(`error: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
