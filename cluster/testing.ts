// Test harness: a whole cluster from bin/cluster in a temp data dir on free ports, and helpers to run
// kubectl-lite and real kubectl against it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BIN,
  run,
  startProcess,
  tempDir,
  waitFor,
  type ExecResult,
  type Proc,
} from '../test/support/index.js';
import type { ClusterFile } from './files.js';

export interface TestCluster {
  dataDir: string;
  proc: Proc;
  file(): ClusterFile;
  kubeconfig: string;
  kubectlLite(args: string[], opts?: { input?: string; env?: NodeJS.ProcessEnv }): Promise<ExecResult>;
  kubectl(args: string[], opts?: { input?: string }): Promise<ExecResult>;
  /** Starts bin/cluster again on the same data dir (after stop). */
  restart(extra?: string[]): Promise<void>;
  stop(): Promise<number | string>;
  remove(): Promise<void>;
}

export function readClusterFile(dataDir: string): ClusterFile {
  return JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as ClusterFile;
}

export async function waitClusterReady(dataDir: string, proc: Proc, timeoutMs = 90_000): Promise<void> {
  await waitFor(
    'bin/cluster to report ready',
    () => {
      if (proc.child.exitCode !== null)
        throw new Error(`bin/cluster exited ${proc.child.exitCode}:\n${proc.output().slice(-4000)}`);
      if (!existsSync(join(dataDir, 'cluster.json'))) return false;
      const f = readClusterFile(dataDir);
      return f.ready && f.supervisor.pid === proc.pid;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

export async function startTestCluster(extra: string[] = [], dataDir?: string): Promise<TestCluster> {
  const dir = dataDir ? { path: dataDir, remove: () => {} } : tempDir('ekl-cluster-');
  const args = (more: string[]) => [
    '--data-dir',
    dir.path,
    '--ports',
    'auto',
    '--store-members',
    '1',
    '--no-dashboard',
    ...more,
  ];
  let proc = startProcess(join(BIN, 'cluster'), args(extra));
  await waitClusterReady(dir.path, proc);
  const kubeconfig = join(dir.path, 'kubeconfig');
  const c: TestCluster = {
    dataDir: dir.path,
    get proc() {
      return proc;
    },
    file: () => readClusterFile(dir.path),
    kubeconfig,
    kubectlLite: (a, o = {}) =>
      run(join(BIN, 'kubectl-lite'), a, {
        input: o.input,
        env: { KUBECONFIG: kubeconfig, ...o.env },
        timeoutMs: 90_000,
      }),
    kubectl: (a, o = {}) =>
      run('kubectl', ['--kubeconfig', kubeconfig, ...a], { input: o.input, timeoutMs: 90_000 }),
    async restart(more: string[] = []) {
      proc = startProcess(join(BIN, 'cluster'), args(more));
      await waitClusterReady(dir.path, proc);
    },
    stop: () => proc.kill('SIGTERM'),
    async remove() {
      await proc.kill('SIGTERM');
      dir.remove();
    },
  };
  return c;
}

/** True if a process with this pid exists. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
