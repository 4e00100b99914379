// Defaulting, as kube-apiserver applies it before validation and storage: the values kubectl and
// controllers expect to find (restartPolicy, imagePullPolicy, RollingUpdate 25%/25%, clusterIP...).
import { createHash } from 'node:crypto';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function setDefault(o: Obj, key: string, value: unknown): void {
  if (o[key] === undefined) o[key] = value;
}

/** The tag rule: :latest or no tag pulls Always, anything else IfNotPresent (digests too). */
export function defaultPullPolicy(image: unknown): string {
  if (typeof image !== 'string') return 'IfNotPresent';
  if (image.includes('@')) return 'IfNotPresent';
  const last = image.slice(image.lastIndexOf('/') + 1);
  const i = last.lastIndexOf(':');
  if (i < 0) return 'Always';
  return last.slice(i + 1) === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultContainer(c: unknown): void {
  if (!isObj(c)) return;
  setDefault(c, 'imagePullPolicy', defaultPullPolicy(c.image));
  setDefault(c, 'terminationMessagePath', '/dev/termination-log');
  setDefault(c, 'terminationMessagePolicy', 'File');
  setDefault(c, 'resources', {});
  if (Array.isArray(c.ports)) for (const p of c.ports) if (isObj(p)) setDefault(p, 'protocol', 'TCP');
}

export function defaultPodSpec(spec: unknown): void {
  if (!isObj(spec)) return;
  setDefault(spec, 'restartPolicy', 'Always');
  setDefault(spec, 'terminationGracePeriodSeconds', 30);
  setDefault(spec, 'dnsPolicy', 'ClusterFirst');
  setDefault(spec, 'schedulerName', 'default-scheduler');
  setDefault(spec, 'securityContext', {});
  setDefault(spec, 'enableServiceLinks', true);
  setDefault(spec, 'preemptionPolicy', 'PreemptLowerPriority');
  setDefault(spec, 'priority', 0);
  if (Array.isArray(spec.containers)) spec.containers.forEach(defaultContainer);
  if (Array.isArray(spec.initContainers)) spec.initContainers.forEach(defaultContainer);
}

function defaultTemplate(spec: Obj): void {
  if (isObj(spec.template)) defaultPodSpec((spec.template as Obj).spec);
}

/** A stable address in 10.96.0.0/12 for a Service (we keep no allocator; collisions are possible but rare). */
export function clusterIPFor(namespace: string, name: string): string {
  const h = createHash('sha256').update(`${namespace}/${name}`).digest();
  const n = (h.readUInt32BE(0) & 0x000fffff) | 0x0a600000; // 10.96.0.0 + 20 bits
  const host = n === 0x0a600000 || n === 0x0a600001 ? n + 2 : n; // keep .0.0 and .0.1 (kubernetes svc) free
  return [host >>> 24, (host >>> 16) & 0xff, (host >>> 8) & 0xff, host & 0xff].join('.');
}

/** Applies the defaults for `kind` in place. */
export function applyDefaults(kind: string, o: Obj): void {
  const spec = isObj(o.spec) ? o.spec : undefined;
  switch (kind) {
    case 'Pod':
      defaultPodSpec(spec);
      if (!isObj(o.status)) o.status = {};
      setDefault(o.status as Obj, 'phase', 'Pending');
      setDefault(o.status as Obj, 'qosClass', 'BestEffort');
      break;
    case 'Deployment':
      if (spec) {
        setDefault(spec, 'replicas', 1);
        setDefault(spec, 'revisionHistoryLimit', 10);
        setDefault(spec, 'progressDeadlineSeconds', 600);
        if (!isObj(spec.strategy)) spec.strategy = {};
        const st = spec.strategy as Obj;
        setDefault(st, 'type', 'RollingUpdate');
        if (st.type === 'RollingUpdate') {
          if (!isObj(st.rollingUpdate)) st.rollingUpdate = {};
          setDefault(st.rollingUpdate as Obj, 'maxUnavailable', '25%');
          setDefault(st.rollingUpdate as Obj, 'maxSurge', '25%');
        }
        defaultTemplate(spec);
      }
      break;
    case 'ReplicaSet':
      if (spec) {
        setDefault(spec, 'replicas', 1);
        defaultTemplate(spec);
      }
      break;
    case 'Service':
      if (spec) {
        setDefault(spec, 'type', 'ClusterIP');
        setDefault(spec, 'sessionAffinity', 'None');
        setDefault(spec, 'internalTrafficPolicy', 'Cluster');
        if (spec.type !== 'ExternalName') {
          const meta = (o.metadata ?? {}) as Obj;
          setDefault(spec, 'clusterIP', clusterIPFor(String(meta.namespace ?? ''), String(meta.name ?? '')));
          setDefault(spec, 'clusterIPs', [spec.clusterIP]);
          setDefault(spec, 'ipFamilies', ['IPv4']);
          setDefault(spec, 'ipFamilyPolicy', 'SingleStack');
        }
        if (Array.isArray(spec.ports)) {
          for (const p of spec.ports) {
            if (!isObj(p)) continue;
            setDefault(p, 'protocol', 'TCP');
            setDefault(p, 'targetPort', p.port);
          }
        }
      }
      if (!isObj(o.status)) o.status = { loadBalancer: {} };
      break;
    case 'Namespace':
      if (!isObj(o.spec)) o.spec = {};
      setDefault(o.spec as Obj, 'finalizers', ['kubernetes']);
      if (!isObj(o.status)) o.status = {};
      setDefault(o.status as Obj, 'phase', 'Active');
      break;
    case 'Secret': {
      setDefault(o, 'type', 'Opaque');
      // stringData is write-only: merged into data (base64) and never stored.
      if (isObj(o.stringData)) {
        const data = isObj(o.data) ? o.data : {};
        for (const [k, v] of Object.entries(o.stringData))
          data[k] = Buffer.from(String(v), 'utf8').toString('base64');
        o.data = data;
      }
      delete o.stringData;
      break;
    }
    case 'Event':
      if (o.involvedObject && isObj(o.involvedObject)) {
        /* nothing */
      }
      setDefault(o, 'type', 'Normal');
      break;
  }
}
