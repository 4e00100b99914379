// A real cluster of bin/store processes for a torture run: loopback, free ports, temp data dirs, and a
// LinkProxy on every directed peer link (each member resolves its peers' names to its own proxies, see
// peer-dns.ts). Members can be killed, paused, restarted, wiped and replaced through the Cluster API.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN, freePorts, nodeFlagsOf, startProcess, tempDir, waitFor, type Proc } from '../support/index.js';
import { etcdClient, type EtcdClient } from './client.js';
import { LinkProxy, type LinkMode } from './proxy.js';

const PEER_DNS = fileURLToPath(new URL('./peer-dns.js', import.meta.url));

export interface Member {
  index: number;
  name: string;
  endpoint: string;
  metricsURL: string;
  /** The URL every member knows this one by (resolved per member to a link proxy). */
  peerURL: string;
  realPeerPort: number;
  dataDir: string;
  proc: Proc | undefined;
  paused: boolean;
  /** The member id in hex, as the cluster knows it (changes when the member is replaced). */
  id: string;
  client: EtcdClient;
  /** Incremented on every replacement: data dirs are never reused. */
  generation: number;
  /** Output of this member's earlier processes (before restarts), for the run's member logs. */
  pastOutput: string[];
}

export interface ClusterOptions {
  members: number;
  /** Extra bin/store flags. */
  extraArgs?: string[];
  random?: () => number;
  log?: (line: string) => void;
  /** The name resolver module members load (default peer-dns.js beside this file). */
  peerDns?: string;
  /** The store's compiled entry point (default bin/store). */
  storeEntry?: string;
  /** A folder with ca.crt and peer.crt/key (valid for *.torture): peers then talk TLS. */
  peerTls?: string;
}

export class TortureCluster {
  readonly members: Member[] = [];
  /** proxies[from][to]: the link from member `from` to member `to`. */
  readonly proxies: LinkProxy[][] = [];
  private readonly dir = tempDir('torture-');
  private readonly log: (line: string) => void;

  private constructor(private readonly opts: ClusterOptions) {
    this.log = opts.log ?? (() => undefined);
  }

  static async start(opts: ClusterOptions): Promise<TortureCluster> {
    // freePorts() only says a port was free a moment ago: another process (a test running beside this one,
    // an outgoing connection's ephemeral port) may take it before the member listens. Such a boot is tried
    // again on new ports, a few times; any other failure is the run's.
    for (let attempt = 1; ; attempt++) {
      const c = new TortureCluster(opts);
      try {
        await c.boot();
        return c;
      } catch (err) {
        await c.destroy();
        if (attempt >= 3 || !String((err as Error).message).includes('EADDRINUSE')) throw err;
        c.log(`torture: a port was taken before a member listened on it; booting again on new ports`);
      }
    }
  }

  get root(): string {
    return this.dir.path;
  }

  private async boot(): Promise<void> {
    const n = this.opts.members;
    const ports = await freePorts(4 * n);
    for (let i = 0; i < n; i++) {
      const [client, peer, metrics, advertised] = ports.slice(4 * i, 4 * i + 4) as [
        number,
        number,
        number,
        number,
      ];
      this.members.push({
        index: i,
        name: `s${i}`,
        endpoint: `http://127.0.0.1:${client}`,
        metricsURL: `http://127.0.0.1:${metrics}`,
        peerURL: `${this.opts.peerTls ? 'https' : 'http'}://s${i}.torture:${advertised}`,
        realPeerPort: peer,
        dataDir: join(this.dir.path, `s${i}-0`),
        proc: undefined,
        paused: false,
        id: '',
        client: etcdClient(`http://127.0.0.1:${client}`),
        generation: 0,
        pastOutput: [],
      });
    }
    for (let from = 0; from < n; from++) {
      this.proxies.push([]);
      for (let to = 0; to < n; to++) {
        const port = Number(new URL(this.members[to]!.peerURL).port);
        const p = new LinkProxy(
          linkAddress(from, to),
          port,
          '127.0.0.1',
          this.members[to]!.realPeerPort,
          this.opts.random,
        );
        if (from !== to) await p.start();
        this.proxies[from]!.push(p);
      }
    }
    const initialCluster = this.members.map((m) => `${m.name}=${m.peerURL}`).join(',');
    for (const m of this.members) this.spawn(m, initialCluster, 'new');
    await Promise.all(this.members.map((m) => this.waitServing(m)));
    await this.refreshIds();
  }

  private spawn(m: Member, initialCluster: string, state: 'new' | 'existing'): void {
    mkdirSync(join(m.dataDir, '..'), { recursive: true });
    const hosts: Record<string, string> = {};
    for (const peer of this.members) hosts[`${peer.name}.torture`] = linkAddress(m.index, peer.index);
    const args = [
      ...nodeFlagsOf(join(BIN, 'store')),
      '--import',
      this.opts.peerDns ?? PEER_DNS,
      this.opts.storeEntry ?? join(BIN, 'store'),
      '--name',
      m.name,
      '--data-dir',
      m.dataDir,
      '--listen-client-urls',
      m.endpoint,
      '--advertise-client-urls',
      m.endpoint,
      '--listen-peer-urls',
      `${this.opts.peerTls ? 'https' : 'http'}://127.0.0.1:${m.realPeerPort}`,
      '--initial-advertise-peer-urls',
      m.peerURL,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-state',
      state,
      '--listen-metrics-urls',
      m.metricsURL,
      '--log-level',
      // TORTURE_LOG_LEVEL=info shows membership changes and snapshots in a failing member's output.
      process.env.TORTURE_LOG_LEVEL ?? 'warn',
      ...(this.opts.peerTls
        ? [
            ...['--peer-cert-file', join(this.opts.peerTls, 'peer.crt')],
            ...['--peer-key-file', join(this.opts.peerTls, 'peer.key')],
            ...['--peer-trusted-ca-file', join(this.opts.peerTls, 'ca.crt'), '--peer-client-cert-auth'],
          ]
        : []),
      ...(this.opts.extraArgs ?? []),
    ];
    if (m.proc) m.pastOutput.push(m.proc.output());
    m.proc = startProcess(process.execPath, args, { env: { TORTURE_PEER_HOSTS: JSON.stringify(hosts) } });
    m.paused = false;
    const proc = m.proc;
    void proc.exited.then((code) => {
      if (m.proc === proc && code !== 'SIGKILL' && code !== 'SIGTERM') {
        this.log(`member ${m.name} exited by itself (${code}): ${proc.output().slice(-2000)}`);
      }
    });
  }

  /** Everything each member's processes wrote, restarts included, oldest first. */
  memberLogs(): Record<string, string> {
    return Object.fromEntries(
      this.members.map((m) => [
        m.name,
        [...m.pastOutput, m.proc?.output() ?? ''].join('\n--- restart ---\n'),
      ]),
    );
  }

  running(m: Member): boolean {
    return !!m.proc && m.proc.child.exitCode === null && m.proc.child.signalCode === null;
  }

  /** Waits until the member's /health says it has a leader and serves a linearizable read. */
  async waitServing(m: Member, timeoutMs = 30_000): Promise<void> {
    let dead: string | undefined;
    await waitFor(
      `member ${m.name} to serve`,
      async () => {
        if (!this.running(m)) {
          dead = `member ${m.name} is not running:\n${m.proc?.output().slice(-3000)}`;
          return true; // stop waiting: a dead member will not start serving
        }
        const r = await fetch(`${m.metricsURL}/health`, { signal: AbortSignal.timeout(2000) }).catch(
          () => undefined,
        );
        return r?.status === 200;
      },
      { timeoutMs, intervalMs: 100 },
    );
    if (dead) throw new Error(dead);
  }

  async refreshIds(): Promise<void> {
    for (const m of this.members) {
      if (!this.running(m) || m.paused) continue;
      const r = await m.client.call('cluster', 'MemberList', {}, 3000).catch(() => undefined);
      if (!r) continue;
      for (const x of r.members as { ID: string; name: string; peerURLs: string[] }[]) {
        const owner = this.members.find((y) => y.peerURL === x.peerURLs[0]);
        if (owner) owner.id = BigInt(x.ID).toString(16);
      }
      return;
    }
  }

  /** The member the others follow, by Status; undefined if none answers. */
  async leader(): Promise<Member | undefined> {
    for (const m of this.members) {
      if (!this.running(m) || m.paused) continue;
      const s = await m.client.call('maintenance', 'Status', {}, 2000).catch(() => undefined);
      if (!s || s.leader === '0') continue;
      const id = BigInt(s.leader).toString(16);
      const l = this.members.find((x) => x.id === id);
      if (l) return l;
    }
    return undefined;
  }

  async kill9(m: Member): Promise<void> {
    if (m.paused) await this.resume(m);
    await m.proc?.kill('SIGKILL');
  }

  async restart(m: Member): Promise<void> {
    if (this.running(m)) return;
    // The data dir holds the membership; as with etcd, the initial-cluster flags are not read again.
    this.spawn(m, this.initialCluster(), 'new');
  }

  pause(m: Member): void {
    if (!this.running(m) || m.paused) return;
    m.proc!.child.kill('SIGSTOP');
    m.paused = true;
  }

  async resume(m: Member): Promise<void> {
    if (!m.paused) return;
    m.proc!.child.kill('SIGCONT');
    m.paused = false;
  }

  /** Sets the mode of the link from -> to. */
  link(from: number, to: number, mode: LinkMode): void {
    if (from !== to) this.proxies[from]![to]!.setMode(mode);
  }

  healNetwork(): void {
    for (const row of this.proxies) for (const p of row) p.setMode({ kind: 'pass' });
  }

  initialCluster(): string {
    return this.members.map((m) => `${m.name}=${m.peerURL}`).join(',');
  }

  /**
   * Replaces member `m` with a new member on a fresh data dir: MemberRemove through a live member, stop
   * the old process, MemberAdd with the same peer URL, start with --initial-cluster-state existing.
   * `wipeFirst` kills the process and deletes its data before the removal (a lost disk).
   */
  async replace(
    m: Member,
    wipeFirst: boolean,
    deadlineMs = 20_000,
    note: (s: string) => void = this.log,
  ): Promise<void> {
    if (wipeFirst) {
      await this.kill9(m);
      rmSync(m.dataDir, { recursive: true, force: true });
    }
    const via = () => this.members.find((x) => x !== m && this.running(x) && !x.paused);
    const id = BigInt('0x' + m.id).toString();
    // Both steps retry; a retry after a lost answer finds the step already done (NOT_FOUND on remove, the
    // peer URL already a member on add), which counts as done.
    await waitFor(
      `MemberRemove ${m.name}`,
      async () => {
        const v = via();
        if (!v) return false;
        try {
          await v.client.call('cluster', 'MemberRemove', { ID: id }, 3000);
        } catch (err) {
          note(`MemberRemove ${m.name} (${m.id}) via ${v.name}: ${(err as Error).message}`);
          if ((err as { code?: number }).code !== 5 /* NOT_FOUND */) throw err;
        }
        return true;
      },
      { timeoutMs: deadlineMs, intervalMs: 300 },
    );
    await this.kill9(m);
    if (existsSync(m.dataDir)) rmSync(m.dataDir, { recursive: true, force: true });
    m.generation++;
    m.dataDir = join(this.dir.path, `${m.name}-${m.generation}`);
    const newId = await waitFor(
      `MemberAdd ${m.name}`,
      async () => {
        const v = via();
        if (!v) return undefined;
        try {
          const added = await v.client.call('cluster', 'MemberAdd', { peerURLs: [m.peerURL] }, 3000);
          return BigInt(added.member.ID).toString(16);
        } catch (err) {
          note(`MemberAdd ${m.name} via ${v.name}: ${(err as Error).message}`);
          const list = await v.client.call('cluster', 'MemberList', {}, 3000);
          const x = (list.members as { ID: string; peerURLs: string[] }[]).find((y) =>
            y.peerURLs.includes(m.peerURL),
          );
          if (x && BigInt(x.ID).toString(16) !== m.id) return BigInt(x.ID).toString(16);
          throw err;
        }
      },
      { timeoutMs: deadlineMs, intervalMs: 300 },
    );
    m.id = newId;
    this.spawn(m, this.initialCluster(), 'existing');
  }

  async destroy(): Promise<void> {
    for (const m of this.members) {
      if (m.paused) m.proc?.child.kill('SIGCONT');
      await m.proc?.kill('SIGKILL');
      m.client.close();
    }
    for (const row of this.proxies) for (const p of row) await p.close();
    this.dir.remove();
  }
}

/** The loopback address where the proxy of link from -> to listens (127.0.0.0/8 is all loopback on Linux). */
function linkAddress(from: number, to: number): string {
  return `127.77.${from + 1}.${to + 1}`;
}
