// Server-side printing: meta.k8s.io/v1 Table rows with the columns `kubectl get` shows for each kind
// (kubectl asks for Accept: application/json;as=Table;v=v1;g=meta.k8s.io and prints what it gets).
import type { KubeObject } from '../apimachinery/index.js';
import { formatLabelSelector, type LabelSelector } from '../apimachinery/index.js';

// Printers read deep optional fields of any kind.
type Obj = Record<string, any>;

export interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

interface Printer {
  columns: Column[];
  cells(o: Obj, now: number): unknown[];
}

const col = (name: string, type = 'string', priority = 0, format = '', description = ''): Column => ({
  name,
  type,
  format,
  description: description || name,
  priority,
});
const NAME = col('Name', 'string', 0, 'name', 'Name must be unique within a namespace.');
const AGE = col(
  'Age',
  'string',
  0,
  '',
  'CreationTimestamp is a timestamp representing the server time when this object was created.',
);

/** Kubernetes' HumanDuration: 45s, 5m12s, 3h4m, 2d5h, 400d. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 24 * 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

function age(ts: unknown, now: number): string {
  if (typeof ts !== 'string' || !ts) return '<unknown>';
  return humanDuration(now - Date.parse(ts));
}

function containers(o: Obj): Obj[] {
  return (o.spec?.template?.spec?.containers ?? []) as Obj[];
}

function podStatusReason(p: Obj): string {
  let reason: string = p.status?.reason || p.status?.phase || 'Unknown';
  for (const cs of (p.status?.containerStatuses ?? []) as Obj[]) {
    const w = cs.state?.waiting?.reason;
    const t = cs.state?.terminated;
    if (w) reason = w;
    else if (t) reason = t.reason || (t.signal ? `Signal:${t.signal}` : `ExitCode:${t.exitCode}`);
  }
  if (p.metadata?.deletionTimestamp) reason = p.status?.reason === 'NodeLost' ? 'Unknown' : 'Terminating';
  return reason;
}

function nodeRoles(n: Obj): string {
  const roles: string[] = [];
  for (const [k, v] of Object.entries((n.metadata?.labels ?? {}) as Record<string, string>)) {
    if (k.startsWith('node-role.kubernetes.io/')) roles.push(k.slice('node-role.kubernetes.io/'.length) || v);
    else if (k === 'kubernetes.io/role') roles.push(v);
  }
  return roles.length ? roles.sort().join(',') : '<none>';
}

function nodeStatus(n: Obj): string {
  const ready = ((n.status?.conditions ?? []) as Obj[]).find((c) => c.type === 'Ready');
  const parts = [ready ? (ready.status === 'True' ? 'Ready' : 'NotReady') : 'Unknown'];
  if (n.spec?.unschedulable) parts.push('SchedulingDisabled');
  return parts.join(',');
}

function servicePorts(s: Obj): string {
  const ports = (s.spec?.ports ?? []) as Obj[];
  if (!ports.length) return '<none>';
  return ports
    .map((p) =>
      p.nodePort ? `${p.port}:${p.nodePort}/${p.protocol ?? 'TCP'}` : `${p.port}/${p.protocol ?? 'TCP'}`,
    )
    .join(',');
}

function externalIP(s: Obj): string {
  const t = s.spec?.type ?? 'ClusterIP';
  if (t === 'ExternalName') return s.spec?.externalName ?? '<none>';
  const lb = ((s.status?.loadBalancer?.ingress ?? []) as Obj[])
    .map((i) => i.ip || i.hostname)
    .filter(Boolean);
  const ext = [...((s.spec?.externalIPs ?? []) as string[]), ...lb];
  if (ext.length) return ext.join(',');
  return t === 'LoadBalancer' ? '<pending>' : '<none>';
}

function endpointsList(e: Obj): string {
  const out: string[] = [];
  for (const s of (e.subsets ?? []) as Obj[]) {
    for (const a of (s.addresses ?? []) as Obj[]) {
      const ports = (s.ports ?? []) as Obj[];
      if (!ports.length) out.push(a.ip);
      for (const p of ports) out.push(`${a.ip}:${p.port}`);
    }
  }
  if (!out.length) return '<none>';
  return out.length > 3 ? `${out.slice(0, 3).join(',')} + ${out.length - 3} more...` : out.join(',');
}

function eventObject(e: Obj): string {
  const io = e.involvedObject ?? {};
  return `${String(io.kind ?? '').toLowerCase()}/${io.name ?? ''}`;
}

function selectorString(sel: LabelSelector | undefined): string {
  try {
    return formatLabelSelector(sel);
  } catch {
    return '<invalid>';
  }
}

const PRINTERS: Record<string, Printer> = {
  Pod: {
    columns: [
      NAME,
      col('Ready', 'string', 0, '', 'The aggregate readiness state of this pod for accepting traffic.'),
      col('Status', 'string', 0, '', 'The aggregate status of the containers in this pod.'),
      col(
        'Restarts',
        'string',
        0,
        '',
        'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.',
      ),
      AGE,
      col('IP', 'string', 1, '', 'IP address allocated to the pod.'),
      col('Node', 'string', 1, '', 'Name of the node this pod is assigned to.'),
      col('Nominated Node', 'string', 1, '', 'Name of the node this pod is nominated to.'),
      col('Readiness Gates', 'string', 1, '', 'The readiness gates of the pod.'),
    ],
    cells: (p, now) => {
      const specCount = ((p.spec?.containers ?? []) as unknown[]).length;
      const statuses = (p.status?.containerStatuses ?? []) as Obj[];
      const ready = statuses.filter((c) => c.ready).length;
      const restarts = statuses.reduce((n, c) => n + (Number(c.restartCount) || 0), 0);
      const gates = (p.spec?.readinessGates ?? []) as unknown[];
      return [
        p.metadata.name,
        `${ready}/${specCount}`,
        podStatusReason(p),
        String(restarts),
        age(p.metadata.creationTimestamp, now),
        p.status?.podIP || '<none>',
        p.spec?.nodeName || '<none>',
        p.status?.nominatedNodeName || '<none>',
        gates.length ? `0/${gates.length}` : '<none>',
      ];
    },
  },
  Node: {
    columns: [
      NAME,
      col('Status', 'string', 0, '', 'The status of the node'),
      col('Roles', 'string', 0, '', 'The roles of the node'),
      AGE,
      col('Version', 'string', 0, '', 'Kubelet Version reported by the node.'),
      col('Internal-IP', 'string', 1),
      col('External-IP', 'string', 1),
      col('OS-Image', 'string', 1),
      col('Kernel-Version', 'string', 1),
      col('Container-Runtime', 'string', 1),
    ],
    cells: (n, now) => {
      const addr = (t: string): string =>
        ((n.status?.addresses ?? []) as Obj[]).find((a) => a.type === t)?.address ?? '<none>';
      const info = n.status?.nodeInfo ?? {};
      return [
        n.metadata.name,
        nodeStatus(n),
        nodeRoles(n),
        age(n.metadata.creationTimestamp, now),
        info.kubeletVersion ?? '',
        addr('InternalIP'),
        addr('ExternalIP'),
        info.osImage || '<unknown>',
        info.kernelVersion || '<unknown>',
        info.containerRuntimeVersion || '<unknown>',
      ];
    },
  },
  Namespace: {
    columns: [NAME, col('Status', 'string', 0, '', 'The status of the namespace'), AGE],
    cells: (n, now) => [n.metadata.name, n.status?.phase ?? 'Active', age(n.metadata.creationTimestamp, now)],
  },
  Service: {
    columns: [
      NAME,
      col('Type', 'string', 0, '', 'The type of the service.'),
      col('Cluster-IP', 'string', 0, '', 'The cluster IP of the service.'),
      col('External-IP', 'string', 0, '', 'The external IP of the service.'),
      col('Port(s)', 'string', 0, '', 'The ports of the service.'),
      AGE,
      col('Selector', 'string', 1, '', 'The selector of the service.'),
    ],
    cells: (s, now) => [
      s.metadata.name,
      s.spec?.type ?? 'ClusterIP',
      s.spec?.clusterIP || '<none>',
      externalIP(s),
      servicePorts(s),
      age(s.metadata.creationTimestamp, now),
      s.spec?.selector
        ? Object.entries(s.spec.selector as Record<string, string>)
            .map(([k, v]) => `${k}=${v}`)
            .join(',')
        : '<none>',
    ],
  },
  Endpoints: {
    columns: [NAME, col('Endpoints', 'string', 0, '', 'Endpoints of the service.'), AGE],
    cells: (e, now) => [e.metadata.name, endpointsList(e), age(e.metadata.creationTimestamp, now)],
  },
  ConfigMap: {
    columns: [NAME, col('Data', 'integer', 0, '', 'Number of data entries.'), AGE],
    cells: (c, now) => [
      c.metadata.name,
      Object.keys(c.data ?? {}).length + Object.keys(c.binaryData ?? {}).length,
      age(c.metadata.creationTimestamp, now),
    ],
  },
  Secret: {
    columns: [
      NAME,
      col('Type', 'string', 0, '', 'The type of the secret'),
      col('Data', 'integer', 0, '', 'Number of data entries.'),
      AGE,
    ],
    cells: (s, now) => [
      s.metadata.name,
      s.type ?? 'Opaque',
      Object.keys(s.data ?? {}).length,
      age(s.metadata.creationTimestamp, now),
    ],
  },
  Event: {
    columns: [
      col('Last Seen', 'string', 0, '', 'Time when last event occurred'),
      col('Type', 'string', 0, '', 'Type of the event'),
      col('Reason', 'string', 0, '', 'Reason of the event'),
      col('Object', 'string', 0, '', 'The object this event is about'),
      col('Subobject', 'string', 1),
      col('Source', 'string', 1),
      col('Message', 'string', 0, '', 'Message of the event'),
      col('First Seen', 'string', 1),
      col('Count', 'string', 1),
      col('Name', 'string', 1, 'name'),
    ],
    cells: (e, now) => [
      age(e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp, now),
      e.type ?? '',
      e.reason ?? '',
      eventObject(e),
      e.involvedObject?.fieldPath ?? '',
      [e.source?.component ?? e.reportingComponent ?? '', e.source?.host ?? ''].filter(Boolean).join(', '),
      String(e.message ?? '').trim(),
      age(e.firstTimestamp || e.eventTime || e.metadata.creationTimestamp, now),
      String(e.count ?? 1),
      e.metadata.name,
    ],
  },
  Deployment: {
    columns: [
      NAME,
      col('Ready', 'string', 0, '', 'Number of the pod with ready state'),
      col(
        'Up-to-date',
        'integer',
        0,
        '',
        'Total number of non-terminated pods targeted by this deployment that have the desired template spec.',
      ),
      col(
        'Available',
        'integer',
        0,
        '',
        'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.',
      ),
      AGE,
      col('Containers', 'string', 1, '', 'Names of each container in the template.'),
      col('Images', 'string', 1, '', 'Images referenced by each container in the template.'),
      col('Selector', 'string', 1, '', 'Label selector for pods.'),
    ],
    cells: (d, now) => [
      d.metadata.name,
      `${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 0}`,
      d.status?.updatedReplicas ?? 0,
      d.status?.availableReplicas ?? 0,
      age(d.metadata.creationTimestamp, now),
      containers(d)
        .map((c) => c.name)
        .join(','),
      containers(d)
        .map((c) => c.image)
        .join(','),
      selectorString(d.spec?.selector),
    ],
  },
  ReplicaSet: {
    columns: [
      NAME,
      col('Desired', 'integer', 0, '', 'Number of desired pods.'),
      col('Current', 'integer', 0, '', 'Number of actual replicas.'),
      col('Ready', 'integer', 0, '', 'The number of ready replicas for this replica set.'),
      AGE,
      col('Containers', 'string', 1),
      col('Images', 'string', 1),
      col('Selector', 'string', 1),
    ],
    cells: (r, now) => [
      r.metadata.name,
      r.spec?.replicas ?? 0,
      r.status?.replicas ?? 0,
      r.status?.readyReplicas ?? 0,
      age(r.metadata.creationTimestamp, now),
      containers(r)
        .map((c) => c.name)
        .join(','),
      containers(r)
        .map((c) => c.image)
        .join(','),
      selectorString(r.spec?.selector),
    ],
  },
  Lease: {
    columns: [NAME, col('Holder', 'string', 0, '', 'Name of the Lease holder'), AGE],
    cells: (l, now) => [
      l.metadata.name,
      l.spec?.holderIdentity ?? '<none>',
      age(l.metadata.creationTimestamp, now),
    ],
  },
};

const DEFAULT_PRINTER: Printer = {
  columns: [NAME, AGE],
  cells: (o, now) => [o.metadata.name, age(o.metadata.creationTimestamp, now)],
};

export interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  columnDefinitions: Column[];
  rows: { cells: unknown[]; object: unknown }[];
}

/** includeObject: None | Metadata (default, PartialObjectMetadata) | Object. */
export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function toTable(
  kind: string,
  objects: KubeObject[],
  listMeta: Table['metadata'],
  include: IncludeObject = 'Metadata',
  now = Date.now(),
): Table {
  const p = PRINTERS[kind] ?? DEFAULT_PRINTER;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: p.columns,
    rows: objects.map((o) => ({
      cells: p.cells(o as Obj, now),
      object:
        include === 'Object'
          ? o
          : include === 'None'
            ? null
            : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}
