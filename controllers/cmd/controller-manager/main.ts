// bin/controller-manager: runs the ReplicaSet, Deployment, garbage collector, namespace, node lifecycle
// and endpoints controllers against the API server, while holding the leader Lease.
import { configFromFlags, KubeClient } from '../../../apimachinery/client.js';
import { Logger, parseLogLevel } from '../../../common/index.js';
import type { Controller, ControllerContext } from '../../context.js';
import { DeploymentController } from '../../deployment/controller.js';
import { EndpointsController } from '../../endpoints/controller.js';
import { EventRecorder } from '../../events.js';
import { GarbageCollector } from '../../garbagecollector/controller.js';
import { SharedInformerFactory } from '../../informer.js';
import { NamespaceController } from '../../namespace/controller.js';
import { NodeLifecycleController } from '../../nodelifecycle/controller.js';
import { ReplicaSetController } from '../../replicaset/controller.js';
import { connectionFlags, parseOrExit, type FlagSpec } from '../flags.js';
import { leaderElectionFlags, onShutdown, runWithLeaderElection } from '../leader.js';

const ALL = ['replicaset', 'deployment', 'garbagecollector', 'namespace', 'nodelifecycle', 'endpoints'];

const specs: Record<string, FlagSpec> = {
  ...connectionFlags,
  ...leaderElectionFlags('kube-controller-manager'),
  controllers: { type: 'list', default: ['*'], help: `Controllers to run: * or a list of ${ALL.join(', ')}` },
  'concurrent-replicaset-syncs': { type: 'int', default: 5, help: 'ReplicaSets synced in parallel' },
  'concurrent-deployment-syncs': { type: 'int', default: 5, help: 'Deployments synced in parallel' },
  'concurrent-gc-syncs': { type: 'int', default: 20, help: 'Garbage collector workers' },
  'concurrent-namespace-syncs': { type: 'int', default: 2, help: 'Namespaces emptied in parallel' },
  'concurrent-endpoint-syncs': { type: 'int', default: 5, help: 'Services synced in parallel' },
  'node-monitor-grace-period': {
    type: 'duration',
    default: '40s',
    help: 'Heartbeat silence before a node is marked Unknown',
  },
  'node-monitor-period': { type: 'duration', default: '5s', help: 'How often node health is checked' },
  'pod-eviction-timeout': {
    type: 'duration',
    default: '5m',
    help: 'How long pods stay on an unreachable node before deletion',
  },
  'resync-period': {
    type: 'duration',
    default: '5m',
    help: 'Informer resync period (re-delivers every cached object)',
  },
  'replicaset-burst': { type: 'int', default: 500, help: 'Most pods one ReplicaSet sync creates or deletes' },
};

const flags = parseOrExit(
  'controller-manager',
  'Runs the control loops that make the cluster match its objects.',
  specs,
);
const log = new Logger('controller-manager', parseLogLevel(flags['log-level'] as string));
let config;
try {
  config = configFromFlags({
    kubeconfig: flags.kubeconfig as string | undefined,
    server: flags.server as string | undefined,
  });
} catch (err) {
  process.stderr.write(`controller-manager: ${(err as Error).message}\n`);
  process.exit(2);
}
const wanted = flags.controllers as string[];
for (const c of wanted) {
  if (c !== '*' && !ALL.includes(c.replace(/^-/, ''))) {
    process.stderr.write(`controller-manager: unknown controller "${c}" (known: ${ALL.join(', ')})\n`);
    process.exit(2);
  }
}
const enabled = (name: string) =>
  !wanted.includes(`-${name}`) && (wanted.includes('*') || wanted.includes(name));

const client = new KubeClient({ ...config, userAgent: 'controller-manager', maxSockets: 64 });
const running: { controllers: Controller[]; informers?: SharedInformerFactory; recorders: EventRecorder[] } =
  { controllers: [], recorders: [] };

function startControllers(signal: AbortSignal): void {
  const informers = new SharedInformerFactory(client, {
    resyncMs: flags['resync-period'] as number,
    logger: log,
  });
  running.informers = informers;
  const ctxFor = (component: string): ControllerContext => {
    const recorder = new EventRecorder(client, component, '', log);
    running.recorders.push(recorder);
    return { client, informers, recorder, logger: log };
  };
  const plan: [Controller, number][] = [];
  if (enabled('replicaset')) {
    plan.push([
      new ReplicaSetController(ctxFor('replicaset-controller'), {
        burstReplicas: flags['replicaset-burst'] as number,
      }),
      flags['concurrent-replicaset-syncs'] as number,
    ]);
  }
  if (enabled('deployment'))
    plan.push([
      new DeploymentController(ctxFor('deployment-controller')),
      flags['concurrent-deployment-syncs'] as number,
    ]);
  if (enabled('garbagecollector'))
    plan.push([
      new GarbageCollector(ctxFor('garbage-collector-controller')),
      flags['concurrent-gc-syncs'] as number,
    ]);
  if (enabled('namespace'))
    plan.push([
      new NamespaceController(ctxFor('namespace-controller')),
      flags['concurrent-namespace-syncs'] as number,
    ]);
  if (enabled('nodelifecycle')) {
    plan.push([
      new NodeLifecycleController(ctxFor('node-controller'), {
        gracePeriodMs: flags['node-monitor-grace-period'] as number,
        monitorPeriodMs: flags['node-monitor-period'] as number,
        evictionTimeoutMs: flags['pod-eviction-timeout'] as number,
      }),
      1,
    ]);
  }
  if (enabled('endpoints'))
    plan.push([
      new EndpointsController(ctxFor('endpoint-controller')),
      flags['concurrent-endpoint-syncs'] as number,
    ]);
  informers.start();
  void informers.waitForSync().then(() => {
    if (signal.aborted) return;
    log.info('caches synced; starting controllers', { controllers: plan.map(([c]) => c.name) });
    for (const [c, workers] of plan) {
      running.controllers.push(c);
      void c.run(workers);
    }
  });
  signal.addEventListener('abort', () => stopControllers(), { once: true });
}

function stopControllers(): void {
  for (const c of running.controllers) c.stop();
  running.controllers = [];
  void running.informers?.stop();
}

const le = runWithLeaderElection(client, flags, log, startControllers);
onShutdown(log, async () => {
  stopControllers();
  await Promise.all(running.recorders.map((r) => r.flush(1000)));
  await le.stop();
});
