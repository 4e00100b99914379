// `npm run bench -- cluster [--duration S] [--only NAME] [--rounds N] [--warmup S]`: the store benchmark's
// workloads against a 3-member bin/store cluster and a 3-member etcd 3.4 cluster (both started here, on this
// machine), client connections spread over all members, the leader's first (see leaderFirst); side by side
// with ratios, written to bench/results/cluster.json.
import { join } from 'node:path';
import { benchFlags, report, rounds, suite } from './store.js';
import { StoreCluster } from '../store/server/cluster-testing.js';
import { rawClient } from '../store/api/client.js';
import {
  freePorts,
  hasCommand,
  startProcess,
  tempDir,
  waitFor,
  run as runCmd,
  type Proc,
} from '../test/support/index.js';

/** A 3-member etcd cluster on loopback (etcd's own defaults otherwise). */
async function startEtcdCluster(n = 3): Promise<{ endpoints: string[]; stop(): Promise<void> }> {
  const tmp = tempDir('etcd-cluster-');
  const ports = await freePorts(2 * n);
  const members = Array.from({ length: n }, (_, i) => ({
    name: `e${i + 1}`,
    client: `http://127.0.0.1:${ports[2 * i]}`,
    peer: `http://127.0.0.1:${ports[2 * i + 1]}`,
  }));
  const initial = members.map((m) => `${m.name}=${m.peer}`).join(',');
  const procs: Proc[] = members.map((m) =>
    startProcess('etcd', [
      '--name',
      m.name,
      '--data-dir',
      join(tmp.path, m.name),
      '--listen-client-urls',
      m.client,
      '--advertise-client-urls',
      m.client,
      '--listen-peer-urls',
      m.peer,
      '--initial-advertise-peer-urls',
      m.peer,
      '--initial-cluster',
      initial,
      '--initial-cluster-state',
      'new',
      '--initial-cluster-token',
      'bench-etcd',
      '--log-level',
      'warn',
    ]),
  );
  const endpoints = members.map((m) => m.client);
  await waitFor(
    'etcd cluster to be healthy',
    async () => {
      const r = await runCmd('etcdctl', ['--endpoints', endpoints.join(','), 'endpoint', 'health'], {
        env: { ETCDCTL_API: '3' },
        timeoutMs: 10_000,
      });
      return r.code === 0;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  return {
    endpoints,
    async stop() {
      await Promise.all(procs.map((p) => p.kill('SIGTERM')));
      tmp.remove();
    },
  };
}

/**
 * The endpoints with the leader's first. The single-client workloads and the watch writer use the first
 * endpoint; on a follower every write takes an extra hop to the leader, so which member comes first would
 * otherwise decide part of the result, by the luck of each cluster's first election.
 */
async function leaderFirst(endpoints: string[]): Promise<string[]> {
  const roles = await Promise.all(
    endpoints.map(async (ep) => {
      const c = rawClient(ep, 10_000);
      try {
        const st = await c.maintenance.Status({});
        return String(st.header.memberId) === String(st.leader);
      } finally {
        c.close();
      }
    }),
  );
  const i = roles.indexOf(true);
  if (i < 0) throw new Error(`no member of ${endpoints.join(',')} says it is the leader`);
  return [endpoints[i]!, ...endpoints.filter((_, k) => k !== i)];
}

export async function run(args: string[]): Promise<void> {
  const { ms, only, rounds: n, warmupMs: warmup } = benchFlags(args);
  const cluster = await StoreCluster.start(3, { extraArgs: ['--log-level', 'warn'] });
  let etcd: Awaited<ReturnType<typeof startEtcdCluster>> | undefined;
  try {
    await cluster.waitLeader();
    const ours = await leaderFirst(cluster.members.map((m) => m.endpoint));
    etcd = hasCommand('etcd') ? await startEtcdCluster(3) : undefined;
    const ref = etcd && (await leaderFirst(etcd.endpoints));
    const res = await rounds(
      n,
      () => suite(ours, ms, only, warmup),
      ref && (() => suite(ref, ms, only, warmup)),
    );
    report(
      `3-member bin/store vs 3-member etcd ${etcd ? '3.4' : '(not installed)'}`,
      res.ours,
      res.ref,
      ms,
      'cluster.json',
      { members: 3 },
    );
  } finally {
    await cluster.destroy();
    await etcd?.stop();
  }
}
