// The files a running cluster leaves in its data dir: cluster.json (what runs where) and the kubeconfig.
import type { ComponentInfo } from './supervisor.js';

export interface StoreMember {
  name: string;
  clientURL: string;
  peerURL: string;
  dataDir: string;
}

/** DIR/cluster.json. */
export interface ClusterFile {
  dataDir: string;
  /** True once every component was healthy, until the supervisor stops. */
  ready: boolean;
  supervisor: { pid: number | null };
  /** The supervisor's control API (GET /components, POST /components/<name>/<action>). */
  control: string;
  kubeconfig: string;
  apiserver: string;
  dashboard: string | null;
  nodeAgent: string;
  storeMembers: StoreMember[];
  components: ComponentInfo[];
}

/** The kubeconfig extension that tells teaching commands where the store is. */
export const STORE_EXTENSION = 'etcd-k8s-lite.store';

export function kubeconfigYaml(server: string, etcdServers: string[]): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: etcd-k8s-lite',
    '  cluster:',
    `    server: ${server}`,
    '    extensions:',
    `    - name: ${STORE_EXTENSION}`,
    '      extension:',
    `        etcdServers: [${etcdServers.map((u) => JSON.stringify(u)).join(', ')}]`,
    'contexts:',
    '- name: etcd-k8s-lite',
    '  context: {cluster: etcd-k8s-lite, user: etcd-k8s-lite, namespace: default}',
    'current-context: etcd-k8s-lite',
    'users:',
    '- name: etcd-k8s-lite',
    '  user: {}',
    '',
  ].join('\n');
}
