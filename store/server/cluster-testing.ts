// Starts a cluster of bin/store processes for end-to-end tests and the cluster benchmark: loopback, free
// ports, temp data dirs; members can be killed, paused (SIGSTOP), restarted, added and removed.
import { join } from 'node:path';
import { rawClient, type RawEtcdClient } from '../api/index.js';
import {
  BIN,
  freePorts,
  nodeFlagsOf,
  run,
  startProcess,
  tempDir,
  waitFor,
  type Proc,
} from '../../test/support/index.js';

export interface ClusterMember {
  name: string;
  endpoint: string;
  /** host:port, what etcdctl's per-endpoint commands need. */
  hostPort: string;
  peerURL: string;
  metricsURL: string;
  dataDir: string;
  args: string[];
  proc: Proc | undefined;
  client: RawEtcdClient;
}

export interface StoreClusterOptions {
  /** Extra bin/store flags for every member. */
  extraArgs?: string[];
  token?: string;
}

export class StoreCluster {
  readonly members: ClusterMember[] = [];
  private readonly tmp = tempDir('store-cluster-');
  private seq = 0;

  private constructor(private readonly opts: StoreClusterOptions) {}

  /** Starts `n` members as one new cluster and waits until every one serves. */
  static async start(n: number, opts: StoreClusterOptions = {}): Promise<StoreCluster> {
    const c = new StoreCluster(opts);
    // All ports from one call: separate calls may hand out the same just-released port.
    const ports = await freePorts(3 * n);
    const ms: ClusterMember[] = [];
    for (let i = 0; i < n; i++) ms.push(await c.prepare(ports.slice(3 * i, 3 * i + 3)));
    const initial = ms.map((m) => `${m.name}=${m.peerURL}`).join(',');
    for (const m of ms) {
      m.args.push('--initial-cluster', initial, '--initial-cluster-state', 'new');
      c.members.push(m);
      c.launch(m);
    }
    try {
      await Promise.all(ms.map((m) => c.waitServing(m)));
    } catch (err) {
      await c.destroy();
      throw err;
    }
    return c;
  }

  private async prepare(ports?: number[]): Promise<ClusterMember> {
    const [client, peer, metrics] = ports ?? (await freePorts(3));
    const name = `m${++this.seq}`;
    const endpoint = `http://127.0.0.1:${client}`;
    const peerURL = `http://127.0.0.1:${peer}`;
    const dataDir = join(this.tmp.path, name);
    return {
      name,
      endpoint,
      hostPort: `127.0.0.1:${client}`,
      peerURL,
      metricsURL: `http://127.0.0.1:${metrics}`,
      dataDir,
      args: [
        ...nodeFlagsOf(join(BIN, 'store')),
        join(BIN, 'store'),
        '--name',
        name,
        '--data-dir',
        dataDir,
        '--listen-client-urls',
        endpoint,
        '--advertise-client-urls',
        endpoint,
        '--listen-peer-urls',
        peerURL,
        '--initial-advertise-peer-urls',
        peerURL,
        '--listen-metrics-urls',
        `http://127.0.0.1:${metrics}`,
        '--initial-cluster-token',
        this.opts.token ?? 'test-cluster',
        '--heartbeat-interval',
        '100',
        '--election-timeout',
        '1000',
        ...(this.opts.extraArgs ?? []),
      ],
      proc: undefined,
      client: rawClient(endpoint, 10_000),
    };
  }

  private launch(m: ClusterMember): void {
    m.proc = startProcess(process.execPath, m.args);
  }

  /** Adds a member with etcdctl member add (through `via`) and starts it with --initial-cluster-state existing. */
  async add(
    opts: { learner?: boolean; via?: ClusterMember; extraArgs?: string[]; start?: boolean } = {},
  ): Promise<ClusterMember> {
    const m = await this.prepare();
    const via = opts.via ?? this.running()[0]!;
    const r = await this.etcdctl(
      ['member', 'add', m.name, `--peer-urls=${m.peerURL}`, ...(opts.learner ? ['--learner'] : [])],
      [via],
    );
    if (r.code !== 0) throw new Error(`member add failed: ${r.stderr}${r.stdout}`);
    const initial = /ETCD_INITIAL_CLUSTER="([^"]*)"/.exec(r.stdout)?.[1];
    if (!initial) throw new Error(`member add printed no ETCD_INITIAL_CLUSTER:\n${r.stdout}`);
    m.args.push(
      '--initial-cluster',
      initial,
      '--initial-cluster-state',
      'existing',
      ...(opts.extraArgs ?? []),
    );
    this.members.push(m);
    if (opts.start !== false) this.launch(m);
    return m;
  }

  running(): ClusterMember[] {
    return this.members.filter(
      (m) => m.proc && m.proc.child.exitCode === null && m.proc.child.signalCode === null,
    );
  }

  async kill9(m: ClusterMember): Promise<void> {
    await m.proc?.kill('SIGKILL');
  }

  async stop(m: ClusterMember): Promise<void> {
    await m.proc?.kill('SIGTERM');
  }

  pause(m: ClusterMember): void {
    m.proc?.child.kill('SIGSTOP');
  }

  resume(m: ClusterMember): void {
    m.proc?.child.kill('SIGCONT');
  }

  /** Starts the member again on its data dir (after a kill or stop). */
  async restart(m: ClusterMember, wait = true): Promise<void> {
    if (m.proc && m.proc.child.exitCode === null && m.proc.child.signalCode === null)
      await m.proc.kill('SIGTERM');
    this.launch(m);
    if (wait) await this.waitServing(m);
  }

  /** Forgets a member (after member remove): stops its process. */
  async forget(m: ClusterMember): Promise<void> {
    await m.proc?.kill('SIGKILL');
    m.client.close();
    this.members.splice(this.members.indexOf(m), 1);
  }

  /** Until /health answers 200: a leader, and a linearizable read through this member. */
  async waitServing(m: ClusterMember, timeoutMs = 60_000): Promise<void> {
    // A member that exits (a port taken meanwhile, a bad flag) fails the wait at once.
    const p = m.proc!;
    let exited: (() => void) | undefined;
    const gone = new Promise<never>((_, reject) => {
      exited = () =>
        reject(
          new Error(
            `member ${m.name} exited (${p.child.exitCode ?? p.child.signalCode}):\n${p.output().slice(-3000)}`,
          ),
        );
      p.child.once('exit', exited);
    });
    gone.catch(() => undefined);
    try {
      await Promise.race([gone, this.pollServing(m, timeoutMs)]);
    } finally {
      p.child.off('exit', exited!);
    }
  }

  private async pollServing(m: ClusterMember, timeoutMs: number): Promise<void> {
    await waitFor(
      `member ${m.name} to serve`,
      async () => {
        const p = m.proc!;
        if (p.child.exitCode !== null || p.child.signalCode !== null) {
          throw new Error(
            `member ${m.name} exited (${p.child.exitCode ?? p.child.signalCode}):\n${p.output().slice(-3000)}`,
          );
        }
        const r = await fetch(`${m.metricsURL}/health`, { signal: AbortSignal.timeout(3000) }).catch(
          () => undefined,
        );
        return r?.status === 200;
      },
      { timeoutMs, intervalMs: 100 },
    );
  }

  async status(m: ClusterMember): Promise<{
    leader: string;
    raftTerm: number;
    raftIndex: number;
    raftAppliedIndex: number;
    isLearner: boolean;
    memberId: string;
  }> {
    const s = await m.client.maintenance.Status({});
    return {
      leader: BigInt(s.leader).toString(16),
      raftTerm: Number(s.raftTerm),
      raftIndex: Number(s.raftIndex),
      raftAppliedIndex: Number(s.raftAppliedIndex),
      isLearner: !!s.isLearner,
      memberId: BigInt(s.header.member_id ?? s.header.memberId).toString(16),
    };
  }

  /** The member every running member agrees leads (waits until they agree). */
  async waitLeader(among: ClusterMember[] = this.running(), timeoutMs = 30_000): Promise<ClusterMember> {
    return waitFor(
      'one leader all members agree on',
      async () => {
        const st = await Promise.all(among.map((m) => this.status(m).catch(() => undefined)));
        if (st.some((s) => !s || s.leader === '0')) return undefined;
        const leaders = new Set(st.map((s) => s!.leader));
        if (leaders.size !== 1) return undefined;
        const id = [...leaders][0]!;
        return among.find((_, i) => st[i]!.memberId === id);
      },
      { timeoutMs, intervalMs: 100 },
    ) as Promise<ClusterMember>;
  }

  /** Waits until every member reports the same HashKV at the same revision; returns that revision. */
  async waitConverged(among: ClusterMember[] = this.running(), timeoutMs = 60_000): Promise<number> {
    return waitFor(
      'members to converge (same revision and HashKV)',
      async () => {
        const revs = await Promise.all(
          among.map((m) =>
            m.client.kv
              .Range({ key: Buffer.from('\0'), serializable: true, limit: 1 })
              .then((r: any) => Number(r.header.revision))
              .catch(() => -1),
          ),
        );
        if (revs.some((r) => r !== revs[0] || r < 0)) return undefined;
        const hashes = await Promise.all(
          among.map((m) => m.client.maintenance.HashKV({ revision: revs[0] }).catch(() => undefined)),
        );
        if (hashes.some((h) => !h || h.hash !== hashes[0].hash)) return undefined;
        return revs[0]!;
      },
      { timeoutMs, intervalMs: 200 },
    ) as Promise<number>;
  }

  etcdctl(args: string[], endpoints: ClusterMember[] = this.running(), timeoutMs = 30_000) {
    return run(
      'etcdctl',
      [
        '--endpoints',
        endpoints.map((m) => m.hostPort).join(','),
        '--dial-timeout=3s',
        '--command-timeout=10s',
        ...args,
      ],
      { timeoutMs, env: { ETCDCTL_API: '3' } },
    );
  }

  async destroy(): Promise<void> {
    for (const m of this.members) {
      m.client.close();
      if (m.proc?.child.signalCode === null && m.proc.child.exitCode === null) m.proc.child.kill('SIGCONT');
      await m.proc?.kill('SIGKILL');
    }
    this.tmp.remove();
  }

  /** Output of every member (for a failing test's message). */
  logs(): string {
    return this.members.map((m) => `--- ${m.name} ---\n${m.proc?.output().slice(-4000) ?? ''}`).join('\n');
  }
}

/** etcd's default --max-txn-ops: the most puts one bulk-load Txn carries. */
export const BULK_TXN_OPS = 128;

/**
 * Writes `keys` keys named `prefix` + a 6-digit number as Txns of BULK_TXN_OPS puts, 8 in flight spread over
 * `clients`: one Raft entry per Txn, so 100,000 keys are ~800 entries instead of 100,000.
 */
export async function bulkLoad(
  clients: RawEtcdClient[],
  prefix: string,
  keys: number,
  valueBytes: number,
): Promise<void> {
  const value = Buffer.alloc(valueBytes, 'x');
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      const client = clients[w % clients.length]!;
      while (next < keys) {
        const from = next;
        next = Math.min(keys, next + BULK_TXN_OPS);
        const success = [];
        for (let i = from; i < next; i++)
          success.push({ requestPut: { key: Buffer.from(`${prefix}${String(i).padStart(6, '0')}`), value } });
        const r = await client.kv.Txn({ compare: [], success, failure: [] });
        if (!r.succeeded) throw new Error(`bulk load Txn of keys ${from}..${next - 1} did not succeed`);
      }
    }),
  );
}
