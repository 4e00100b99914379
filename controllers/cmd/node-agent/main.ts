// bin/node-agent: simulated kubelets (no containers, as kwok): registers N Nodes, heartbeats their Leases,
// and reports the pods bound to them as Running. Heartbeats can be stopped per node (flag, SIGUSR1, HTTP).
import http from 'node:http';
import { configFromFlags, KubeClient } from '../../../apimachinery/client.js';
import { Logger, parseLogLevel } from '../../../common/index.js';
import { EventRecorder } from '../../events.js';
import { SharedInformerFactory } from '../../informer.js';
import { NodeAgent } from '../../nodeagent/agent.js';
import { parseQuantity } from '../../quantity.js';
import { connectionFlags, parseOrExit, type FlagSpec } from '../flags.js';
import { onShutdown } from '../leader.js';

const specs: Record<string, FlagSpec> = {
  ...connectionFlags,
  nodes: { type: 'int', default: 3, help: 'Number of simulated nodes' },
  'node-name-prefix': { type: 'string', default: 'node-', help: 'Node names are <prefix><index>' },
  cpu: { type: 'string', default: '4', help: 'CPU capacity of each node' },
  memory: { type: 'string', default: '8Gi', help: 'Memory capacity of each node' },
  'max-pods': { type: 'int', default: 110, help: 'Pod capacity of each node' },
  'heartbeat-interval': { type: 'duration', default: '10s', help: 'Node Lease renewal period' },
  'node-status-update-frequency': {
    type: 'duration',
    default: '60s',
    help: 'Full Node status report period',
  },
  'node-lease-duration': {
    type: 'duration',
    default: '40s',
    help: 'leaseDurationSeconds written to node Leases',
  },
  'max-grace-period': { type: 'duration', help: 'Cap on pod termination grace periods (demos and tests)' },
  'pod-start-delay': { type: 'duration', default: '0s', help: 'Time from binding to Running' },
  'crashloop-interval': {
    type: 'duration',
    default: '10s',
    help: 'Restart period of pods annotated node-agent.ekl.dev/behavior=crashloop',
  },
  'stop-heartbeat': { type: 'list', default: [], help: 'Start with this node not heartbeating (repeatable)' },
  port: { type: 'int', default: 0, help: 'Serve the control endpoint on 127.0.0.1:<port> (0 = off)' },
  workers: { type: 'int', default: 32, help: 'Pods processed in parallel' },
};

const flags = parseOrExit(
  'node-agent',
  'Simulated kubelets: Nodes, Lease heartbeats and pod status, without containers.',
  specs,
);
const log = new Logger('node-agent', parseLogLevel(flags['log-level'] as string));
let config;
try {
  config = configFromFlags({
    kubeconfig: flags.kubeconfig as string | undefined,
    server: flags.server as string | undefined,
  });
  for (const q of ['cpu', 'memory']) parseQuantity(flags[q] as string);
  if ((flags.nodes as number) < 0 || (flags.nodes as number) > 10_000)
    throw new Error('--nodes must be between 0 and 10000');
} catch (err) {
  process.stderr.write(`node-agent: ${(err as Error).message}\n`);
  process.exit(2);
}
const client = new KubeClient({ ...config, userAgent: 'node-agent', maxSockets: 64 });
const informers = new SharedInformerFactory(client, { resyncMs: 0, logger: log });
const recorder = new EventRecorder(client, 'kubelet', '', log);
const agent = new NodeAgent(
  { client, informers, recorder, logger: log },
  {
    nodes: flags.nodes as number,
    namePrefix: flags['node-name-prefix'] as string,
    cpu: flags.cpu as string,
    memory: flags.memory as string,
    pods: String(flags['max-pods']),
    heartbeatIntervalMs: flags['heartbeat-interval'] as number,
    statusIntervalMs: flags['node-status-update-frequency'] as number,
    leaseDurationSeconds: Math.max(1, Math.round((flags['node-lease-duration'] as number) / 1000)),
    maxGracePeriodSeconds:
      flags['max-grace-period'] === undefined ? undefined : (flags['max-grace-period'] as number) / 1000,
    podStartDelayMs: flags['pod-start-delay'] as number,
    crashLoopIntervalMs: flags['crashloop-interval'] as number,
    stopHeartbeat: flags['stop-heartbeat'] as string[],
    workers: flags.workers as number,
  },
);

// SIGUSR1 stops the first node still heartbeating; SIGUSR2 resumes them all.
process.on('SIGUSR1', () => {
  const n = agent.nodeNames().find((x) => agent.heartbeating(x));
  if (n) agent.setHeartbeat(n, false);
});
process.on('SIGUSR2', () => {
  for (const n of agent.nodeNames()) agent.setHeartbeat(n, true);
});

let server: http.Server | undefined;
if ((flags.port as number) > 0) {
  server = http.createServer((req, res) => {
    const m = /^\/nodes\/([^/]+)\/(stop|start)-heartbeat$/.exec(req.url ?? '');
    const reply = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body) + '\n');
    };
    if (req.method === 'GET' && req.url === '/healthz') return reply(200, { ok: true });
    if (req.method === 'GET' && req.url === '/nodes') {
      return reply(
        200,
        agent.nodeNames().map((name) => ({ name, heartbeating: agent.heartbeating(name) })),
      );
    }
    if (req.method === 'POST' && m) {
      const name = decodeURIComponent(m[1]!);
      return agent.setHeartbeat(name, m[2] === 'start')
        ? reply(200, { name, heartbeating: m[2] === 'start' })
        : reply(404, { error: `no node ${name}` });
    }
    reply(404, { error: 'not found' });
  });
  server.listen(flags.port as number, '127.0.0.1', () =>
    log.info('control endpoint listening', { port: flags.port }),
  );
}

informers.start();
void (async () => {
  for (let attempt = 0; ; attempt++) {
    try {
      await agent.registerAll();
      log.info('nodes registered', { nodes: agent.nodeNames().length });
      break;
    } catch (err) {
      log.warn('registering nodes failed; retrying', { error: String((err as Error).message) });
      await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
    }
  }
  await informers.waitForSync();
  await agent.run();
})();

onShutdown(log, async () => {
  agent.stop();
  server?.close();
  await recorder.flush(500);
  await informers.stop();
});
