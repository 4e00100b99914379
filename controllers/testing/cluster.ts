// End-to-end harness: a store and bin/apiserver (apiserver/testing.ts), plus this folder's processes
// (controller-manager, scheduler, node-agent) on free ports, and a typed client and kubectl for checks.
import { join } from 'node:path';
import { startCluster, type Cluster } from '../../apiserver/testing.js';
import { BIN, freePort, startProcess, waitFor, type Proc } from '../../test/support/index.js';
import { KubeClient, Resources } from '../../apimachinery/client.js';
import type { Node } from '../../apimachinery/index.js';

export interface ControlPlane {
  cluster: Cluster;
  client: KubeClient;
  managers: Proc[];
  scheduler: Proc;
  agent: Proc;
  /** The node-agent's control endpoint (stop/start heartbeats). */
  agentUrl: string;
  kubectl(args: string[], input?: string): Promise<string>;
  startManager(extra?: string[]): Proc;
  stop(): Promise<void>;
}

export interface ControlPlaneOptions {
  nodes?: number;
  managers?: number;
  managerArgs?: string[];
  schedulerArgs?: string[];
  agentArgs?: string[];
}

/**
 * Flags that keep a test cluster quick without making it flaky on a loaded machine: node failure is
 * noticed in 10 s (heartbeats every 500 ms), leader election keeps its defaults. Tests of failures pass
 * shorter values (see FAILOVER_MANAGER_ARGS); later flags override earlier ones.
 */
export const FAST_MANAGER_ARGS = [
  '--node-monitor-grace-period',
  '10s',
  '--node-monitor-period',
  '500ms',
  '--pod-eviction-timeout',
  '5s',
];

/** For the failure tests: a short lease and grace period, so a failover fits in a test's time. */
export const FAILOVER_MANAGER_ARGS = [
  '--leader-elect-lease-duration',
  '5s',
  '--leader-elect-renew-deadline',
  '4s',
  '--leader-elect-retry-period',
  '500ms',
  '--node-monitor-grace-period',
  '3s',
  '--pod-eviction-timeout',
  '1s',
];

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const cluster = await startCluster();
  const server = cluster.url;
  const client = new KubeClient({ server });
  const managers: Proc[] = [];
  const startManager = (extra: string[] = []) => {
    const p = startProcess(join(BIN, 'controller-manager'), [
      '--server',
      server,
      ...FAST_MANAGER_ARGS,
      ...(opts.managerArgs ?? []),
      ...extra,
    ]);
    managers.push(p);
    return p;
  };
  for (let i = 0; i < (opts.managers ?? 1); i++)
    startManager(opts.managers && opts.managers > 1 ? ['--identity', `cm-${i}`] : []);
  // The scheduler finds the cluster through a kubeconfig, the others through --server: both paths run.
  const scheduler = startProcess(join(BIN, 'scheduler'), [
    '--kubeconfig',
    cluster.kubeconfig,
    '--leader-elect=false',
    '--pod-initial-backoff',
    '200ms',
    '--pod-max-backoff',
    '2s',
    ...(opts.schedulerArgs ?? []),
  ]);
  const agentPort = await freePort();
  const agent = startProcess(join(BIN, 'node-agent'), [
    '--server',
    server,
    '--nodes',
    String(opts.nodes ?? 3),
    '--heartbeat-interval',
    '500ms',
    '--max-grace-period',
    '1s',
    '--port',
    String(agentPort),
    ...(opts.agentArgs ?? []),
  ]);
  const stop = async () => {
    for (const p of [...managers, scheduler, agent]) await p.kill('SIGTERM');
    client.close();
    await cluster.stop();
  };
  try {
    await waitFor(
      'nodes to register and turn Ready',
      async () => {
        const r = await client.list<Node>(Resources.nodes);
        const ready = (n: Node) =>
          n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        return r.ok && r.value.items.filter(ready).length === (opts.nodes ?? 3);
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\nnode-agent output:\n${agent.output()}`, { cause: err });
  }
  return {
    cluster,
    client,
    managers,
    scheduler,
    agent,
    agentUrl: `http://127.0.0.1:${agentPort}`,
    startManager,
    async kubectl(args, input) {
      const r = await cluster.kubectl(args, { input });
      if (r.code !== 0)
        throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
      return r.stdout;
    },
    stop,
  };
}

/** Output of every process, for a failing test's message. */
export function logsOf(cp: ControlPlane): string {
  return [
    ...cp.managers.map((m, i) => `--- controller-manager ${i}\n${m.output().slice(-6000)}`),
    `--- scheduler\n${cp.scheduler.output().slice(-3000)}`,
    `--- node-agent\n${cp.agent.output().slice(-3000)}`,
  ].join('\n');
}
