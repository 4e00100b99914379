// Test harness for the dashboard: a whole cluster as real processes (store members, apiserver,
// controller-manager, scheduler, node-agent), a small control server speaking the supervisor's control
// API over the processes it owns, and bin/dashboard in front; plus a headless Chromium launcher.
import http from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, freePort, freePorts, startProcess, waitFor, type Proc } from '../test/support/index.js';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function hasChromium(): boolean {
  return existsSync(CHROMIUM);
}

/** One supervised process: what the control server lists and acts on. */
export class Managed {
  proc: Proc | undefined;
  paused = false;
  constructor(
    readonly name: string,
    readonly kind: string,
    readonly cmd: string,
    readonly args: string[],
    readonly urls: Record<string, string>,
  ) {}

  get running(): boolean {
    return !!this.proc && this.proc.child.exitCode === null && this.proc.child.signalCode === null;
  }

  get state(): 'running' | 'stopped' | 'paused' {
    return !this.running ? 'stopped' : this.paused ? 'paused' : 'running';
  }

  start(): void {
    if (this.running) return;
    this.paused = false;
    this.proc = startProcess(this.cmd, this.args);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.running) return;
    if (this.paused) this.proc!.child.kill('SIGCONT');
    this.paused = false;
    const hard = setTimeout(() => this.proc?.child.kill('SIGKILL'), 5000);
    await this.proc!.kill(signal);
    clearTimeout(hard);
  }

  pause(): void {
    if (!this.running || this.paused) return;
    this.proc!.child.kill('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    if (!this.running || !this.paused) return;
    this.proc!.child.kill('SIGCONT');
    this.paused = false;
  }

  output(): string {
    return this.proc?.output() ?? '';
  }
}

export interface TestCluster {
  dir: string;
  stores: Managed[];
  storeEndpoints: string[];
  apiserverURL: string;
  /** node-agent's control endpoint (POST /nodes/<name>/stop-heartbeat). */
  nodeAgentURL: string;
  controlURL: string;
  dashboardURL: string;
  components: Managed[];
  dashboard: Proc;
  stop(): Promise<void>;
  /** The last lines of every process's output, for a failing test's message. */
  logs(): string;
}

export interface TestClusterOptions {
  nodes?: number;
  /** Store members; more than one needs the store's peer transport. */
  members?: number;
  nodeAgentArgs?: string[];
  controllerManagerArgs?: string[];
  apiserverArgs?: string[];
}

/** Starts the whole cluster and the dashboard; waits until the dashboard serves. */
export async function startTestCluster(opts: TestClusterOptions = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'dash-'));
  const n = opts.members ?? 1;
  const ports = await freePorts(n * 2 + 2);
  const nodeAgentPort = ports[2 * n + 1]!;
  const peers = Array.from({ length: n }, (_, i) => `s${i + 1}=http://127.0.0.1:${ports[n + i]}`).join(',');
  const stores = Array.from({ length: n }, (_, i) => {
    const name = `s${i + 1}`;
    const client = `http://127.0.0.1:${ports[i]}`;
    const peer = `http://127.0.0.1:${ports[n + i]}`;
    return new Managed(
      name,
      'store',
      process.execPath,
      [
        join(BIN, 'store'),
        '--name',
        name,
        '--data-dir',
        join(dir, name),
        '--listen-client-urls',
        client,
        '--advertise-client-urls',
        client,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        peers,
        '--heartbeat-interval',
        '100',
        '--election-timeout',
        '1000',
      ],
      { client, peer },
    );
  });
  const storeEndpoints = stores.map((s) => s.urls.client!);
  const apiPort = ports[2 * n]!;
  const apiserverURL = `http://127.0.0.1:${apiPort}`;
  const apiserver = new Managed(
    'apiserver',
    'apiserver',
    process.execPath,
    [
      join(BIN, 'apiserver'),
      '--etcd-servers',
      storeEndpoints.join(','),
      '--port',
      String(apiPort),
      '--bind-address',
      '127.0.0.1',
      ...(opts.apiserverArgs ?? []),
    ],
    { server: apiserverURL },
  );
  const kube = (name: string, extra: string[]) =>
    new Managed(name, name, process.execPath, [join(BIN, name), '--server', apiserverURL, ...extra], {});
  const components = [
    ...stores,
    apiserver,
    kube('controller-manager', [
      '--node-monitor-grace-period',
      '6s',
      '--node-monitor-period',
      '1s',
      ...(opts.controllerManagerArgs ?? []),
    ]),
    kube('scheduler', []),
    kube('node-agent', [
      '--nodes',
      String(opts.nodes ?? 3),
      '--heartbeat-interval',
      '1s',
      '--node-lease-duration',
      '4s',
      '--port',
      String(nodeAgentPort),
      ...(opts.nodeAgentArgs ?? []),
    ]),
  ];
  const control = await startControlServer(components);
  let dashboard: Proc | undefined;
  const cluster: TestCluster = {
    dir,
    stores,
    storeEndpoints,
    apiserverURL,
    nodeAgentURL: `http://127.0.0.1:${nodeAgentPort}`,
    controlURL: control.url,
    dashboardURL: '',
    components,
    get dashboard() {
      return dashboard!;
    },
    async stop() {
      await dashboard?.kill('SIGTERM');
      for (const c of [...components].reverse()) await c.stop();
      await control.close();
      rmSync(dir, { recursive: true, force: true });
    },
    logs() {
      const tail = (s: string) => s.split('\n').slice(-25).join('\n');
      return [
        ...components.map((c) => `--- ${c.name} ---\n${tail(c.output())}`),
        `--- dashboard ---\n${tail(dashboard?.output() ?? '')}`,
      ].join('\n');
    },
  };
  try {
    for (const s of stores) s.start();
    apiserver.start();
    await waitFor(
      'the apiserver to be ready',
      async () => {
        if (!apiserver.running) throw new Error(`apiserver exited:\n${apiserver.output()}`);
        const r = await fetch(`${apiserverURL}/readyz`).catch(() => undefined);
        return r?.status === 200;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    for (const c of components.slice(n + 1)) c.start();
    const port = await freePort();
    dashboard = startProcess(process.execPath, [
      join(BIN, 'dashboard'),
      '--server',
      apiserverURL,
      '--etcd-servers',
      storeEndpoints.join(','),
      '--cluster-control',
      control.url,
      '--port',
      String(port),
      '--bind-address',
      '127.0.0.1',
    ]);
    const line = await waitFor(
      'the dashboard to print its URL',
      () => {
        if (dashboard!.child.exitCode !== null) throw new Error(`dashboard exited:\n${dashboard!.output()}`);
        return /dashboard listening on (\S+)/.exec(dashboard!.output());
      },
      { timeoutMs: 30_000 },
    );
    cluster.dashboardURL = line[1]!;
    return cluster;
  } catch (err) {
    const logs = cluster.logs();
    await cluster.stop();
    throw new Error(`${(err as Error).message}\n${logs}`, { cause: err });
  }
}

/**
 * The whole cluster as `npm start` runs it: bin/cluster in a temp --data-dir on free ports, dashboard
 * included (started by the supervisor with the flags it always uses). Resolves once cluster.json says ready.
 */
export async function startSupervisedCluster(
  opts: { members?: number; nodes?: number } = {},
): Promise<Omit<TestCluster, 'components' | 'dashboard' | 'stores'>> {
  const dir = mkdtempSync(join(tmpdir(), 'dash-cluster-'));
  const proc = startProcess(process.execPath, [
    join(BIN, 'cluster'),
    '--data-dir',
    dir,
    '--ports',
    'auto',
    '--store-members',
    String(opts.members ?? 3),
    '--nodes',
    String(opts.nodes ?? 3),
  ]);
  const file = () => JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8'));
  const logs = () => {
    const tail = (s: string) => s.split('\n').slice(-40).join('\n');
    let dash = '';
    try {
      dash = readFileSync(join(dir, 'logs', 'dashboard.log'), 'utf8');
    } catch {
      // not started yet
    }
    return `--- bin/cluster ---\n${tail(proc.output())}\n--- dashboard ---\n${tail(dash)}`;
  };
  const stop = async () => {
    // Ctrl-C: the supervisor stops every component it started.
    const hard = setTimeout(() => proc.child.kill('SIGKILL'), 20_000);
    await proc.kill('SIGINT');
    clearTimeout(hard);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'bin/cluster to report ready',
      () => {
        if (proc.child.exitCode !== null) throw new Error(`bin/cluster exited ${proc.child.exitCode}`);
        if (!existsSync(join(dir, 'cluster.json'))) return false;
        const f = file();
        return f.ready && f.supervisor?.pid === proc.pid && f.dashboard;
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
  } catch (err) {
    const out = logs();
    await stop();
    throw new Error(`${(err as Error).message}\n${out}`, { cause: err });
  }
  const f = file();
  return {
    dir,
    storeEndpoints: f.storeMembers.map((m: { clientURL: string }) => m.clientURL),
    apiserverURL: f.apiserver,
    nodeAgentURL: f.nodeAgent,
    controlURL: f.control,
    dashboardURL: f.dashboard,
    stop,
    logs,
  };
}

/** The supervisor's control API (GET /components, POST /components/<name>/<action>) over our processes. */
export async function startControlServer(
  components: Managed[],
): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const reply = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const u = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && u.pathname === '/components') {
      return reply(
        200,
        components.map((c) => ({
          name: c.name,
          kind: c.kind,
          pid: c.running ? c.proc!.pid : undefined,
          state: c.state,
          urls: c.urls,
        })),
      );
    }
    const m = /^\/components\/([^/]+)\/(stop|kill|start|pause|resume)$/.exec(u.pathname);
    if (req.method === 'POST' && m) {
      const c = components.find((x) => x.name === decodeURIComponent(m[1]!));
      if (!c) return reply(404, { message: `no component "${m[1]}"` });
      const act = async () => {
        if (m[2] === 'stop') await c.stop('SIGTERM');
        else if (m[2] === 'kill') await c.stop('SIGKILL');
        else if (m[2] === 'start') c.start();
        else if (m[2] === 'pause') c.pause();
        else c.resume();
      };
      act().then(
        () => reply(200, { name: c.name, state: c.state }),
        (err) => reply(500, { message: String(err) }),
      );
      return;
    }
    reply(404, { message: 'not found' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A headless Chromium (Playwright gives each launch a fresh temporary profile); the caller closes it. */
export async function launchChromium(): Promise<import('playwright-core').Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}
