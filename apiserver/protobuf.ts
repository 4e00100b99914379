// Decoding of Kubernetes' protobuf request bodies (`application/vnd.kubernetes.protobuf`) for the kinds
// kubectl's typed clients send (`kubectl create configmap|secret|namespace|deployment|service`, the
// DeleteOptions and Evictions of `kubectl drain`, and the reviews of `kubectl auth can-i|whoami`).
// The envelope is "k8s\0" + runtime.Unknown{typeMeta=1, raw=2}; raw is the object's message. Field numbers
// come from the published k8s.io/api wire format. A field we do not know is refused with 415 if it holds
// anything but a zero value, so an object is never stored with data silently dropped.
import { StatusError, failure } from '../apimachinery/index.js';

type Obj = Record<string, unknown>;

/**
 * Field kinds: s string, i integer, b bool, B bytes (base64 in JSON), t Time, q Quantity, io IntOrString,
 * ms map<string,string>, mB map<string,bytes>, mq map<string,Quantity>, rs repeated string,
 * m:X message, rm:X repeated message, z a field we accept only as a zero value, x a field only the server
 * fills in (a review's status), dropped whatever the client sent. A trailing `*` marks a
 * pointer field in Go: its zero value is meaningful and kept (e.g. replicas: 0).
 */
type FieldSpec = [name: string, kind: string];
const MESSAGES: Record<string, Record<number, FieldSpec>> = {
  ObjectMeta: {
    1: ['name', 's'],
    2: ['generateName', 's'],
    3: ['namespace', 's'],
    4: ['selfLink', 's'],
    5: ['uid', 's'],
    6: ['resourceVersion', 's'],
    7: ['generation', 'i'],
    8: ['creationTimestamp', 't'],
    9: ['deletionTimestamp', 't'],
    10: ['deletionGracePeriodSeconds', 'i*'],
    11: ['labels', 'ms'],
    12: ['annotations', 'ms'],
    13: ['ownerReferences', 'rm:OwnerReference'],
    14: ['finalizers', 'rs'],
    17: ['managedFields', 'z'],
  },
  OwnerReference: {
    1: ['kind', 's'],
    3: ['name', 's'],
    4: ['uid', 's'],
    5: ['apiVersion', 's'],
    6: ['controller', 'b*'],
    7: ['blockOwnerDeletion', 'b*'],
  },
  LabelSelector: { 1: ['matchLabels', 'ms'], 2: ['matchExpressions', 'rm:LabelSelectorRequirement'] },
  LabelSelectorRequirement: { 1: ['key', 's'], 2: ['operator', 's'], 3: ['values', 'rs'] },
  ConfigMap: {
    1: ['metadata', 'm:ObjectMeta'],
    2: ['data', 'ms'],
    3: ['binaryData', 'mB'],
    4: ['immutable', 'b*'],
  },
  Secret: {
    1: ['metadata', 'm:ObjectMeta'],
    2: ['data', 'mB'],
    3: ['type', 's'],
    4: ['stringData', 'ms'],
    5: ['immutable', 'b*'],
  },
  Namespace: {
    1: ['metadata', 'm:ObjectMeta'],
    2: ['spec', 'm:NamespaceSpec'],
    3: ['status', 'm:NamespaceStatus'],
  },
  NamespaceSpec: { 1: ['finalizers', 'rs'] },
  NamespaceStatus: { 1: ['phase', 's'], 2: ['conditions', 'z'] },
  Service: {
    1: ['metadata', 'm:ObjectMeta'],
    2: ['spec', 'm:ServiceSpec'],
    3: ['status', 'm:ServiceStatus'],
  },
  ServiceSpec: {
    1: ['ports', 'rm:ServicePort'],
    2: ['selector', 'ms'],
    3: ['clusterIP', 's'],
    4: ['type', 's'],
    5: ['externalIPs', 'rs'],
    7: ['sessionAffinity', 's'],
    8: ['loadBalancerIP', 's'],
    9: ['loadBalancerSourceRanges', 'rs'],
    10: ['externalName', 's'],
    11: ['externalTrafficPolicy', 's'],
    12: ['healthCheckNodePort', 'i'],
    13: ['publishNotReadyAddresses', 'b'],
    14: ['sessionAffinityConfig', 'z'],
    17: ['ipFamilyPolicy', 's*'],
    18: ['clusterIPs', 'rs'],
    19: ['ipFamilies', 'rs'],
    20: ['allocateLoadBalancerNodePorts', 'b*'],
    21: ['loadBalancerClass', 's*'],
    22: ['internalTrafficPolicy', 's*'],
  },
  ServicePort: {
    1: ['name', 's'],
    2: ['protocol', 's'],
    3: ['port', 'i'],
    4: ['targetPort', 'io'],
    5: ['nodePort', 'i'],
    6: ['appProtocol', 's*'],
  },
  ServiceStatus: { 1: ['loadBalancer', 'm:LoadBalancerStatus'], 2: ['conditions', 'z'] },
  LoadBalancerStatus: { 1: ['ingress', 'z'] },
  Deployment: {
    1: ['metadata', 'm:ObjectMeta'],
    2: ['spec', 'm:DeploymentSpec'],
    3: ['status', 'm:DeploymentStatus'],
  },
  DeploymentSpec: {
    1: ['replicas', 'i*'],
    2: ['selector', 'm:LabelSelector'],
    3: ['template', 'm:PodTemplateSpec'],
    4: ['strategy', 'm:DeploymentStrategy'],
    5: ['minReadySeconds', 'i'],
    6: ['revisionHistoryLimit', 'i*'],
    7: ['paused', 'b'],
    9: ['progressDeadlineSeconds', 'i*'],
  },
  DeploymentStrategy: { 1: ['type', 's'], 2: ['rollingUpdate', 'm:RollingUpdateDeployment'] },
  RollingUpdateDeployment: { 1: ['maxUnavailable', 'io'], 2: ['maxSurge', 'io'] },
  DeploymentStatus: {
    1: ['observedGeneration', 'i'],
    2: ['replicas', 'i'],
    3: ['updatedReplicas', 'i'],
    4: ['availableReplicas', 'i'],
    5: ['unavailableReplicas', 'i'],
    6: ['conditions', 'z'],
    7: ['readyReplicas', 'i'],
    8: ['collisionCount', 'i*'],
  },
  PodTemplateSpec: { 1: ['metadata', 'm:ObjectMeta'], 2: ['spec', 'm:PodSpec'] },
  PodSpec: {
    1: ['volumes', 'z'],
    2: ['containers', 'rm:Container'],
    3: ['restartPolicy', 's'],
    4: ['terminationGracePeriodSeconds', 'i*'],
    5: ['activeDeadlineSeconds', 'i*'],
    6: ['dnsPolicy', 's'],
    7: ['nodeSelector', 'ms'],
    8: ['serviceAccountName', 's'],
    9: ['serviceAccount', 's'],
    10: ['nodeName', 's'],
    11: ['hostNetwork', 'b'],
    12: ['hostPID', 'b'],
    13: ['hostIPC', 'b'],
    14: ['securityContext', 'z'],
    15: ['imagePullSecrets', 'z'],
    16: ['hostname', 's'],
    17: ['subdomain', 's'],
    18: ['affinity', 'z'],
    19: ['schedulerName', 's'],
    20: ['initContainers', 'rm:Container'],
    21: ['automountServiceAccountToken', 'b*'],
    22: ['tolerations', 'rm:Toleration'],
    24: ['priorityClassName', 's'],
    25: ['priority', 'i*'],
    30: ['enableServiceLinks', 'b*'],
  },
  Container: {
    1: ['name', 's'],
    2: ['image', 's'],
    3: ['command', 'rs'],
    4: ['args', 'rs'],
    5: ['workingDir', 's'],
    6: ['ports', 'rm:ContainerPort'],
    7: ['env', 'rm:EnvVar'],
    8: ['resources', 'm:ResourceRequirements'],
    9: ['volumeMounts', 'z'],
    10: ['livenessProbe', 'z'],
    11: ['readinessProbe', 'z'],
    12: ['lifecycle', 'z'],
    13: ['terminationMessagePath', 's'],
    14: ['imagePullPolicy', 's'],
    15: ['securityContext', 'z'],
    16: ['stdin', 'b'],
    17: ['stdinOnce', 'b'],
    18: ['tty', 'b'],
    19: ['envFrom', 'z'],
    20: ['terminationMessagePolicy', 's'],
    22: ['startupProbe', 'z'],
  },
  ContainerPort: {
    1: ['name', 's'],
    2: ['hostPort', 'i'],
    3: ['containerPort', 'i'],
    4: ['protocol', 's'],
    5: ['hostIP', 's'],
  },
  EnvVar: { 1: ['name', 's'], 2: ['value', 's'], 3: ['valueFrom', 'z'] },
  ResourceRequirements: { 1: ['limits', 'mq'], 2: ['requests', 'mq'], 3: ['claims', 'z'] },
  DeleteOptions: {
    1: ['gracePeriodSeconds', 'i*'],
    2: ['preconditions', 'm:Preconditions'],
    3: ['orphanDependents', 'b*'],
    4: ['propagationPolicy', 's*'],
    5: ['dryRun', 'rs'],
    6: ['ignoreStoreReadErrorWithClusterBreakingPotential', 'z'],
  },
  Preconditions: { 1: ['uid', 's*'], 2: ['resourceVersion', 's*'] },
  Eviction: { 1: ['metadata', 'm:ObjectMeta'], 2: ['deleteOptions', 'm:DeleteOptions'] },
  SelfSubjectAccessReview: {
    1: ['metadata', 'm:ObjectMeta'],
    2: ['spec', 'm:SelfSubjectAccessReviewSpec'],
    3: ['status', 'x'],
  },
  SelfSubjectAccessReviewSpec: {
    1: ['resourceAttributes', 'm:ResourceAttributes'],
    2: ['nonResourceAttributes', 'm:NonResourceAttributes'],
  },
  ResourceAttributes: {
    1: ['namespace', 's'],
    2: ['verb', 's'],
    3: ['group', 's'],
    4: ['version', 's'],
    5: ['resource', 's'],
    6: ['subresource', 's'],
    7: ['name', 's'],
    8: ['fieldSelector', 'z'],
    9: ['labelSelector', 'z'],
  },
  NonResourceAttributes: { 1: ['path', 's'], 2: ['verb', 's'] },
  SelfSubjectRulesReview: {
    1: ['metadata', 'm:ObjectMeta'],
    2: ['spec', 'm:SelfSubjectRulesReviewSpec'],
    3: ['status', 'x'],
  },
  SelfSubjectRulesReviewSpec: { 1: ['namespace', 's'] },
  SelfSubjectReview: { 1: ['metadata', 'm:ObjectMeta'], 2: ['status', 'x'] },
  Toleration: {
    1: ['key', 's'],
    2: ['operator', 's'],
    3: ['value', 's'],
    4: ['effect', 's'],
    5: ['tolerationSeconds', 'i*'],
  },
};

const TOP_LEVEL: Record<string, string> = {
  'v1/ConfigMap': 'ConfigMap',
  'v1/Secret': 'Secret',
  'v1/Namespace': 'Namespace',
  'v1/Service': 'Service',
  'apps/v1/Deployment': 'Deployment',
  'v1/DeleteOptions': 'DeleteOptions',
  'meta.k8s.io/v1/DeleteOptions': 'DeleteOptions',
  'policy/v1/Eviction': 'Eviction',
  'authorization.k8s.io/v1/SelfSubjectAccessReview': 'SelfSubjectAccessReview',
  'authorization.k8s.io/v1/SelfSubjectRulesReview': 'SelfSubjectRulesReview',
  'authentication.k8s.io/v1/SelfSubjectReview': 'SelfSubjectReview',
};
const MAX_DEPTH = 32;

function unsupported(msg: string): StatusError {
  return new StatusError(
    failure(
      415,
      'UnsupportedMediaType',
      `protobuf body not supported: ${msg}; send application/json instead`,
    ),
  );
}

interface Field {
  num: number;
  wire: number;
  varint?: bigint;
  bytes?: Buffer;
}

function readVarint(b: Buffer, p: number): [bigint, number] {
  let x = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (p >= b.length) throw unsupported('truncated varint');
    const c = b[p++];
    x |= BigInt(c & 0x7f) << shift;
    if (!(c & 0x80)) return [x, p];
    shift += 7n;
  }
  throw unsupported('varint too long');
}

function fields(b: Buffer): Field[] {
  const out: Field[] = [];
  let p = 0;
  while (p < b.length) {
    let key: bigint;
    [key, p] = readVarint(b, p);
    const num = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      let v: bigint;
      [v, p] = readVarint(b, p);
      out.push({ num, wire, varint: v });
    } else if (wire === 2) {
      let len: bigint;
      [len, p] = readVarint(b, p);
      const end = p + Number(len);
      if (end > b.length) throw unsupported('truncated field');
      out.push({ num, wire, bytes: b.subarray(p, end) });
      p = end;
    } else if (wire === 1) {
      out.push({ num, wire, bytes: b.subarray(p, p + 8) });
      p += 8;
    } else if (wire === 5) {
      out.push({ num, wire, bytes: b.subarray(p, p + 4) });
      p += 4;
    } else throw unsupported(`wire type ${wire}`);
  }
  return out;
}

function isZero(f: Field): boolean {
  return f.wire === 0 ? f.varint === 0n : f.wire === 2 ? f.bytes!.length === 0 : false;
}

function int(f: Field): number {
  if (f.wire !== 0) throw unsupported(`field ${f.num} is not an integer`);
  return Number(BigInt.asIntN(64, f.varint!));
}

function str(f: Field): string {
  if (f.wire !== 2) throw unsupported(`field ${f.num} is not a string`);
  return f.bytes!.toString('utf8');
}

function mapEntry(f: Field): [string, Buffer] {
  let k = '';
  let v: Buffer = Buffer.alloc(0);
  for (const e of fields(f.bytes!)) {
    if (e.num === 1) k = str(e);
    else if (e.num === 2) v = e.bytes ?? Buffer.alloc(0);
  }
  return [k, v];
}

function quantity(b: Buffer): string {
  const f = fields(b).find((x) => x.num === 1);
  return f ? str(f) : '0';
}

function time(b: Buffer): string | undefined {
  let s = 0;
  for (const f of fields(b)) if (f.num === 1) s = int(f);
  if (s === 0) return undefined;
  return new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function intOrString(b: Buffer): number | string {
  let type = 0;
  let iv = 0;
  let sv = '';
  for (const f of fields(b)) {
    if (f.num === 1) type = int(f);
    else if (f.num === 2) iv = int(f);
    else if (f.num === 3) sv = str(f);
  }
  return type === 1 ? sv : iv;
}

function message(name: string, b: Buffer, depth: number): Obj {
  if (depth > MAX_DEPTH) throw unsupported('nested too deeply');
  const spec = MESSAGES[name];
  if (!spec) throw unsupported(`message ${name}`);
  const out: Obj = {};
  for (const f of fields(b)) {
    const fs = spec[f.num];
    if (!fs) {
      if (isZero(f)) continue;
      throw unsupported(`${name} field ${f.num}`);
    }
    const [key, kind0] = fs;
    const ptr = kind0.endsWith('*');
    const kind = ptr ? kind0.slice(0, -1) : kind0;
    if (kind === 'x') continue;
    if (kind === 'z') {
      if (isZero(f)) continue;
      throw unsupported(`${name}.${key}`);
    }
    if (kind === 's') {
      const v = str(f);
      if (v !== '' || ptr) out[key] = v;
    } else if (kind === 'i') {
      const v = int(f);
      if (v !== 0 || ptr) out[key] = v;
    } else if (kind === 'b') {
      const v = int(f) !== 0;
      if (v || ptr) out[key] = v;
    } else if (kind === 't') {
      const v = time(f.bytes!);
      if (v) out[key] = v;
    } else if (kind === 'io') {
      out[key] = intOrString(f.bytes!);
    } else if (kind === 'rs') {
      ((out[key] ??= []) as string[]).push(str(f));
    } else if (kind === 'ms' || kind === 'mB' || kind === 'mq') {
      const [k, v] = mapEntry(f);
      (out[key] ??= {}) as Obj;
      (out[key] as Obj)[k] =
        kind === 'ms' ? v.toString('utf8') : kind === 'mB' ? v.toString('base64') : quantity(v);
    } else if (kind.startsWith('m:')) {
      const v = message(kind.slice(2), f.bytes!, depth + 1);
      if (Object.keys(v).length) out[key] = v;
    } else if (kind.startsWith('rm:')) {
      ((out[key] ??= []) as Obj[]).push(message(kind.slice(3), f.bytes!, depth + 1));
    } else throw new Error(`bad field kind ${kind}`);
  }
  return out;
}

export const PROTOBUF_MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Decodes a protobuf body into the JSON form of the object, or throws 415 for anything we cannot map. */
export function decodeProtobuf(body: Buffer): Obj {
  if (body.length < 4 || !body.subarray(0, 4).equals(PROTOBUF_MAGIC))
    throw unsupported('missing the k8s protobuf envelope');
  let apiVersion = '';
  let kind = '';
  let raw: Buffer | undefined;
  for (const f of fields(body.subarray(4))) {
    if (f.num === 1) {
      for (const t of fields(f.bytes!)) {
        if (t.num === 1) apiVersion = str(t);
        else if (t.num === 2) kind = str(t);
      }
    } else if (f.num === 2) raw = f.bytes;
    else if (f.num === 3 && !isZero(f)) throw unsupported(`content encoding ${str(f)}`);
  }
  const msg = TOP_LEVEL[`${apiVersion}/${kind}`];
  if (!msg || !raw) throw unsupported(`kind ${apiVersion}/${kind}`);
  return { apiVersion, kind, ...message(msg, raw, 0) };
}
