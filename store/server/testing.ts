// Starts bin/store as a real process for end-to-end tests and benchmarks: free loopback ports, a temp
// data dir, and helpers to stop it cleanly, kill -9 it and restart it on the same data dir.
import { join } from 'node:path';
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

export interface StoreProcess {
  name: string;
  endpoint: string;
  metricsURL: string;
  dataDir: string;
  proc: Proc;
  /** etcdctl against this store; resolves with its exit code and output. */
  etcdctl(args: string[], opts?: { input?: string; timeoutMs?: number }): ReturnType<typeof run>;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | string>;
  /** SIGKILL (a crash) and wait for exit. */
  kill9(): Promise<number | string>;
  /** Starts a new process on the same data dir and ports; waits until it serves. */
  restart(): Promise<void>;
  /** Stops the process (if running) and removes the data dir. */
  destroy(): Promise<void>;
}

export interface StartStoreOptions {
  extraArgs?: string[];
  /** Reuse an existing data dir instead of a fresh temp one. */
  dataDir?: string;
  name?: string;
  /** Do not wait until it serves (for tests that expect it to fail). */
  noWait?: boolean;
  /**
   * Serve the client URL over TLS with --client-cert-auth, from certificates in this folder (see
   * makeTestCerts: server.crt/key, ca.crt); etcdctl() then presents `root`'s certificate.
   */
  tlsDir?: string;
}

// test/support kills its children when the test process exits normally; a test process stopped by a
// signal (a runner's time-out, Ctrl-C) would leave stores behind, so kill them on those signals too.
const running = new Set<StoreProcess>();
let signalsHooked = false;
function hookSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const s of running) s.proc.child.kill('SIGKILL');
      process.kill(process.pid, sig);
    });
  }
}

export async function startStore(opts: StartStoreOptions = {}): Promise<StoreProcess> {
  hookSignals();
  const [client, peer, metrics] = await freePorts(3);
  const tmp = opts.dataDir ? undefined : tempDir('store-');
  const dataDir = opts.dataDir ?? join(tmp!.path, 'data');
  const name = opts.name ?? 's1';
  const endpoint = `${opts.tlsDir ? 'https' : 'http'}://127.0.0.1:${client}`;
  const cert = (f: string) => join(opts.tlsDir!, f);
  const tlsArgs = opts.tlsDir
    ? [
        ...['--cert-file', cert('server.crt'), '--key-file', cert('server.key')],
        ...['--trusted-ca-file', cert('ca.crt'), '--client-cert-auth'],
      ]
    : [];
  const ctlTls = opts.tlsDir
    ? ['--cacert', cert('ca.crt'), '--cert', cert('root.crt'), '--key', cert('root.key')]
    : [];
  const metricsURL = `http://127.0.0.1:${metrics}`;
  const args = [
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
    `http://127.0.0.1:${peer}`,
    '--initial-advertise-peer-urls',
    `http://127.0.0.1:${peer}`,
    '--initial-cluster',
    `${name}=http://127.0.0.1:${peer}`,
    '--listen-metrics-urls',
    metricsURL,
    ...tlsArgs,
    ...(opts.extraArgs ?? []),
  ];
  const s: StoreProcess = {
    name,
    endpoint,
    metricsURL,
    dataDir,
    proc: startProcess(process.execPath, args),
    etcdctl: (a, o = {}) =>
      run(
        'etcdctl',
        [
          ...(a.some((x) => x.startsWith('--endpoints')) ? [] : ['--endpoints', endpoint]),
          '--dial-timeout=5s',
          '--command-timeout=15s',
          ...(a.some((x) => x.startsWith('--cert')) ? [] : ctlTls),
          ...a,
        ],
        {
          input: o.input,
          timeoutMs: o.timeoutMs ?? 30_000,
          env: { ETCDCTL_API: '3' },
        },
      ),
    stop: () => s.proc.kill('SIGTERM'),
    kill9: () => s.proc.kill('SIGKILL'),
    async restart() {
      if (s.proc.child.exitCode === null && s.proc.child.signalCode === null) await s.proc.kill('SIGTERM');
      s.proc = startProcess(process.execPath, args);
      await waitServing(s);
    },
    async destroy() {
      running.delete(s);
      await s.proc.kill('SIGKILL');
      tmp?.remove();
    },
  };
  running.add(s);
  if (!opts.noWait) {
    try {
      await waitServing(s);
    } catch (err) {
      await s.destroy();
      throw err;
    }
  }
  return s;
}

/** Waits until the store answers a linearizable read through the health endpoint. */
export async function waitServing(s: StoreProcess): Promise<void> {
  await waitFor(
    `store ${s.name} to serve on ${s.endpoint}`,
    async () => {
      if (s.proc.child.exitCode !== null || s.proc.child.signalCode !== null) {
        throw new Error(
          `store exited (${s.proc.child.exitCode ?? s.proc.child.signalCode}):\n${s.proc.output()}`,
        );
      }
      const r = await fetch(`${s.metricsURL}/health`).catch(() => undefined);
      return r?.status === 200;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  ).catch((err) => {
    throw new Error(`${(err as Error).message}\n--- store output ---\n${s.proc.output().slice(-4000)}`);
  });
}
