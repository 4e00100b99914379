// Leader-election flags and the wrapper that runs a component only while it holds its Lease.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { KubeClient } from '../../apimachinery/client.js';
import type { Logger } from '../../common/index.js';
import { LeaderElector } from '../leaderelection.js';
import type { FlagSpec, FlagValues } from './flags.js';

export function leaderElectionFlags(defaultName: string): Record<string, FlagSpec> {
  return {
    'leader-elect': {
      type: 'bool',
      default: true,
      help: 'Run only while holding the leader Lease (run two for high availability)',
    },
    'leader-elect-lease-duration': {
      type: 'duration',
      default: '15s',
      help: 'How long a standby waits after the last renewal before taking over',
    },
    'leader-elect-renew-deadline': {
      type: 'duration',
      default: '10s',
      help: 'How long the leader keeps retrying a renewal before stepping down',
    },
    'leader-elect-retry-period': {
      type: 'duration',
      default: '2s',
      help: 'Interval between acquire/renew attempts',
    },
    'leader-elect-resource-name': { type: 'string', default: defaultName, help: 'Name of the Lease' },
    'leader-elect-resource-namespace': {
      type: 'string',
      default: 'kube-system',
      help: 'Namespace of the Lease',
    },
    identity: { type: 'string', help: 'Holder identity written to the Lease (default hostname_random)' },
  };
}

/**
 * Runs `lead` while leading (or at once without --leader-elect). Losing the lease exits the process, as
 * kube-controller-manager does: a fresh start is the only safe way to drop every in-flight action.
 * Returns a stop function for SIGTERM that releases the lease.
 */
export function runWithLeaderElection(
  client: KubeClient,
  flags: FlagValues,
  log: Logger,
  lead: (signal: AbortSignal) => void,
): { stop(): Promise<void>; elector?: LeaderElector } {
  if (!flags['leader-elect']) {
    const ac = new AbortController();
    lead(ac.signal);
    return { stop: async () => ac.abort() };
  }
  let stopping = false;
  const identity =
    (flags.identity as string | undefined) ?? `${hostname()}_${randomBytes(4).toString('hex')}`;
  const elector = new LeaderElector(
    client,
    {
      namespace: flags['leader-elect-resource-namespace'] as string,
      name: flags['leader-elect-resource-name'] as string,
      identity,
      leaseDurationMs: flags['leader-elect-lease-duration'] as number,
      renewDeadlineMs: flags['leader-elect-renew-deadline'] as number,
      retryPeriodMs: flags['leader-elect-retry-period'] as number,
    },
    {
      onStartedLeading: lead,
      onStoppedLeading: () => {
        if (stopping) return;
        log.error('leader election lost; exiting');
        process.exit(1);
      },
    },
    log,
  );
  log.info('campaigning for leadership', {
    lease: `${flags['leader-elect-resource-namespace']}/${flags['leader-elect-resource-name']}`,
    identity,
  });
  void elector.run();
  return {
    elector,
    async stop() {
      stopping = true;
      await elector.stop();
    },
  };
}

/** SIGTERM/SIGINT: run `cleanup` once (bounded), then exit 0. */
export function onShutdown(log: Logger, cleanup: () => Promise<void>, timeoutMs = 5000): void {
  let done = false;
  const handler = (sig: string) => {
    if (done) return;
    done = true;
    log.info(`received ${sig}, shutting down`);
    const t = setTimeout(() => process.exit(0), timeoutMs);
    t.unref();
    cleanup()
      .catch((err) => log.error('error during shutdown', { error: String(err) }))
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
}
