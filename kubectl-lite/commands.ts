// The smaller verbs: delete, scale, edit, logs, api-resources, cluster-info, version.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import type { KubeObject } from '../apimachinery/index.js';
import { bool, durationMs, flag, flags, gracePeriod, UsageError } from './args.js';
import { deleteFromFiles, propagation } from './apply.js';
import { splitResourceArgs, type Ctx } from './context.js';
import { objectRef, qualified, type ApiResource } from './discovery.js';
import { CommandError, statusMessage } from './errors.js';
import { formatTable, toYaml } from './printer.js';

export const CLIENT_VERSION = 'v1.32.0-ekl-lite';

export async function del(ctx: Ctx): Promise<number> {
  const a = ctx.args;
  const policy = propagation(a);
  const wait = bool(a, 'wait', true);
  const timeoutMs = durationMs(flag(a, 'timeout'), 60_000);
  const ignoreNotFound = bool(a, 'ignore-not-found');
  // As kubectl: --grace-period=0 alone means 1 (no accidental skipping of graceful deletion); --force
  // means 0 unless a grace period is given.
  const force = bool(a, 'force');
  let grace = gracePeriod(a);
  if (grace === 0 && !force) grace = 1;
  if (force) {
    grace ??= 0;
    ctx.err(
      'Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. ' +
        'The resource may continue to run on the cluster indefinitely.\n',
    );
  }
  const deleteOne = async (r: ApiResource, name: string, ns?: string) => {
    const res = await ctx.client.delete<KubeObject>(r, name, {
      namespace: ns,
      propagationPolicy: policy,
      ...(grace === undefined ? {} : { gracePeriodSeconds: grace }),
    });
    if (!res.ok && res.status.code === 404 && ignoreNotFound) return;
    ctx.must(res);
    ctx.out(`${r.kind.toLowerCase()}${r.group ? `.${r.group}` : ''} "${name}" deleted\n`);
    if (!wait) return;
    // kubectl waits until the object is gone (finalizers, foreground deletion of dependents).
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const g = await ctx.client.get(r, name, ns);
      if (!g.ok && g.status.code === 404) return;
      await new Promise((res2) => setTimeout(res2, 200));
    }
    throw new CommandError(`error: timed out waiting for the condition on ${qualified(r)}/${name}`);
  };
  if (flags(a, 'filename').length) return deleteFromFiles(ctx, deleteOne);
  let failed = 0;
  for (const { kind, names } of splitResourceArgs(a.positional)) {
    const r = await ctx.discovery.resolve(kind);
    const ns = r.namespaced ? ctx.namespace : undefined;
    let targets = names;
    const selector = flag(a, 'selector');
    if (targets.length === 0) {
      if (!selector && !bool(a, 'all'))
        throw new UsageError('error: resource(s) were provided, but no name was specified');
      targets = ctx
        .must(await ctx.client.listAll<KubeObject>(r, { namespace: ns, labelSelector: selector }))
        .items.map((o) => o.metadata.name!);
      if (targets.length === 0) ctx.err(`No resources found\n`);
    }
    for (const n of targets) {
      try {
        await deleteOne(r, n, ns);
      } catch (err) {
        if (!(err instanceof CommandError)) throw err;
        ctx.err(err.message + '\n');
        failed++;
      }
    }
  }
  return failed ? 1 : 0;
}

export async function scale(ctx: Ctx): Promise<number> {
  const a = ctx.args;
  const replicas = flag(a, 'replicas');
  if (replicas === undefined || !/^\d+$/.test(replicas))
    throw new UsageError('error: --replicas=COUNT is required, and COUNT must be greater than or equal to 0');
  for (const { kind, names } of splitResourceArgs(a.positional)) {
    const r = await ctx.discovery.resolve(kind);
    if (names.length === 0)
      throw new UsageError('error: resource(s) were provided, but no name was specified');
    for (const n of names) {
      ctx.must(
        await ctx.client.patch(
          r,
          n,
          { spec: { replicas: Number(replicas) } },
          { namespace: r.namespaced ? ctx.namespace : undefined, subresource: 'scale', type: 'merge' },
        ),
      );
      ctx.out(`${objectRef(r, n)} scaled\n`);
    }
  }
  return 0;
}

export async function edit(ctx: Ctx): Promise<number> {
  const [{ kind, names }] = splitResourceArgs(ctx.args.positional) as [{ kind: string; names: string[] }];
  if (names.length !== 1) throw new UsageError('error: edit needs exactly one KIND NAME');
  const r = await ctx.discovery.resolve(kind);
  const ns = r.namespaced ? ctx.namespace : undefined;
  const obj = ctx.must(await ctx.client.get<KubeObject>(r, names[0]!, ns));
  const dir = mkdtempSync(join(tmpdir(), 'kubectl-lite-edit-'));
  const file = join(dir, `${r.resource}-${names[0]}.yaml`);
  try {
    const header =
      "# Please edit the object below. Lines beginning with a '#' will be ignored,\n# and an empty file will abort the edit.\n#\n";
    const before = toYaml(obj);
    writeFileSync(file, header + before);
    const editor = process.env.KUBE_EDITOR ?? process.env.EDITOR ?? 'vi';
    const res = spawnSync('/bin/sh', ['-c', `${editor} "$1"`, 'editor', file], { stdio: 'inherit' });
    if (res.status !== 0) throw new CommandError(`error: there was a problem with the editor "${editor}"`);
    const text = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n');
    if (text.trim() === '' || text.trim() === before.trim()) {
      ctx.out('Edit cancelled, no changes made.\n');
      return 0;
    }
    const edited = loadYaml(text) as KubeObject;
    ctx.must(await ctx.client.update(r, edited, { namespace: ns, fieldManager: 'kubectl-edit' }));
    ctx.out(`${objectRef(r, names[0]!)} edited\n`);
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function logs(ctx: Ctx): number {
  const pod = ctx.args.positional[0] ?? 'POD';
  ctx.err(
    `error: no logs for ${pod}: etcd-k8s-lite runs no containers by design (pods are simulated by bin/node-agent; ` +
      `their "running" is a status the node-agent reports). Try: kubectl-lite describe pod ${pod}\n`,
  );
  return 1;
}

export async function apiResources(ctx: Ctx): Promise<number> {
  const rows = [['NAME', 'SHORTNAMES', 'APIVERSION', 'NAMESPACED', 'KIND']];
  const all = [...(await ctx.discovery.resources())].sort((x, y) =>
    x.group === y.group ? x.resource.localeCompare(y.resource) : x.group.localeCompare(y.group),
  );
  for (const r of all) {
    rows.push([
      r.resource,
      r.shortNames.join(','),
      r.group ? `${r.group}/${r.version}` : r.version,
      String(r.namespaced),
      r.kind,
    ]);
  }
  ctx.out(formatTable(rows));
  return 0;
}

export async function clusterInfo(ctx: Ctx): Promise<number> {
  const r = await ctx.client.request<unknown>('GET', '/version');
  if (!r.ok) throw new CommandError(statusMessage(r.status, ctx.server));
  ctx.out(`Kubernetes control plane is running at ${ctx.server}\n`);
  if (ctx.target.etcdServers.length)
    ctx.out(`etcd-k8s-lite store is running at ${ctx.target.etcdServers.join(', ')}\n`);
  ctx.out(`\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.\n`);
  return 0;
}

export async function version(ctx: Ctx): Promise<number> {
  const out = flag(ctx.args, 'output');
  const client = {
    major: '1',
    minor: '32',
    gitVersion: CLIENT_VERSION,
    platform: `${process.platform}/${process.arch}`,
  };
  let server: Record<string, string> | undefined;
  let failure: string | undefined;
  try {
    const r = await ctx.client.request<Record<string, string>>('GET', '/version');
    if (r.ok) server = r.value;
    else failure = statusMessage(r.status, ctx.server);
  } catch (err) {
    failure = (err as Error).message;
  }
  if (out === 'json')
    ctx.out(JSON.stringify({ clientVersion: client, serverVersion: server }, null, 2) + '\n');
  else if (out === 'yaml') ctx.out(toYaml({ clientVersion: client, serverVersion: server }));
  else {
    ctx.out(`Client Version: ${CLIENT_VERSION}\n`);
    if (server) ctx.out(`Server Version: ${server.gitVersion}\n`);
  }
  if (failure) {
    ctx.err(failure + '\n');
    return 1;
  }
  return 0;
}
