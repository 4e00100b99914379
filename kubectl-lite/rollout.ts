// kubectl rollout status|history|undo for Deployments: status watches until the rollout is complete,
// history and undo read the ReplicaSets the Deployment owns and their revision annotations.
import type { Deployment, ReplicaSet } from '../apimachinery/index.js';
import { Resources } from '../apimachinery/client.js';
import { durationMs, flag, UsageError } from './args.js';
import type { Ctx } from './context.js';
import { CommandError } from './errors.js';
import { formatTable } from './printer.js';

const REVISION = 'deployment.kubernetes.io/revision';
const CHANGE_CAUSE = 'kubernetes.io/change-cause';

async function target(ctx: Ctx): Promise<string> {
  const pos = ctx.args.positional.slice(1);
  let kind: string | undefined;
  let name: string | undefined;
  if (pos[0]?.includes('/')) [kind, name] = pos[0].split('/');
  else [kind, name] = pos;
  if (!kind || !name) throw new UsageError('error: required resource not specified (e.g. deployment/web)');
  const r = await ctx.discovery.resolve(kind);
  if (r.kind !== 'Deployment')
    throw new CommandError(
      `error: no ${ctx.args.positional[0]} for ${r.kind}; etcd-k8s-lite supports deployments`,
    );
  return name;
}

/** kubectl's rollout status message, and whether the rollout is done. */
export function rolloutMessage(d: Deployment): { done: boolean; msg: string } {
  const name = d.metadata.name;
  const want = d.spec.replicas ?? 1;
  const s = d.status ?? {};
  if ((d.metadata.generation ?? 0) > (s.observedGeneration ?? 0))
    return { done: false, msg: 'Waiting for deployment spec update to be observed...' };
  const progressing = s.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded')
    throw new CommandError(`error: deployment "${name}" exceeded its progress deadline`);
  const updated = s.updatedReplicas ?? 0;
  if (updated < want)
    return {
      done: false,
      msg: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${want} new replicas have been updated...`,
    };
  if ((s.replicas ?? 0) > updated)
    return {
      done: false,
      msg: `Waiting for deployment "${name}" rollout to finish: ${(s.replicas ?? 0) - updated} old replicas are pending termination...`,
    };
  if ((s.availableReplicas ?? 0) < updated)
    return {
      done: false,
      msg: `Waiting for deployment "${name}" rollout to finish: ${s.availableReplicas ?? 0} of ${updated} updated replicas are available...`,
    };
  return { done: true, msg: `deployment "${name}" successfully rolled out` };
}

export async function rollout(ctx: Ctx): Promise<number> {
  const sub = ctx.args.positional[0];
  if (sub === 'status') return status(ctx);
  if (sub === 'history') return history(ctx);
  if (sub === 'undo') return undo(ctx);
  throw new UsageError(`error: unknown rollout command "${sub ?? ''}" (want status, history or undo)`);
}

async function status(ctx: Ctx): Promise<number> {
  const name = await target(ctx);
  const ns = ctx.namespace;
  const timeoutMs = durationMs(flag(ctx.args, 'timeout'), 0);
  const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Infinity;
  let last = '';
  // Polled rather than watched: each step is one GET, and a restarted API server costs nothing here.
  while (Date.now() < deadline) {
    const d = ctx.must(await ctx.client.get<Deployment>(Resources.deployments, name, ns));
    const { done, msg } = rolloutMessage(d);
    if (msg !== last) ctx.out(msg + '\n');
    last = msg;
    if (done) return 0;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new CommandError('error: timed out waiting for the condition');
}

async function ownedReplicaSets(ctx: Ctx, d: Deployment): Promise<ReplicaSet[]> {
  const all = ctx.must(
    await ctx.client.listAll<ReplicaSet>(Resources.replicasets, { namespace: d.metadata.namespace }),
  );
  return all.items
    .filter((rs) => rs.metadata.ownerReferences?.some((o) => o.uid === d.metadata.uid && o.controller))
    .sort((x, y) => rev(x) - rev(y));
}

const rev = (rs: ReplicaSet) => Number(rs.metadata.annotations?.[REVISION] ?? 0);

async function history(ctx: Ctx): Promise<number> {
  const name = await target(ctx);
  const d = ctx.must(await ctx.client.get<Deployment>(Resources.deployments, name, ctx.namespace));
  const sets = await ownedReplicaSets(ctx, d);
  const want = flag(ctx.args, 'revision');
  if (want) {
    const rs = sets.find((s) => String(rev(s)) === want);
    if (!rs) throw new CommandError(`error: unable to find the specified revision`);
    ctx.out(`deployment.apps/${name} with revision #${want}\nPod Template:\n`);
    ctx.out(
      `  Labels:\t${Object.entries(rs.spec.template?.metadata?.labels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join('\n\t')}\n`,
    );
    ctx.out(`  Containers:\n`);
    for (const c of rs.spec.template?.spec.containers ?? [])
      ctx.out(`   ${c.name}:\n    Image:\t${c.image}\n`);
    return 0;
  }
  ctx.out(`deployment.apps/${name} \n`);
  const rows = [['REVISION', 'CHANGE-CAUSE']];
  for (const s of sets) rows.push([String(rev(s)), s.metadata.annotations?.[CHANGE_CAUSE] ?? '<none>']);
  ctx.out(formatTable(rows) + '\n');
  return 0;
}

async function undo(ctx: Ctx): Promise<number> {
  const name = await target(ctx);
  const d = ctx.must(await ctx.client.get<Deployment>(Resources.deployments, name, ctx.namespace));
  const sets = await ownedReplicaSets(ctx, d);
  const toRev = Number(flag(ctx.args, 'to-revision') ?? 0);
  let rs: ReplicaSet | undefined;
  if (toRev > 0) {
    rs = sets.find((s) => rev(s) === toRev);
    if (!rs) throw new CommandError(`error: unable to find specified revision ${toRev} in history`);
  } else {
    // The previous revision: the highest one below the current.
    const current = Math.max(0, ...sets.map(rev));
    rs = [...sets].reverse().find((s) => rev(s) < current);
    if (!rs) throw new CommandError('error: no rollout history found for deployment "' + name + '"');
  }
  if (!rs.spec.template) throw new CommandError(`error: revision ${rev(rs)} has no pod template`);
  const template = structuredClone(rs.spec.template);
  delete template.metadata?.labels?.['pod-template-hash'];
  if (JSON.stringify(template) === JSON.stringify(d.spec.template)) {
    ctx.out(
      `deployment.apps/${name} skipped rollback (current template already matches revision ${rev(rs)})\n`,
    );
    return 0;
  }
  ctx.must(
    await ctx.client.patch(
      Resources.deployments,
      name,
      [{ op: 'replace', path: '/spec/template', value: template }],
      { namespace: ctx.namespace, type: 'json' },
    ),
  );
  ctx.out(`deployment.apps/${name} rolled back\n`);
  return 0;
}
