// bin/scheduler: assigns pending pods to nodes (filters, scores, pods/binding), while holding its Lease.
import { configFromFlags, KubeClient } from '../../../apimachinery/client.js';
import { Logger, parseLogLevel } from '../../../common/index.js';
import { EventRecorder } from '../../events.js';
import { SharedInformerFactory } from '../../informer.js';
import { Scheduler } from '../../scheduler/scheduler.js';
import { connectionFlags, parseOrExit, type FlagSpec } from '../flags.js';
import { leaderElectionFlags, onShutdown, runWithLeaderElection } from '../leader.js';

const specs: Record<string, FlagSpec> = {
  ...connectionFlags,
  ...leaderElectionFlags('kube-scheduler'),
  'scheduler-name': {
    type: 'string',
    default: 'default-scheduler',
    help: 'Schedule pods whose spec.schedulerName is this',
  },
  parallelism: { type: 'int', default: 16, help: 'Bindings in flight at once' },
  'pod-initial-backoff': {
    type: 'duration',
    default: '1s',
    help: 'First retry delay for an unschedulable pod',
  },
  'pod-max-backoff': {
    type: 'duration',
    default: '10s',
    help: 'Largest retry delay for an unschedulable pod',
  },
};

const flags = parseOrExit('scheduler', 'Assigns pods without a node to a node that fits them.', specs);
const log = new Logger('scheduler', parseLogLevel(flags['log-level'] as string));
let config;
try {
  config = configFromFlags({
    kubeconfig: flags.kubeconfig as string | undefined,
    server: flags.server as string | undefined,
  });
} catch (err) {
  process.stderr.write(`scheduler: ${(err as Error).message}\n`);
  process.exit(2);
}
const client = new KubeClient({ ...config, userAgent: 'scheduler', maxSockets: 64 });
let stopAll = async () => {};

const le = runWithLeaderElection(client, flags, log, (signal) => {
  const informers = new SharedInformerFactory(client, { resyncMs: 0, logger: log });
  const recorder = new EventRecorder(client, 'default-scheduler', '', log);
  const scheduler = new Scheduler(
    { client, informers, recorder, logger: log },
    {
      schedulerName: flags['scheduler-name'] as string,
      parallelism: flags.parallelism as number,
      unschedulableBackoffMs: flags['pod-initial-backoff'] as number,
      maxUnschedulableBackoffMs: flags['pod-max-backoff'] as number,
    },
  );
  informers.start();
  void informers.waitForSync().then(() => {
    if (signal.aborted) return;
    log.info('caches synced; scheduling');
    void scheduler.run();
  });
  stopAll = async () => {
    scheduler.stop();
    await recorder.flush(1000);
    await informers.stop();
  };
  signal.addEventListener('abort', () => void stopAll(), { once: true });
});
onShutdown(log, async () => {
  await stopAll();
  await le.stop();
});
