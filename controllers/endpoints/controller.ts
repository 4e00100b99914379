// The endpoints controller: for each Service with a selector, writes an Endpoints object of the same name
// listing the IPs of matching pods (Ready ones in addresses, others in notReadyAddresses) and its ports.
import {
  selectorFromSet,
  type EndpointAddress,
  type EndpointPort,
  type Endpoints,
  type EndpointSubset,
  type Pod,
  type Service,
} from '../../apimachinery/index.js';
import { isConflict, isNotFound, Resources } from '../../apimachinery/client.js';
import type { Logger } from '../../common/index.js';
import type { Controller, ControllerContext } from '../context.js';
import { keyOf, NamespaceIndex, splitKey, type Informer } from '../informer.js';
import { isPodReady } from '../podutil.js';
import { WorkQueue, runWorkers } from '../workqueue.js';
import { stableStringify } from '../deployment/util.js';

export class EndpointsController implements Controller {
  readonly name = 'endpoints';
  readonly queue = new WorkQueue<string>();
  private readonly svcInformer: Informer<Service>;
  private readonly podInformer: Informer<Pod>;
  private readonly epInformer: Informer<Endpoints>;
  private readonly log: Logger;

  constructor(private readonly ctx: ControllerContext) {
    this.log = ctx.logger.child(this.name);
    this.svcInformer = ctx.informers.informerFor<Service>(Resources.services);
    this.podInformer = ctx.informers.informerFor<Pod>(Resources.pods);
    this.epInformer = ctx.informers.informerFor<Endpoints>(Resources.endpoints);
    this.svcInformer.addEventHandlers({
      onAdd: (s) => this.queue.add(keyOf(s)),
      onUpdate: (_o, s) => this.queue.add(keyOf(s)),
      onDelete: (s) => this.queue.add(keyOf(s)),
    });
    const podChanged = (p: Pod) => {
      for (const s of this.svcInformer.byIndex(NamespaceIndex, p.metadata.namespace ?? '')) {
        if (s.spec?.selector && selectorFromSet(s.spec.selector).matches(p.metadata.labels))
          this.queue.add(keyOf(s));
      }
    };
    this.podInformer.addEventHandlers({
      onAdd: podChanged,
      onUpdate: (o, p) => {
        if (o.metadata.resourceVersion === p.metadata.resourceVersion) return;
        podChanged(p);
        podChanged(o);
      },
      onDelete: podChanged,
    });
    this.epInformer.addEventHandlers({ onDelete: (e) => this.queue.add(keyOf(e)) });
  }

  run(workers: number): Promise<void> {
    return runWorkers(
      this.queue,
      workers,
      (k) => this.sync(k),
      (k, err) => this.log.warn('sync failed', { service: k, error: String((err as Error)?.message ?? err) }),
    );
  }

  stop(): void {
    this.queue.shutDown();
  }

  async sync(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const svc = this.svcInformer.get(key);
    const current = this.epInformer.get(key);
    if (!svc) {
      if (current) {
        const res = await this.ctx.client.delete(Resources.endpoints, name, { namespace });
        if (!res.ok && !isNotFound(res)) throw new Error(`deleting endpoints ${key}: ${res.status.message}`);
      }
      return;
    }
    // A Service without a selector has endpoints managed by someone else.
    if (!svc.spec?.selector || Object.keys(svc.spec.selector).length === 0) return;
    const subsets = computeSubsets(svc, this.podInformer.byIndex(NamespaceIndex, namespace ?? ''));
    if (current && stableStringify(current.subsets ?? []) === stableStringify(subsets)) return;
    const ep: Endpoints = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { ...(current?.metadata ?? {}), name, namespace, labels: { ...(svc.metadata.labels ?? {}) } },
      subsets,
    };
    const res = current
      ? await this.ctx.client.update(Resources.endpoints, ep)
      : await this.ctx.client.create(Resources.endpoints, ep);
    if (!res.ok) {
      if (isConflict(res)) {
        this.queue.addAfter(key, 100); // stale cache or a racing create: the watch will catch us up
        return;
      }
      throw new Error(`writing endpoints ${key}: ${res.status.message}`);
    }
  }
}

/** One subset holding every matching pod with an IP, ports resolved per the Service's targetPorts. */
export function computeSubsets(svc: Service, pods: Pod[]): EndpointSubset[] {
  const sel = selectorFromSet(svc.spec?.selector);
  const ready: EndpointAddress[] = [];
  const notReady: EndpointAddress[] = [];
  let samplePod: Pod | undefined;
  for (const p of pods) {
    if (p.metadata.deletionTimestamp || !p.status?.podIP || !sel.matches(p.metadata.labels)) continue;
    if (p.status.phase === 'Succeeded' || p.status.phase === 'Failed') continue;
    samplePod ??= p;
    const addr: EndpointAddress = {
      ip: p.status.podIP,
      ...(p.spec.nodeName ? { nodeName: p.spec.nodeName } : {}),
      targetRef: { kind: 'Pod', namespace: p.metadata.namespace, name: p.metadata.name, uid: p.metadata.uid },
    };
    (isPodReady(p) ? ready : notReady).push(addr);
  }
  if (ready.length === 0 && notReady.length === 0) return [];
  const byIp = (a: EndpointAddress, b: EndpointAddress) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0);
  ready.sort(byIp);
  notReady.sort(byIp);
  const ports: EndpointPort[] = (svc.spec?.ports ?? []).map((sp) => {
    let port = typeof sp.targetPort === 'number' ? sp.targetPort : sp.port;
    if (typeof sp.targetPort === 'string' && samplePod) {
      const named = samplePod.spec.containers
        .flatMap((c) => c.ports ?? [])
        .find((cp) => cp.name === sp.targetPort);
      if (named) port = named.containerPort;
      else if (/^\d+$/.test(sp.targetPort)) port = Number(sp.targetPort);
    }
    return { ...(sp.name ? { name: sp.name } : {}), port, protocol: sp.protocol ?? 'TCP' };
  });
  const subset: EndpointSubset = {};
  if (ready.length) subset.addresses = ready;
  if (notReady.length) subset.notReadyAddresses = notReady;
  subset.ports = ports;
  return [subset];
}
