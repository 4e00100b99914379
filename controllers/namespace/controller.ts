// The namespace controller: empties a Terminating namespace (deletes every namespaced object in it), then
// removes the "kubernetes" finalizer through the finalize subresource so the API server can remove it.
import { FINALIZER_KUBERNETES, type Namespace } from '../../apimachinery/index.js';
import { isNotFound, Resources, type ResourceType } from '../../apimachinery/client.js';
import type { Logger } from '../../common/index.js';
import type { Controller, ControllerContext } from '../context.js';
import { mapLimit } from '../context.js';
import type { Informer } from '../informer.js';
import { WorkQueue, runWorkers } from '../workqueue.js';

/** Namespaced resources emptied from a terminating namespace; owners first so their dependents follow. */
export const NAMESPACED_RESOURCES: ResourceType[] = [
  Resources.deployments,
  Resources.replicasets,
  Resources.pods,
  Resources.services,
  Resources.endpoints,
  Resources.configmaps,
  Resources.secrets,
  Resources.leases,
  Resources.events,
];

export class NamespaceController implements Controller {
  readonly name = 'namespace';
  readonly queue = new WorkQueue<string>();
  private readonly nsInformer: Informer<Namespace>;
  private readonly log: Logger;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly recheckMs = 1000,
  ) {
    this.log = ctx.logger.child(this.name);
    this.nsInformer = ctx.informers.informerFor<Namespace>(Resources.namespaces);
    this.nsInformer.addEventHandlers({
      onAdd: (n) => n.metadata.deletionTimestamp && this.queue.add(n.metadata.name!),
      onUpdate: (_o, n) => n.metadata.deletionTimestamp && this.queue.add(n.metadata.name!),
    });
  }

  run(workers: number): Promise<void> {
    return runWorkers(
      this.queue,
      workers,
      (k) => this.sync(k),
      (k, err) =>
        this.log.warn('sync failed', { namespace: k, error: String((err as Error)?.message ?? err) }),
    );
  }

  stop(): void {
    this.queue.shutDown();
  }

  async sync(name: string): Promise<void> {
    const ns = this.nsInformer.get(name);
    if (!ns || !ns.metadata.deletionTimestamp) return;
    if (!(ns.spec?.finalizers ?? []).includes(FINALIZER_KUBERNETES)) return;
    let remaining = 0;
    for (const r of NAMESPACED_RESOURCES) {
      const list = await this.ctx.client.listAll(r, { namespace: name });
      if (!list.ok) {
        if (isNotFound(list)) continue;
        throw new Error(`listing ${r.resource} in ${name}: ${list.status.message}`);
      }
      remaining += list.value.items.length;
      await mapLimit(
        list.value.items.filter((o) => !o.metadata.deletionTimestamp),
        16,
        async (o) => {
          const res = await this.ctx.client.delete(r, o.metadata.name!, {
            namespace: name,
            propagationPolicy: 'Background',
          });
          if (!res.ok && !isNotFound(res))
            this.log.warn('delete failed', {
              resource: r.resource,
              name: o.metadata.name,
              message: res.status.message,
            });
        },
      );
    }
    if (remaining > 0) {
      // Pods finish graceful termination on their own schedule: look again shortly.
      this.queue.addAfter(name, this.recheckMs);
      return;
    }
    const finalizers = (ns.spec?.finalizers ?? []).filter((f) => f !== FINALIZER_KUBERNETES);
    const body: Namespace = { ...ns, spec: { ...(ns.spec ?? {}), finalizers } };
    let res = await this.ctx.client.request<Namespace>(
      'PUT',
      this.ctx.client.path(Resources.namespaces, undefined, name, 'finalize'),
      body,
    );
    if (
      !res.ok &&
      (res.status.code === 404 || res.status.code === 405) &&
      !isNamespaceGone(res.status.message)
    ) {
      res = await this.ctx.client.update<Namespace>(Resources.namespaces, body);
    }
    if (!res.ok && !isNotFound(res)) throw new Error(`finalizing namespace ${name}: ${res.status.message}`);
    this.log.info('namespace emptied and finalized', { namespace: name });
  }
}

function isNamespaceGone(message: string | undefined): boolean {
  return /namespaces? .* not found/i.test(message ?? '');
}
