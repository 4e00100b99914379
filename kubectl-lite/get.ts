// kubectl get: server-side Tables (-o wide), -o yaml|json|name, -l, -A, and -w (rows as events arrive).
import type { KubeObject } from '../apimachinery/index.js';
import { bool, durationMs, flag } from './args.js';
import { splitResourceArgs, type Ctx } from './context.js';
import type { ApiResource } from './discovery.js';
import { CommandError, statusMessage } from './errors.js';
import { formatTable, printObjects, tableRows, type Table } from './printer.js';

function collectionPath(ctx: Ctx, r: ApiResource, ns: string | undefined): string {
  return ctx.client.path(r, ns);
}

function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

export async function get(ctx: Ctx): Promise<number> {
  const a = ctx.args;
  const output = flag(a, 'output') ?? '';
  const selector = flag(a, 'selector');
  const fieldSelector = flag(a, 'field-selector');
  const watch = bool(a, 'watch') || bool(a, 'watch-only');
  const groups = splitResourceArgs(a.positional);
  let failed = false;
  const objects: KubeObject[] = [];
  // The resource each object came from, so `-o name` over several kinds names each with its own.
  const resourceOf = new Map<KubeObject, ApiResource>();
  let lastResource: ApiResource | undefined;
  let printedTable = false;
  for (const { kind, names } of groups) {
    const r = await ctx.discovery.resolve(kind);
    lastResource = r;
    const ns = r.namespaced && !ctx.allNamespaces ? ctx.namespace : undefined;
    const withNamespace = r.namespaced && ctx.allNamespaces;
    const topts = { wide: output === 'wide', withNamespace, showLabels: bool(a, 'show-labels') };
    if (output === '' || output === 'wide') {
      const tables: Table[] = [];
      if (names.length) {
        for (const n of names) {
          try {
            tables.push(await ctx.table(ctx.client.path(r, ns, n) + query({ includeObject: 'Object' })));
          } catch (err) {
            if (!(err instanceof CommandError)) throw err;
            ctx.err(err.message + '\n');
            failed = true;
          }
        }
      } else {
        tables.push(
          await ctx.table(
            collectionPath(ctx, r, ns) +
              query({ labelSelector: selector, fieldSelector, includeObject: 'Object' }),
          ),
        );
      }
      const rows = tables.flatMap((t) => tableRows(t, topts).rows);
      const header = tables[0] ? tableRows(tables[0], topts).header : [];
      if (watch) {
        if (!bool(a, 'watch-only') && rows.length) ctx.out(formatTable([header, ...rows]));
        const rv = tables[0]?.metadata?.resourceVersion;
        // Later rows line up with what was printed first, as kubectl's watch printer does.
        const seen = [header, ...rows];
        let headerShown = !bool(a, 'watch-only') && rows.length > 0;
        await watchRows(ctx, r, ns, rv, names, selector, fieldSelector, (t) => {
          for (const row of tableRows(t, topts).rows) {
            seen.push(row);
            if (!headerShown) {
              ctx.out(formatTable([header.length ? header : tableRows(t, topts).header, row]));
              headerShown = true;
            } else ctx.out(lastLine(seen));
          }
        });
        return 0;
      }
      if (rows.length === 0 && !failed) {
        if (names.length === 0)
          ctx.err(
            r.namespaced && !ctx.allNamespaces
              ? `No resources found in ${ns} namespace.\n`
              : 'No resources found\n',
          );
        continue;
      }
      if (rows.length) {
        if (printedTable) ctx.out('\n');
        ctx.out(formatTable(bool(a, 'no-headers') ? rows : [header, ...rows]));
        printedTable = true;
      }
      continue;
    }
    if (names.length) {
      for (const n of names) {
        const res = await ctx.client.get<KubeObject>(r, n, ns);
        if (!res.ok) {
          ctx.err(statusMessage(res.status, ctx.server) + '\n');
          failed = true;
        } else {
          objects.push(res.value);
          resourceOf.set(res.value, r);
        }
      }
    } else {
      objects.push(
        ...ctx
          .must(
            await ctx.client.listAll<KubeObject>(r, {
              namespace: ns,
              labelSelector: selector,
              fieldSelector,
            }),
          )
          .items.map((o) => {
            const obj = withKind(o, r);
            resourceOf.set(obj, r);
            return obj;
          }),
      );
    }
  }
  if (output !== '' && output !== 'wide' && lastResource) {
    const single = groups.length === 1 && groups[0]!.names.length === 1;
    if (objects.length === 0 && !single && !failed)
      ctx.err(`No resources found in ${ctx.namespace} namespace.\n`);
    else if (objects.length) {
      try {
        ctx.out(printObjects(objects, output, (o) => resourceOf.get(o) ?? lastResource!, single));
      } catch (err) {
        throw new CommandError(`error: ${(err as Error).message}`);
      }
    }
  }
  return failed ? 1 : 0;
}

/** Items of a List carry no kind; kubectl fills it in for -o yaml/json. */
function withKind(o: KubeObject, r: ApiResource): KubeObject {
  return { apiVersion: r.group ? `${r.group}/${r.version}` : r.version, kind: r.kind, ...o };
}

function lastLine(rows: string[][]): string {
  const out = formatTable(rows).split('\n');
  return out[out.length - 2] + '\n';
}

async function watchRows(
  ctx: Ctx,
  r: ApiResource,
  ns: string | undefined,
  rv: string | undefined,
  names: string[],
  labelSelector: string | undefined,
  fieldSelector: string | undefined,
  onTable: (t: Table) => void,
): Promise<void> {
  if (names.length > 1)
    throw new CommandError(
      'error: watch is only supported on individual resources and resource collections, but 2 resources were found',
    );
  const fs =
    names.length === 1
      ? [`metadata.name=${names[0]}`, fieldSelector].filter(Boolean).join(',')
      : fieldSelector;
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // --request-timeout bounds a watch (kubectl's habit), e.g. for scripts and the tutorial.
  const timeoutMs = durationMs(flag(ctx.args, 'request-timeout'), 0);
  const timer = timeoutMs > 0 ? setTimeout(stop, timeoutMs) : undefined;
  try {
    await ctx.watchTable(
      ctx.client.path(r, ns) +
        query({
          watch: 'true',
          resourceVersion: rv,
          labelSelector,
          fieldSelector: fs,
          includeObject: 'Object',
        }),
      (_type, t) => onTable(t),
      ac.signal,
    );
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
