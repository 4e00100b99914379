// cordon, uncordon and drain: a node marked unschedulable, and its pods moved off it through the Eviction
// API (POST pods/NAME/eviction), as kubectl does it. Each pod's controller then makes a replacement, which
// the scheduler puts on another node.
import { Resources } from '../apimachinery/client.js';
import type { KubeObject, Node, Pod } from '../apimachinery/index.js';
import { bool, durationMs, flag, gracePeriod, UsageError } from './args.js';
import type { Ctx } from './context.js';
import { CommandError } from './errors.js';

function nodeNames(ctx: Ctx, verb: string): string[] {
  const names = ctx.args.positional;
  if (names.length === 0) throw new UsageError(`error: ${verb} needs a NODE name`);
  return names;
}

/** Sets spec.unschedulable; says "already ..." when it was set that way. */
async function setUnschedulable(ctx: Ctx, name: string, on: boolean): Promise<void> {
  const node = ctx.must(await ctx.client.get<Node>(Resources.nodes, name));
  const word = on ? 'cordoned' : 'uncordoned';
  if (!!node.spec?.unschedulable === on) {
    ctx.out(`node/${name} already ${word}\n`);
    return;
  }
  ctx.must(await ctx.client.patch(Resources.nodes, name, { spec: { unschedulable: on ? true : null } }));
  ctx.out(`node/${name} ${word}\n`);
}

export async function cordon(ctx: Ctx, on: boolean): Promise<number> {
  for (const n of nodeNames(ctx, on ? 'cordon' : 'uncordon')) await setUnschedulable(ctx, n, on);
  return 0;
}

export async function drain(ctx: Ctx): Promise<number> {
  const a = ctx.args;
  const force = bool(a, 'force');
  const ignoreDaemonSets = bool(a, 'ignore-daemonsets');
  const useDelete = bool(a, 'disable-eviction');
  const timeoutMs = durationMs(flag(a, 'timeout'), 0) || Infinity;
  const grace = gracePeriod(a);
  const deleteOptions = grace === undefined ? {} : { gracePeriodSeconds: grace };
  const deadline = Date.now() + timeoutMs;
  for (const node of nodeNames(ctx, 'drain')) {
    await setUnschedulable(ctx, node, true);
    const pods = ctx.must(
      await ctx.client.listAll<Pod>(Resources.pods, { fieldSelector: `spec.nodeName=${node}` }),
    ).items;
    // What kubectl refuses to move without a flag: pods nobody would recreate, DaemonSet pods (which
    // would come straight back to the node), and pods whose emptyDir data would be lost.
    const unmanaged = pods.filter((p) => !p.metadata.ownerReferences?.some((o) => o.controller));
    const daemons = pods.filter((p) =>
      p.metadata.ownerReferences?.some((o) => o.controller && o.kind === 'DaemonSet'),
    );
    const local = pods.filter((p) =>
      (p.spec.volumes as { emptyDir?: unknown }[] | undefined)?.some((v) => v.emptyDir !== undefined),
    );
    const problems: string[] = [];
    if (local.length && !bool(a, 'delete-emptydir-data'))
      problems.push(
        `cannot delete Pods with local storage (use --delete-emptydir-data to override): ${local.map(ref).join(', ')}`,
      );
    if (unmanaged.length && !force)
      problems.push(
        `cannot delete Pods that declare no controller (use --force to override): ${unmanaged.map(ref).join(', ')}`,
      );
    if (daemons.length && !ignoreDaemonSets)
      problems.push(
        `cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): ${daemons.map(ref).join(', ')}`,
      );
    if (problems.length)
      throw new CommandError(
        `error: unable to drain node "${node}" due to error: ${problems.join(', ')}\n` +
          `There are pending nodes to be drained:\n ${node}`,
      );
    if (unmanaged.length)
      ctx.err(`Warning: deleting Pods that declare no controller: ${unmanaged.map(ref).join(', ')}\n`);
    const moving = pods.filter((p) => !daemons.includes(p));
    for (const p of moving) {
      if (useDelete) {
        ctx.must(
          await ctx.client.delete(Resources.pods, p.metadata.name!, {
            namespace: p.metadata.namespace,
            ...deleteOptions,
          }),
        );
        continue;
      }
      ctx.out(`evicting pod ${ref(p)}\n`);
      await evict(ctx, p, deleteOptions, deadline);
    }
    for (const p of moving) {
      await waitGone(ctx, p, deadline);
      ctx.out(`pod/${p.metadata.name} ${useDelete ? 'deleted' : 'evicted'}\n`);
    }
    ctx.out(`node/${node} drained\n`);
  }
  return 0;
}

const ref = (p: KubeObject) => `${p.metadata.namespace}/${p.metadata.name}`;

/** POSTs the Eviction, retrying while the server answers 429 (a disruption budget would say "not now"). */
async function evict(ctx: Ctx, p: Pod, deleteOptions: object, deadline: number): Promise<void> {
  const body = {
    apiVersion: 'policy/v1',
    kind: 'Eviction',
    metadata: { name: p.metadata.name, namespace: p.metadata.namespace },
    deleteOptions,
  };
  for (;;) {
    const r = await ctx.client.createSubresource(
      Resources.pods,
      p.metadata.name!,
      'eviction',
      body,
      p.metadata.namespace,
    );
    if (r.ok || r.status.code === 404) return;
    if (r.status.code !== 429 || Date.now() > deadline) ctx.must(r);
    ctx.err(
      `error when evicting pods/"${p.metadata.name}" -n "${p.metadata.namespace}" (will retry after 5s): ${r.status.message}\n`,
    );
    await new Promise((res) => setTimeout(res, 5000));
  }
}

/** Until the pod is gone, or replaced by another of the same name (another uid). */
async function waitGone(ctx: Ctx, p: Pod, deadline: number): Promise<void> {
  for (;;) {
    const g = await ctx.client.get<Pod>(Resources.pods, p.metadata.name!, p.metadata.namespace);
    if (!g.ok && g.status.code === 404) return;
    if (g.ok && g.value.metadata.uid !== p.metadata.uid) return;
    if (!g.ok) ctx.must(g);
    if (Date.now() > deadline)
      throw new CommandError(`error: timed out waiting for the condition on pods/${p.metadata.name}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}
