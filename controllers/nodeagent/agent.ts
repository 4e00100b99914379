// Simulated kubelets, the way kwok does it: no containers run, but each node registers a Node, renews
// its Lease in kube-node-lease, reports status, and walks the pods bound to it through the phases and
// conditions a kubelet would report (Pending -> Running and Ready), honouring graceful deletion.
import { randomBytes } from 'node:crypto';
import type { Condition, ContainerStatus, Lease, Node, Pod } from '../../apimachinery/index.js';
import { isAlreadyExists, isConflict, isNotFound, Resources } from '../../apimachinery/client.js';
import type { Logger } from '../../common/index.js';
import type { ControllerContext } from '../context.js';
import { mapLimit } from '../context.js';
import { keyOf, NodeIndex, type Informer } from '../informer.js';
import { isPodReady, nowTime } from '../podutil.js';
import { WorkQueue, runWorkers } from '../workqueue.js';
import { microTime } from '../leaderelection.js';

/** Annotation selecting a simulated misbehaviour for a pod (see controllers/README.md). */
export const BehaviorAnnotation = 'node-agent.ekl.dev/behavior';
/** Values: the container exits 1 and the pod fails; it restarts forever; it runs but never turns Ready. */
export type Behavior = 'fail' | 'crashloop' | 'never-ready';

export interface NodeAgentOptions {
  nodes: number;
  namePrefix: string;
  cpu: string;
  memory: string;
  pods: string;
  /** Lease renewal period (kubelet default 10s). */
  heartbeatIntervalMs: number;
  /** Full Node status report period. */
  statusIntervalMs: number;
  leaseDurationSeconds: number;
  /** Upper bound on a pod's termination grace period, to keep demos and tests short (undefined = honour it). */
  maxGracePeriodSeconds?: number;
  /** Time from a pod being bound to it running. */
  podStartDelayMs: number;
  /** Time between simulated restarts of a crash-looping container. */
  crashLoopIntervalMs: number;
  /** Nodes that start with heartbeats stopped. */
  stopHeartbeat?: string[];
  workers?: number;
}

interface SimNode {
  name: string;
  index: number;
  ip: string;
  heartbeating: boolean;
  lease?: Lease;
  nextPodIp: number;
  bootID: string;
}

export class NodeAgent {
  readonly queue = new WorkQueue<string>({ baseDelayMs: 50, maxDelayMs: 5000 });
  private readonly podInformer: Informer<Pod>;
  private readonly nodeInformer: Informer<Node>;
  private readonly sim = new Map<string, SimNode>();
  private readonly podIPs = new Map<string, string>();
  private readonly seen = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly log: Logger;

  constructor(
    private readonly ctx: ControllerContext,
    readonly opts: NodeAgentOptions,
  ) {
    this.log = ctx.logger.child('node-agent');
    for (let i = 0; i < opts.nodes; i++) {
      const name = `${opts.namePrefix}${i}`;
      this.sim.set(name, {
        name,
        index: i,
        ip: `10.0.${Math.floor(i / 250)}.${(i % 250) + 2}`,
        heartbeating: !(opts.stopHeartbeat ?? []).includes(name),
        nextPodIp: 2,
        bootID: randomBytes(16).toString('hex'),
      });
    }
    this.podInformer = ctx.informers.informerFor<Pod>(Resources.pods);
    this.nodeInformer = ctx.informers.informerFor<Node>(Resources.nodes);
    const podEvent = (p: Pod) => {
      if (p.spec.nodeName && this.sim.has(p.spec.nodeName)) this.queue.add(keyOf(p));
    };
    this.podInformer.addEventHandlers({
      onAdd: podEvent,
      onUpdate: (_o, p) => podEvent(p),
      onDelete: (p) => {
        this.podIPs.delete(p.metadata.uid ?? '');
        this.seen.delete(keyOf(p));
      },
    });
    this.nodeInformer.addEventHandlers({
      // Someone (the node lifecycle controller) marked a live node not Ready: report the truth at once.
      onUpdate: (_o, n) => {
        const s = this.sim.get(n.metadata.name!);
        if (s?.heartbeating && n.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True')
          void this.reportStatus(s);
      },
      onDelete: (n) => {
        const s = this.sim.get(n.metadata.name!);
        if (s) void this.register(s);
      },
    });
  }

  nodeNames(): string[] {
    return [...this.sim.keys()];
  }

  heartbeating(name: string): boolean | undefined {
    return this.sim.get(name)?.heartbeating;
  }

  /** Registers every node and its lease (safe to retry). */
  async registerAll(): Promise<void> {
    await mapLimit([...this.sim.values()], 16, (s) => this.register(s));
  }

  /** Starts heartbeats, status reports and pod workers; resolves after stop(). */
  run(): Promise<void> {
    this.timers.push(setInterval(() => void this.renewAll(), this.opts.heartbeatIntervalMs));
    this.timers.push(
      setInterval(
        () => void mapLimit([...this.sim.values()], 8, (s) => this.reportStatus(s)),
        this.opts.statusIntervalMs,
      ),
    );
    for (const t of this.timers) t.unref();
    return runWorkers(
      this.queue,
      this.opts.workers ?? 32,
      (k) => this.syncPod(k),
      (k, err) => this.log.warn('pod sync failed', { pod: k, error: String((err as Error)?.message ?? err) }),
    );
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.queue.shutDown();
  }

  /** Stops (or resumes) a node's heartbeats and its kubelet work, to demonstrate a node failure. */
  setHeartbeat(name: string, on: boolean): boolean {
    const s = this.sim.get(name);
    if (!s) return false;
    if (s.heartbeating === on) return true;
    s.heartbeating = on;
    this.log.warn(on ? 'resuming heartbeats' : 'stopping heartbeats', { node: name });
    if (on) {
      void this.renew(s).then(() => this.reportStatus(s));
      for (const p of this.podInformer.byIndex(NodeIndex, name)) this.queue.add(keyOf(p));
    }
    return true;
  }

  private nodeObject(s: SimNode): Node {
    const o = this.opts;
    const resources = { cpu: o.cpu, memory: o.memory, pods: o.pods, 'ephemeral-storage': '100Gi' };
    const third = Math.floor(s.index / 256);
    const cidr = `10.${244 + third}.${s.index % 256}.0/24`;
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: s.name,
        labels: {
          'kubernetes.io/hostname': s.name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'beta.kubernetes.io/os': 'linux',
          'beta.kubernetes.io/arch': 'amd64',
          'node.ekl.dev/simulated': 'true',
        },
        annotations: { 'node.alpha.kubernetes.io/ttl': '0' },
      },
      spec: { podCIDR: cidr, podCIDRs: [cidr] },
      status: {
        capacity: resources,
        allocatable: resources,
        conditions: this.conditions(undefined),
        addresses: [
          { type: 'InternalIP', address: s.ip },
          { type: 'Hostname', address: s.name },
        ],
        daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
        nodeInfo: {
          machineID: s.bootID.slice(0, 32),
          systemUUID: s.bootID,
          bootID: s.bootID,
          kernelVersion: 'simulated',
          osImage: 'ekl simulated node',
          containerRuntimeVersion: 'simulated://0.1',
          kubeletVersion: 'v1.32.0-ekl',
          kubeProxyVersion: 'v1.32.0-ekl',
          operatingSystem: 'linux',
          architecture: 'amd64',
        },
      },
    };
  }

  private conditions(prev: Condition[] | undefined): Condition[] {
    const now = nowTime();
    const c = (type: string, status: Condition['status'], reason: string, message: string): Condition => {
      const p = prev?.find((x) => x.type === type);
      return {
        type,
        status,
        lastHeartbeatTime: now,
        lastTransitionTime: p && p.status === status ? (p.lastTransitionTime ?? now) : now,
        reason,
        message,
      };
    };
    return [
      c('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
      c('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      c('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      c('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
    ];
  }

  private async register(s: SimNode): Promise<void> {
    const node = this.nodeObject(s);
    const created = await this.ctx.client.create<Node>(Resources.nodes, node);
    if (!created.ok && !isAlreadyExists(created))
      throw new Error(`registering node ${s.name}: ${created.status.message}`);
    if (created.ok) this.log.info('registered node', { node: s.name });
    await this.reportStatus(s);
    await this.renew(s);
  }

  /** Writes the node's full status (capacity, conditions with fresh heartbeat times). */
  private async reportStatus(s: SimNode): Promise<void> {
    if (!s.heartbeating) return;
    for (let attempt = 0; attempt < 3; attempt++) {
      const got = await this.ctx.client.get<Node>(Resources.nodes, s.name);
      if (!got.ok) return;
      const want = this.nodeObject(s).status!;
      const status = {
        ...(got.value.status ?? {}),
        ...want,
        conditions: this.conditions(got.value.status?.conditions),
      };
      const res = await this.ctx.client.updateStatus<Node>(Resources.nodes, { ...got.value, status });
      if (res.ok || !isConflict(res)) return;
    }
  }

  private async renewAll(): Promise<void> {
    await mapLimit(
      [...this.sim.values()].filter((s) => s.heartbeating),
      16,
      (s) => this.renew(s),
    );
  }

  private async renew(s: SimNode): Promise<void> {
    if (!s.heartbeating) return;
    const spec = {
      holderIdentity: s.name,
      leaseDurationSeconds: this.opts.leaseDurationSeconds,
      renewTime: microTime(Date.now()),
    };
    if (s.lease) {
      const res = await this.ctx.client.update<Lease>(Resources.leases, {
        ...s.lease,
        spec: { ...s.lease.spec, ...spec },
      });
      if (res.ok) {
        s.lease = res.value;
        return;
      }
      if (!isConflict(res) && !isNotFound(res)) {
        this.log.warn('lease renewal failed', { node: s.name, message: res.status.message });
        return;
      }
    }
    const got = await this.ctx.client.get<Lease>(Resources.leases, s.name, 'kube-node-lease');
    if (got.ok) {
      const res = await this.ctx.client.update<Lease>(Resources.leases, {
        ...got.value,
        spec: { ...got.value.spec, ...spec },
      });
      if (res.ok) s.lease = res.value;
      return;
    }
    const node = await this.ctx.client.get<Node>(Resources.nodes, s.name);
    const res = await this.ctx.client.create<Lease>(Resources.leases, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: s.name,
        namespace: 'kube-node-lease',
        ...(node.ok
          ? {
              ownerReferences: [
                { apiVersion: 'v1', kind: 'Node', name: s.name, uid: node.value.metadata.uid! },
              ],
            }
          : {}),
      },
      spec,
    });
    if (res.ok) s.lease = res.value;
  }

  async syncPod(key: string): Promise<void> {
    const pod = this.podInformer.get(key);
    if (!pod || !pod.spec.nodeName) return;
    const s = this.sim.get(pod.spec.nodeName);
    if (!s || !s.heartbeating) return; // a dead kubelet does nothing; resuming re-queues its pods
    if (pod.metadata.deletionTimestamp) {
      await this.terminate(pod);
      return;
    }
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return;
    const now = Date.now();
    if (!this.seen.has(key)) this.seen.set(key, now);
    const wait = this.seen.get(key)! + this.opts.podStartDelayMs - now;
    if (wait > 0) {
      this.queue.addAfter(key, wait);
      return;
    }
    const behavior = pod.metadata.annotations?.[BehaviorAnnotation] as Behavior | undefined;
    const status = this.runningStatus(pod, s, behavior);
    if (!status) return;
    const res = await this.ctx.client.updateStatus<Pod>(Resources.pods, { ...pod, status });
    if (!res.ok) {
      if (isNotFound(res)) return;
      if (isConflict(res)) {
        this.queue.addAfter(key, 50);
        return;
      }
      throw new Error(`updating status: ${res.status.message}`);
    }
    if (behavior === 'crashloop') this.queue.addAfter(key, this.opts.crashLoopIntervalMs);
  }

  /** The status a kubelet would report now, or undefined when the current one is already right. */
  private runningStatus(pod: Pod, s: SimNode, behavior: Behavior | undefined): Pod['status'] | undefined {
    const cur = pod.status ?? {};
    const now = nowTime();
    const started = cur.startTime ?? now;
    const crash = behavior === 'crashloop';
    const fail = behavior === 'fail';
    const ready = !crash && !fail && behavior !== 'never-ready';
    if (!crash && !fail && cur.phase === 'Running' && cur.podIP && isPodReady(pod) === ready)
      return undefined;
    if (fail && cur.phase === 'Failed') return undefined;
    const prevRestarts = (name: string) =>
      cur.containerStatuses?.find((c) => c.name === name)?.restartCount ?? 0;
    const containerStatuses: ContainerStatus[] = pod.spec.containers.map((c) => {
      const base = {
        name: c.name,
        image: c.image ?? '',
        imageID: `${c.image ?? ''}@sha256:${hex(c.image ?? '', 64)}`,
        containerID: `containerd://${hex(`${pod.metadata.uid}/${c.name}`, 64)}`,
      };
      if (fail) {
        return {
          ...base,
          ready: false,
          started: false,
          restartCount: 0,
          state: { terminated: { exitCode: 1, reason: 'Error', startedAt: started, finishedAt: now } },
        };
      }
      if (crash) {
        const restarts = cur.phase === 'Running' ? prevRestarts(c.name) + 1 : 0;
        return {
          ...base,
          ready: false,
          started: false,
          restartCount: restarts,
          state: {
            waiting: {
              reason: 'CrashLoopBackOff',
              message: `back-off restarting failed container ${c.name} in pod ${pod.metadata.name}`,
            },
          },
          lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: started, finishedAt: now } },
        };
      }
      return {
        ...base,
        ready,
        started: true,
        restartCount: prevRestarts(c.name),
        state: { running: { startedAt: started } },
      };
    });
    const cond = (type: string, status: Condition['status'], reason?: string): Condition => {
      const prev = cur.conditions?.find((c) => c.type === type);
      return {
        type,
        status,
        lastProbeTime: null,
        lastTransitionTime: prev && prev.status === status ? (prev.lastTransitionTime ?? now) : now,
        ...(reason ? { reason } : {}),
      };
    };
    const notReadyReason = fail ? 'PodFailed' : 'ContainersNotReady';
    const podIP = cur.podIP ?? this.allocateIP(pod, s);
    const qos = pod.spec.containers.some((c) => c.resources?.requests || c.resources?.limits)
      ? 'Burstable'
      : 'BestEffort';
    return {
      ...cur,
      phase: fail ? 'Failed' : 'Running',
      conditions: [
        cond('PodReadyToStartContainers', fail ? 'False' : 'True'),
        cond('Initialized', 'True'),
        cond('Ready', ready ? 'True' : 'False', ready ? undefined : notReadyReason),
        cond('ContainersReady', ready ? 'True' : 'False', ready ? undefined : notReadyReason),
        cond('PodScheduled', 'True'),
      ],
      hostIP: s.ip,
      hostIPs: [{ ip: s.ip }],
      podIP,
      podIPs: [{ ip: podIP }],
      startTime: started,
      containerStatuses,
      qosClass: cur.qosClass ?? qos,
    } as Pod['status'];
  }

  private allocateIP(pod: Pod, s: SimNode): string {
    const uid = pod.metadata.uid ?? keyOf(pod);
    let ip = this.podIPs.get(uid);
    if (!ip) {
      const n = s.nextPodIp;
      s.nextPodIp = n >= 254 ? 2 : n + 1;
      ip = `10.${244 + Math.floor(s.index / 256)}.${s.index % 256}.${n}`;
      this.podIPs.set(uid, ip);
    }
    return ip;
  }

  /** Graceful deletion: after the (capped) grace period, remove the pod for good with grace 0. */
  private async terminate(pod: Pod): Promise<void> {
    const key = keyOf(pod);
    const grace = pod.metadata.deletionGracePeriodSeconds ?? 30;
    const requestedAt = Date.parse(pod.metadata.deletionTimestamp!) - grace * 1000;
    const effective =
      this.opts.maxGracePeriodSeconds === undefined
        ? grace
        : Math.min(grace, this.opts.maxGracePeriodSeconds);
    const left = requestedAt + effective * 1000 - Date.now();
    if (left > 0) {
      this.queue.addAfter(key, left + 10);
      return;
    }
    const res = await this.ctx.client.delete(Resources.pods, pod.metadata.name!, {
      namespace: pod.metadata.namespace,
      gracePeriodSeconds: 0,
      preconditions: { uid: pod.metadata.uid },
    });
    if (!res.ok && !isNotFound(res) && !isConflict(res))
      throw new Error(`deleting terminated pod: ${res.status.message}`);
  }
}

/** Deterministic fake hex digits (container and image IDs): stable for the same input. */
function hex(seed: string, n: number): string {
  let h = 2166136261;
  let out = '';
  while (out.length < n) {
    for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 16777619) >>> 0;
    h = Math.imul(h ^ out.length, 16777619) >>> 0;
    out += h.toString(16).padStart(8, '0');
  }
  return out.slice(0, n);
}
