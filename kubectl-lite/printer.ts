// Output as kubectl writes it: tables (from the server's Table responses), -o yaml|json|name, and
// kubectl's AGE wording.
import { dump as dumpYaml } from 'js-yaml';
import type { KubeObject } from '../apimachinery/index.js';
import { objectRef, type ApiResource } from './discovery.js';

export interface TableColumn {
  name: string;
  priority?: number;
}
export interface TableRow {
  cells: unknown[];
  object?: KubeObject;
}
export interface Table {
  kind: 'Table';
  columnDefinitions: TableColumn[];
  rows: TableRow[];
  metadata?: { resourceVersion?: string };
}

/** kubectl's tabwriter: columns padded to the widest cell plus three spaces. */
export function formatTable(rows: string[][]): string {
  if (rows.length === 0) return '';
  const width = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(width[i]! + 3)))
          .join('')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export interface TableOptions {
  wide: boolean;
  /** Prepend a NAMESPACE column (-A). */
  withNamespace: boolean;
  showLabels: boolean;
}

/** The header and cell strings of a Table, as kubectl shows them. */
export function tableRows(t: Table, o: TableOptions): { header: string[]; rows: string[][] } {
  const keep = t.columnDefinitions.map((c, i) => ({ c, i })).filter(({ c }) => o.wide || !c.priority);
  const header = keep.map(({ c }) => c.name.toUpperCase());
  if (o.withNamespace) header.unshift('NAMESPACE');
  if (o.showLabels) header.push('LABELS');
  const rows = t.rows.map((r) => {
    const cells = keep.map(({ i }) => cellString(r.cells[i]));
    if (o.withNamespace) cells.unshift(r.object?.metadata?.namespace ?? '');
    if (o.showLabels) cells.push(labelString(r.object?.metadata?.labels));
    return cells;
  });
  return { header, rows };
}

function cellString(v: unknown): string {
  if (v === null || v === undefined) return '<none>';
  if (typeof v === 'string') return v === '' ? '' : v;
  return String(v);
}

function labelString(l: Record<string, string> | undefined): string {
  const e = Object.entries(l ?? {});
  return e.length ? e.map(([k, v]) => `${k}=${v}`).join(',') : '<none>';
}

export function toYaml(obj: unknown): string {
  return dumpYaml(obj, { sortKeys: true, lineWidth: -1, noRefs: true });
}

export function toJson(obj: unknown): string {
  return JSON.stringify(obj, null, 4) + '\n';
}

/** One object, or a kubectl List of several, in the -o format. */
export function printObjects(
  objs: KubeObject[],
  output: string,
  resourceOf: (o: KubeObject) => ApiResource,
  single: boolean,
): string {
  if (output === 'name') return objs.map((o) => objectRef(resourceOf(o), o.metadata.name!) + '\n').join('');
  const doc =
    single && objs.length === 1
      ? objs[0]
      : { apiVersion: 'v1', items: objs, kind: 'List', metadata: { resourceVersion: '' } };
  if (output === 'yaml') return toYaml(doc);
  if (output === 'json') return toJson(doc);
  throw new Error(
    `unable to match a printer suitable for the output format "${output}", allowed formats are: json,name,wide,yaml`,
  );
}

/** kubectl's HumanDuration (AGE columns, describe events). */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < -1) return '<invalid>';
  if (s < 0) return '0s';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 24 * 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (h < 24 * 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  if (h < 24 * 365 * 8) return d % 365 === 0 ? `${y}y` : `${y}y${d % 365}d`;
  return `${y}y`;
}

export function age(timestamp: string | undefined, now = Date.now()): string {
  if (!timestamp) return '<unknown>';
  return humanDuration(now - Date.parse(timestamp));
}
