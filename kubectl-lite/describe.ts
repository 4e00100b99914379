// kubectl describe: the object in kubectl's indented layout, with kind-specific lines for the kinds this
// control plane runs, and the Events that mention it.
import type { Deployment, Event, KubeObject, Node, Pod, ReplicaSet, Service } from '../apimachinery/index.js';
import { Resources } from '../apimachinery/client.js';
import { flag } from './args.js';
import { splitResourceArgs, type Ctx } from './context.js';
import type { ApiResource } from './discovery.js';
import { age, formatTable, toYaml } from './printer.js';

export async function describe(ctx: Ctx): Promise<number> {
  let first = true;
  for (const { kind, names } of splitResourceArgs(ctx.args.positional)) {
    const r = await ctx.discovery.resolve(kind);
    const ns = r.namespaced ? ctx.namespace : undefined;
    let objs: KubeObject[];
    if (names.length)
      objs = await Promise.all(names.map(async (n) => ctx.must(await ctx.client.get<KubeObject>(r, n, ns))));
    else
      objs = ctx.must(
        await ctx.client.listAll<KubeObject>(r, { namespace: ns, labelSelector: flag(ctx.args, 'selector') }),
      ).items;
    for (const o of objs) {
      if (!first) ctx.out('\n\n');
      first = false;
      ctx.out(await describeOne(ctx, r, o));
    }
  }
  return 0;
}

const map = (m: Record<string, string> | undefined, indent: string) => {
  const e = Object.entries(m ?? {});
  return e.length ? e.map(([k, v]) => `${k}=${v}`).join(`\n${indent}`) : '<none>';
};

async function describeOne(ctx: Ctx, r: ApiResource, o: KubeObject): Promise<string> {
  const L: [string, string][] = [];
  const md = o.metadata;
  L.push(['Name:', md.name ?? '']);
  if (r.namespaced) L.push(['Namespace:', md.namespace ?? '']);
  L.push(['Labels:', map(md.labels, ' '.repeat(24))]);
  const ann = { ...(md.annotations ?? {}) };
  delete ann['kubectl.kubernetes.io/last-applied-configuration'];
  L.push(['Annotations:', map(ann, ' '.repeat(24))]);
  L.push([
    'CreationTimestamp:',
    md.creationTimestamp ? new Date(md.creationTimestamp).toUTCString() : '<unknown>',
  ]);
  const owner = md.ownerReferences?.find((x) => x.controller);
  if (owner) L.push(['Controlled By:', `${owner.kind}/${owner.name}`]);
  let text = L.map(([k, v]) => k.padEnd(24) + v).join('\n') + '\n';
  text += kindSection(r.kind, o, ctx);
  if (r.kind === 'Deployment') text += await deploymentReplicaSets(ctx, o as Deployment);
  text += await events(ctx, o);
  return text;
}

function kindSection(kind: string, o: KubeObject, _ctx: Ctx): string {
  const lines: string[] = [];
  const row = (k: string, v: unknown) => lines.push(k.padEnd(24) + String(v));
  switch (kind) {
    case 'Deployment': {
      const d = o as Deployment;
      const s = d.status ?? {};
      row(
        'Selector:',
        Object.entries(d.spec.selector?.matchLabels ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
      );
      row(
        'Replicas:',
        `${d.spec.replicas ?? 1} desired | ${s.updatedReplicas ?? 0} updated | ${s.replicas ?? 0} total | ${s.availableReplicas ?? 0} available | ${s.unavailableReplicas ?? 0} unavailable`,
      );
      row('StrategyType:', d.spec.strategy?.type ?? 'RollingUpdate');
      const ru = d.spec.strategy?.rollingUpdate;
      if ((d.spec.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate')
        row(
          'RollingUpdateStrategy:',
          `${ru?.maxUnavailable ?? '25%'} max unavailable, ${ru?.maxSurge ?? '25%'} max surge`,
        );
      lines.push('Pod Template:');
      lines.push(`  Labels:  ${map(d.spec.template.metadata?.labels, '           ')}`);
      lines.push('  Containers:');
      for (const c of d.spec.template.spec.containers ?? [])
        lines.push(`   ${c.name}:`, `    Image:      ${c.image}`);
      lines.push(...conditions(s.conditions));
      break;
    }
    case 'ReplicaSet': {
      const rs = o as ReplicaSet;
      row(
        'Selector:',
        Object.entries(rs.spec.selector?.matchLabels ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
      );
      row('Replicas:', `${rs.status?.replicas ?? 0} current / ${rs.spec.replicas ?? 1} desired`);
      row('Pods Status:', `${rs.status?.readyReplicas ?? 0} Running`);
      lines.push('Pod Template:', '  Containers:');
      for (const c of rs.spec.template?.spec.containers ?? [])
        lines.push(`   ${c.name}:`, `    Image:      ${c.image}`);
      break;
    }
    case 'Pod': {
      const p = o as Pod;
      row('Node:', p.spec.nodeName ?? '<none>');
      row('Status:', p.metadata.deletionTimestamp ? 'Terminating' : (p.status?.phase ?? 'Pending'));
      row('IP:', p.status?.podIP ?? '');
      lines.push('Containers:');
      for (const c of p.spec.containers ?? []) lines.push(`  ${c.name}:`, `    Image:          ${c.image}`);
      lines.push(...conditions(p.status?.conditions));
      break;
    }
    case 'Node': {
      const n = o as Node;
      row('Unschedulable:', n.spec?.unschedulable ?? false);
      row(
        'Taints:',
        (n.spec?.taints ?? [])
          .map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`)
          .join('\n' + ' '.repeat(24)) || '<none>',
      );
      lines.push(...conditions(n.status?.conditions));
      break;
    }
    case 'Service': {
      const s = o as Service;
      row('Selector:', map(s.spec?.selector, ','));
      row('Type:', s.spec?.type ?? 'ClusterIP');
      row('IP:', s.spec?.clusterIP ?? '');
      for (const p of s.spec?.ports ?? [])
        row('Port:', `${p.name ?? '<unset>'}  ${p.port}/${p.protocol ?? 'TCP'}`);
      break;
    }
    default: {
      const rest = { ...(o as unknown as Record<string, unknown>) };
      for (const k of ['apiVersion', 'kind', 'metadata']) delete rest[k];
      if (Object.keys(rest).length) {
        for (const [k, v] of Object.entries(rest)) {
          lines.push(`${k[0]!.toUpperCase()}${k.slice(1)}:`);
          lines.push(
            ...toYaml(v)
              .trimEnd()
              .split('\n')
              .map((l) => '  ' + l),
          );
        }
      }
    }
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}

function conditions(cs: { type: string; status: string; reason?: string }[] | undefined): string[] {
  if (!cs?.length) return [];
  const rows = [
    ['  Type', 'Status', 'Reason'],
    ['  ----', '------', '------'],
    ...cs.map((c) => ['  ' + c.type, c.status, c.reason ?? '']),
  ];
  return ['Conditions:', ...formatTable(rows).trimEnd().split('\n')];
}

async function deploymentReplicaSets(ctx: Ctx, d: Deployment): Promise<string> {
  const r = await ctx.client.listAll<ReplicaSet>(Resources.replicasets, { namespace: d.metadata.namespace });
  if (!r.ok) return '';
  const owned = r.value.items.filter((rs) =>
    rs.metadata.ownerReferences?.some((x) => x.uid === d.metadata.uid),
  );
  const hash = (rs: ReplicaSet) => rs.metadata.labels?.['pod-template-hash'];
  const newest = owned.sort(
    (a, b) =>
      Number(b.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0) -
      Number(a.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0),
  )[0];
  const fmt = (rs: ReplicaSet) =>
    `${rs.metadata.name} (${rs.status?.replicas ?? 0}/${rs.spec.replicas ?? 0} replicas created)`;
  const old = owned.filter((rs) => rs !== newest && (rs.spec.replicas ?? 0) > 0);
  void hash;
  return `OldReplicaSets:         ${old.length ? old.map(fmt).join(', ') : '<none>'}\nNewReplicaSet:          ${newest ? fmt(newest) : '<none>'}\n`;
}

async function events(ctx: Ctx, o: KubeObject): Promise<string> {
  const fs = [`involvedObject.name=${o.metadata.name}`, `involvedObject.uid=${o.metadata.uid}`];
  const r = await ctx.client.listAll<Event>(Resources.events, {
    namespace: o.metadata.namespace || 'default',
    fieldSelector: fs.join(','),
  });
  if (!r.ok || r.value.items.length === 0) return 'Events:                 <none>\n';
  const items = r.value.items.sort(
    (a, b) =>
      Date.parse(a.lastTimestamp ?? a.eventTime ?? '') - Date.parse(b.lastTimestamp ?? b.eventTime ?? ''),
  );
  const rows = [
    ['  Type', 'Reason', 'Age', 'From', 'Message'],
    ['  ----', '------', '----', '----', '-------'],
    ...items.map((e) => {
      const when = age(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp);
      const n = e.count ?? 1;
      const first = age(e.firstTimestamp ?? e.metadata.creationTimestamp);
      return [
        '  ' + (e.type ?? 'Normal'),
        e.reason ?? '',
        n > 1 ? `${when} (x${n} over ${first})` : when,
        e.source?.component ?? e.reportingComponent ?? '',
        e.message ?? '',
      ];
    }),
  ];
  return 'Events:\n' + formatTable(rows);
}
