// `npm run bench -- control-plane`: a Deployment of 1,000 replicas on 100 simulated nodes, timed from
// create to every pod Running and the Deployment Available, then a rolling update of it; reports the
// times and each component's peak memory (table + bench/results/control-plane.json).
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { startCluster } from '../apiserver/testing.js';
import { BIN, ROOT, startProcess, waitFor, type Proc } from '../test/support/index.js';
import { KubeClient, Resources, unwrap } from '../apimachinery/client.js';
import type { Deployment, Pod } from '../apimachinery/index.js';
import { Informer } from '../controllers/informer.js';
import { Logger } from '../common/index.js';
import { parseFlags, usage, type FlagSpec } from '../controllers/cmd/flags.js';

const specs: Record<string, FlagSpec> = {
  replicas: { type: 'int', default: 1000, help: 'Deployment replicas' },
  nodes: { type: 'int', default: 100, help: 'Simulated nodes' },
  timeout: { type: 'duration', default: '180s', help: 'Give up on a phase after this long' },
};

/** Peak resident memory (VmHWM) of a process, in MiB. */
function peakMiB(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second on Linux).
    return Math.round(((Number(fields[11]) + Number(fields[12])) / 100) * 10) / 10;
  } catch {
    return undefined;
  }
}

/** The store process: the child of this process whose command line serves `endpoint`. */
function storePid(endpoint: string): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (cmd.includes(endpoint) && cmd.some((a) => a.includes('listen-client-urls'))) return Number(d);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

export async function run(args: string[]): Promise<void> {
  const flags = parseFlags(args, specs);
  if (flags === 'help') {
    console.log(
      usage(
        'npm run bench -- control-plane',
        'Deployment scale-up and rolling update on simulated nodes.',
        specs,
      ),
    );
    return;
  }
  const replicas = flags.replicas as number;
  const nodes = flags.nodes as number;
  const timeoutMs = flags.timeout as number;
  const log = new Logger('bench', 'warn');
  console.log(
    `control-plane bench: ${replicas} replicas on ${nodes} nodes, load average ${loadavg()[0]!.toFixed(1)} (store: ${process.env.EKL_STORE === 'ours' ? 'ours' : 'etcd 3.4'})`,
  );
  const cluster = await startCluster();
  const server = cluster.url;
  const procs: Record<string, Proc> = {
    'controller-manager': startProcess(join(BIN, 'controller-manager'), [
      '--server',
      server,
      '--log-level',
      'warn',
      '--concurrent-replicaset-syncs',
      '5',
    ]),
    scheduler: startProcess(join(BIN, 'scheduler'), ['--server', server, '--log-level', 'warn']),
    'node-agent': startProcess(join(BIN, 'node-agent'), [
      '--server',
      server,
      '--nodes',
      String(nodes),
      '--log-level',
      'warn',
      '--max-pods',
      '110',
    ]),
  };
  const client = new KubeClient({ server });
  const podInf = new Informer<Pod>(client, Resources.pods, { labelSelector: 'app=bench', logger: log });
  const dInf = new Informer<Deployment>(client, Resources.deployments, { namespace: 'default', logger: log });
  // The machine's load when the run started: on a shared machine it explains most of the variance.
  const results: Record<string, unknown> = {
    loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
    replicas,
    nodes,
    store: process.env.EKL_STORE === 'ours' ? 'ours' : 'etcd-3.4',
  };
  try {
    await waitFor(
      `${nodes} nodes Ready`,
      async () => {
        const r = await client.list(Resources.nodes);
        return r.ok && r.value.items.length === nodes;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    podInf.start();
    dInf.start();
    await Promise.all([podInf.waitForSync(), dInf.waitForSync()]);
    const runningWith = (image: string) =>
      podInf
        .list()
        .filter(
          (p) =>
            !p.metadata.deletionTimestamp &&
            p.status?.phase === 'Running' &&
            p.spec.containers[0]!.image === image,
        ).length;
    const available = () => {
      const d = dInf.getByName('bench', 'default');
      const st = d?.status;
      return (
        !!d &&
        st?.observedGeneration === d.metadata.generation &&
        st?.updatedReplicas === replicas &&
        st?.availableReplicas === replicas &&
        st?.replicas === replicas &&
        st?.conditions?.some((c) => c.type === 'Available' && c.status === 'True')
      );
    };

    // Phase marks: when the last pod was created, bound and running (from the watch).
    const marks: Record<string, number> = {};
    const mark = () => {
      if (marks.bound !== undefined) return;
      const live = podInf.list().filter((p) => !p.metadata.deletionTimestamp);
      const t = Date.now() - t0;
      if (live.length >= replicas) marks.created ??= t;
      if (live.filter((p) => p.spec.nodeName).length >= replicas) marks.bound ??= t;
    };
    podInf.addEventHandlers({ onAdd: mark, onUpdate: mark });
    const t0 = Date.now();
    unwrap(
      await client.create<Deployment>(Resources.deployments, {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'bench', namespace: 'default' },
        spec: {
          replicas,
          selector: { matchLabels: { app: 'bench' } },
          template: {
            metadata: { labels: { app: 'bench' } },
            spec: {
              containers: [
                { name: 'app', image: 'bench:1', resources: { requests: { cpu: '10m', memory: '16Mi' } } },
              ],
            },
          },
        },
      }),
    );
    await waitFor('all pods Running', () => runningWith('bench:1') === replicas, {
      timeoutMs,
      intervalMs: 20,
    });
    const allRunning = Date.now() - t0;
    await waitFor('Deployment Available', available, { timeoutMs, intervalMs: 20 });
    const availableAt = Date.now() - t0;
    console.log(
      `  scale-up: all ${replicas} created after ${marks.created} ms, bound after ${marks.bound} ms, Running after ${allRunning} ms, Deployment Available after ${availableAt} ms`,
    );

    const t1 = Date.now();
    unwrap(
      await client.patch(
        Resources.deployments,
        'bench',
        { spec: { template: { spec: { containers: [{ name: 'app', image: 'bench:2' }] } } } },
        { namespace: 'default', type: 'strategic' },
      ),
    );
    await waitFor('rolling update complete', () => runningWith('bench:2') === replicas && available(), {
      timeoutMs,
      intervalMs: 20,
    });
    const rollout = Date.now() - t1;
    results.scaleUpAllCreatedMs = marks.created;
    results.scaleUpAllBoundMs = marks.bound;
    console.log(`  rolling update: complete after ${rollout} ms`);

    const pids: Record<string, number | undefined> = {
      store: storePid(cluster.store.endpoint),
      apiserver: cluster.apiservers[0]!.proc.pid,
    };
    for (const [name, p] of Object.entries(procs)) pids[name] = p.pid;
    const memory: Record<string, number | undefined> = {};
    const cpu: Record<string, number | undefined> = {};
    for (const [name, pid] of Object.entries(pids)) {
      memory[name] = pid ? peakMiB(pid) : undefined;
      cpu[name] = pid ? cpuSeconds(pid) : undefined;
    }
    Object.assign(results, {
      scaleUpAllRunningMs: allRunning,
      scaleUpAvailableMs: availableAt,
      rollingUpdateMs: rollout,
      podsPerSecond: Math.round((replicas * 1000) / allRunning),
      peakMemoryMiB: memory,
      cpuSeconds: cpu,
      targetAllRunningMs: 10_000,
      date: new Date().toISOString(),
    });
    console.log('');
    console.log('| phase | time |');
    console.log('|---|---|');
    console.log(
      `| ${replicas} replicas: create -> all Running | ${(allRunning / 1000).toFixed(2)} s (target < 10 s) |`,
    );
    console.log(
      `| ${replicas} replicas: create -> Deployment Available | ${(availableAt / 1000).toFixed(2)} s |`,
    );
    console.log(`| rolling update (25% surge / 25% unavailable) | ${(rollout / 1000).toFixed(2)} s |`);
    console.log('');
    console.log('| component | peak RSS (MiB) | CPU (s) |');
    console.log('|---|---|---|');
    for (const [k, v] of Object.entries(memory)) console.log(`| ${k} | ${v ?? 'n/a'} | ${cpu[k] ?? 'n/a'} |`);
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(
      join(ROOT, 'bench', 'results', 'control-plane.json'),
      JSON.stringify(results, null, 2) + '\n',
    );
    console.log(`\nwrote bench/results/control-plane.json`);
  } catch (err) {
    for (const [name, p] of Object.entries(procs)) console.error(`--- ${name}\n${p.output().slice(-3000)}`);
    throw err;
  } finally {
    await podInf.stop();
    await dInf.stop();
    for (const p of Object.values(procs)) await p.kill('SIGTERM');
    client.close();
    await cluster.stop();
  }
}
