// Test harness for end-to-end tests: a store (real etcd 3.4, or our bin/store with EKL_STORE=ours), one
// or more bin/apiserver processes on free ports, and a kubeconfig for real kubectl.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BIN,
  freePort,
  freePorts,
  run,
  startProcess,
  startRealEtcd,
  tempDir,
  waitFor,
  type Proc,
  type ExecResult,
} from '../test/support/index.js';

export interface StoreHandle {
  endpoint: string;
  stop(): Promise<void>;
}

/** The store under test: EKL_STORE=ours starts bin/store (one member), anything else real etcd. */
export async function startStore(): Promise<StoreHandle> {
  if (process.env.EKL_STORE === 'ours') {
    const [client, peer] = await freePorts(2);
    const dir = tempDir('ekl-store-');
    const endpoint = `http://127.0.0.1:${client}`;
    const proc = startProcess(join(BIN, 'store'), [
      '--name',
      's1',
      '--data-dir',
      dir.path,
      '--listen-client-urls',
      endpoint,
      '--advertise-client-urls',
      endpoint,
      '--listen-peer-urls',
      `http://127.0.0.1:${peer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${peer}`,
      '--initial-cluster',
      `s1=http://127.0.0.1:${peer}`,
    ]);
    await waitFor(
      'our store to serve',
      async () =>
        (await run('etcdctl', ['--endpoints', endpoint, 'endpoint', 'health'], { timeoutMs: 5000 })).code ===
        0,
      {
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    );
    return {
      endpoint,
      async stop() {
        await proc.kill('SIGTERM');
        dir.remove();
      },
    };
  }
  const etcd = await startRealEtcd();
  return { endpoint: etcd.endpoint, stop: () => etcd.stop() };
}

export interface ApiServerProc {
  url: string;
  port: number;
  proc: Proc;
  stop(): Promise<void>;
}

export async function startApiServer(etcdEndpoint: string, extraArgs: string[] = []): Promise<ApiServerProc> {
  const port = await freePort();
  const proc = startProcess(join(BIN, 'apiserver'), [
    '--etcd-servers',
    etcdEndpoint,
    '--bind-address',
    '127.0.0.1',
    '--port',
    String(port),
    ...extraArgs,
  ]);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    `apiserver on :${port} to be ready`,
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`apiserver exited: ${proc.output()}`);
      const r = await fetch(`${url}/readyz`).catch(() => null);
      return r?.status === 200;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  return { url, port, proc, stop: async () => void (await proc.kill('SIGTERM')) };
}

export interface Cluster {
  store: StoreHandle;
  apiservers: ApiServerProc[];
  url: string;
  kubeconfig: string;
  dir: string;
  /** Runs real kubectl against apiservers[i] (default 0). */
  kubectl(
    args: string[],
    opts?: { input?: string; env?: NodeJS.ProcessEnv; server?: number },
  ): Promise<ExecResult>;
  stop(): Promise<void>;
}

export function writeKubeconfig(path: string, server: string): void {
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: ekl',
      '  cluster:',
      `    server: ${server}`,
      'contexts:',
      '- name: ekl',
      '  context: {cluster: ekl, user: ekl, namespace: default}',
      'current-context: ekl',
      'users:',
      '- name: ekl',
      '  user: {}',
      '',
    ].join('\n'),
  );
}

export async function startCluster(
  opts: { apiservers?: number; apiserverArgs?: string[] } = {},
): Promise<Cluster> {
  const store = await startStore();
  const apiservers: ApiServerProc[] = [];
  const dir = tempDir('ekl-kube-');
  try {
    for (let i = 0; i < (opts.apiservers ?? 1); i++)
      apiservers.push(await startApiServer(store.endpoint, opts.apiserverArgs));
  } catch (e) {
    for (const a of apiservers) await a.stop();
    await store.stop();
    throw e;
  }
  const configs = apiservers.map((a, i) => {
    const p = join(dir.path, `kubeconfig-${i}`);
    writeKubeconfig(p, a.url);
    return p;
  });
  return {
    store,
    apiservers,
    url: apiservers[0].url,
    kubeconfig: configs[0],
    dir: dir.path,
    kubectl(args, o = {}) {
      // HOME in the temp dir keeps kubectl's discovery cache per test cluster.
      return run('kubectl', ['--kubeconfig', configs[o.server ?? 0], ...args], {
        input: o.input,
        env: { HOME: dir.path, ...o.env },
        timeoutMs: 60_000,
      });
    },
    async stop() {
      for (const a of apiservers) await a.stop();
      await store.stop();
      dir.remove();
    },
  };
}

/** Every key under the prefix as etcdctl sees it: lets a test check what was (not) written. */
export async function storeKeys(endpoint: string, prefix = '/registry/'): Promise<string[]> {
  const r = await run('etcdctl', ['--endpoints', endpoint, 'get', prefix, '--prefix', '--keys-only']);
  if (r.code !== 0) throw new Error(`etcdctl failed: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}
