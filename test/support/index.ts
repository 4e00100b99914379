// Helpers for end-to-end tests: free loopback ports, temp dirs, child processes we own, and waiting for
// a condition with a deadline (never a bare sleep).
import { spawn, type ChildProcess, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = join(ROOT, 'bin');

export { nodeFlagsOf } from '../../common/nodeflags.js';

/** A port that was free on 127.0.0.1 a moment ago (the OS picked it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function freePorts(n: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await freePort());
  return [...out];
}

export function tempDir(prefix = 'ekl-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Polls `cond` until it returns a truthy value or the deadline passes; then throws with `what`. */
export async function waitFor<T>(
  what: string,
  cond: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 50 } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`,
  );
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Starts a process we own; it is killed when the test process exits. */
export function startProcess(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Proc {
  const child = spawn(cmd, args, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, sig) => resolve(code ?? sig ?? -1));
  });
  live.add(child);
  void exited.then(() => live.delete(child));
  return {
    child,
    pid: child.pid!,
    output: () => out,
    exited,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

const live = new Set<ChildProcess>();
function killLive(): void {
  for (const c of live) c.kill('SIGKILL');
}
process.on('exit', killLive);
// A test run stopped by a signal must not leave servers behind either.
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(sig, () => {
    killLive();
    process.exit(128 + (sig === 'SIGHUP' ? 1 : sig === 'SIGINT' ? 2 : 15));
  });
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (with a time-out) and returns its exit code and output. */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      {
        cwd: opts.cwd ?? ROOT,
        env: { ...process.env, ...opts.env },
        timeout: opts.timeoutMs ?? 30_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as any).code === 'number' ? (err as any).code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (opts.input !== undefined) {
      child.stdin!.end(opts.input);
    }
  });
}

export function hasCommand(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some((p) => existsSync(join(p, name)));
}

/**
 * A real etcd (Debian's etcd-server) on free loopback ports, for reference tests: in a temp dir removed by
 * stop(), or in `dataDir` (kept: e.g. a data dir `etcdctl snapshot restore` made, whose member `name` and peer
 * port must then be the restore's). Fails at once, with etcd's output, if etcd exits before serving.
 * `user` (name:password) is for the health check of a data dir with auth on.
 */
export async function startRealEtcd(
  extraArgs: string[] = [],
  opts: { dataDir?: string; name?: string; peerPort?: number; user?: string } = {},
): Promise<{
  endpoint: string;
  proc: Proc;
  stop(): Promise<void>;
}> {
  const [client, freePeer] = await freePorts(2);
  const peer = `http://127.0.0.1:${opts.peerPort ?? freePeer}`;
  const name = opts.name ?? 'ref';
  const dir = opts.dataDir ? undefined : tempDir('real-etcd-');
  const endpoint = `http://127.0.0.1:${client}`;
  const proc = startProcess('etcd', [
    ...['--name', name, '--data-dir', opts.dataDir ?? dir!.path],
    ...['--listen-client-urls', endpoint, '--advertise-client-urls', endpoint],
    ...['--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer],
    ...['--initial-cluster', `${name}=${peer}`],
    ...extraArgs,
  ]);
  const died = proc.exited.then((code) => {
    throw new Error(`etcd exited (${code}) before serving:\n${proc.output().slice(-3000)}`);
  });
  died.catch(() => undefined); // once it served, a later exit is the caller's business
  await Promise.race([
    died,
    waitFor(
      'real etcd to serve',
      async () =>
        (
          await run(
            'etcdctl',
            ['--endpoints', endpoint, ...(opts.user ? ['--user', opts.user] : []), 'endpoint', 'health'],
            { timeoutMs: 5000 },
          )
        ).code === 0,
      { timeoutMs: 20_000, intervalMs: 200 },
    ),
  ]);
  return {
    endpoint,
    proc,
    async stop() {
      await proc.kill('SIGTERM');
      dir?.remove();
    },
  };
}

/**
 * A test CA and certificates signed by it, made with openssl in `dir`: `<name>.crt`/`<name>.key` for each
 * name (the name is the certificate's common name; each is valid for `subjectAltName`, by default
 * 127.0.0.1 and localhost, as server and as client), and `ca.crt`. Also `stranger.crt`/`stranger.key`, signed by another CA.
 */
export async function makeTestCerts(
  dir: string,
  names: string[],
  subjectAltName = 'IP:127.0.0.1,DNS:localhost',
): Promise<void> {
  const ssl = async (...args: string[]) => {
    const r = await run('openssl', args, { cwd: dir });
    if (r.code !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  writeFileSync(
    join(dir, 'leaf.ext'),
    `subjectAltName=${subjectAltName}\nextendedKeyUsage=serverAuth,clientAuth\n`,
  );
  for (const ca of ['ca', 'other-ca']) {
    await ssl(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      `${ca}.key`,
      '-out',
      `${ca}.crt`,
      '-days',
      '2',
      '-subj',
      `/CN=${ca}`,
    );
  }
  const leaf = async (name: string, ca: string) => {
    await ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    await ssl(
      ...['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`],
      ...['-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', 'leaf.ext'],
    );
  };
  for (const n of names) await leaf(n, 'ca');
  await leaf('stranger', 'other-ca');
}
