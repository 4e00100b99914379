// Where kubectl-lite connects: --server, or a kubeconfig from --kubeconfig, $KUBECONFIG or ~/.kube/config
// (current or --context context), plus the store endpoints the cluster's kubeconfig extension names.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { parseKubeconfig, type ClientConfig } from '../apimachinery/client.js';
import { flag, type Args, UsageError } from './args.js';

/** The kubeconfig cluster extension `bin/cluster` writes with the store's client URLs. */
export const STORE_EXTENSION = 'etcd-k8s-lite.store';

export interface Target {
  client: ClientConfig;
  /** The namespace for namespaced commands without -n: the context's, else "default". */
  namespace: string;
  /** Store client URLs from --etcd-servers or the kubeconfig extension. */
  etcdServers: string[];
}

function kubeconfigPath(a: Args): string | undefined {
  const explicit = flag(a, 'kubeconfig');
  if (explicit) {
    if (!existsSync(explicit)) throw new UsageError(`stat ${explicit}: no such file or directory`);
    return explicit;
  }
  // $KUBECONFIG may be a list; kubectl merges them, we take the first that exists.
  for (const p of (process.env.KUBECONFIG ?? '').split(':').filter(Boolean)) if (existsSync(p)) return p;
  const home = join(homedir(), '.kube', 'config');
  return existsSync(home) ? home : undefined;
}

export function resolveTarget(a: Args): Target {
  const server = flag(a, 'server');
  const etcdFlag = flag(a, 'etcd-servers');
  const etcdFromFlag = etcdFlag ? etcdFlag.split(',').filter(Boolean) : undefined;
  const path = kubeconfigPath(a);
  if (!path) {
    if (server) return { client: { server }, namespace: 'default', etcdServers: etcdFromFlag ?? [] };
    throw new UsageError(
      'no kubeconfig found: use --kubeconfig FILE, set KUBECONFIG, or --server URL (bin/cluster writes DATA_DIR/kubeconfig)',
    );
  }
  const text = readFileSync(path, 'utf8');
  const ctxName = flag(a, 'context');
  const client = parseKubeconfig(text, dirname(path), ctxName);
  if (server) client.server = server;
  const doc = (loadYaml(text) ?? {}) as any;
  const ctxKey = ctxName ?? doc['current-context'];
  const ctx =
    (doc.contexts ?? []).find((c: any) => c?.name === ctxKey)?.context ?? doc.contexts?.[0]?.context;
  const cluster = (doc.clusters ?? []).find((c: any) => c?.name === ctx?.cluster)?.cluster;
  const ext = (cluster?.extensions ?? []).find((e: any) => e?.name === STORE_EXTENSION)?.extension;
  const fromExt = Array.isArray(ext?.etcdServers) ? (ext.etcdServers as unknown[]).map(String) : [];
  return { client, namespace: ctx?.namespace || 'default', etcdServers: etcdFromFlag ?? fromExt };
}
