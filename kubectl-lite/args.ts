// kubectl-style argument parsing: flags anywhere, `--flag value` or `--flag=value`, short aliases.
export const VALUE_FLAGS: Record<string, string> = {
  n: 'namespace',
  namespace: 'namespace',
  l: 'selector',
  selector: 'selector',
  'field-selector': 'field-selector',
  o: 'output',
  output: 'output',
  f: 'filename',
  filename: 'filename',
  kubeconfig: 'kubeconfig',
  s: 'server',
  server: 'server',
  context: 'context',
  replicas: 'replicas',
  cascade: 'cascade',
  'to-revision': 'to-revision',
  revision: 'revision',
  timeout: 'timeout',
  'etcd-servers': 'etcd-servers',
  rev: 'rev',
  'field-manager': 'field-manager',
  'data-dir': 'data-dir',
  name: 'name',
  'initial-cluster': 'initial-cluster',
  'initial-cluster-token': 'initial-cluster-token',
  'initial-advertise-peer-urls': 'initial-advertise-peer-urls',
  'request-timeout': 'request-timeout',
  limit: 'limit',
  'grace-period': 'grace-period',
};

export const BOOL_FLAGS: Record<string, string> = {
  A: 'all-namespaces',
  'all-namespaces': 'all-namespaces',
  w: 'watch',
  watch: 'watch',
  'watch-only': 'watch-only',
  'server-side': 'server-side',
  'force-conflicts': 'force-conflicts',
  'show-labels': 'show-labels',
  'no-headers': 'no-headers',
  wait: 'wait',
  R: 'recursive',
  recursive: 'recursive',
  h: 'help',
  help: 'help',
  'ignore-not-found': 'ignore-not-found',
  prefix: 'prefix',
  'keys-only': 'keys-only',
  'skip-hash-check': 'skip-hash-check',
  all: 'all',
  force: 'force',
  'ignore-daemonsets': 'ignore-daemonsets',
  'disable-eviction': 'disable-eviction',
  'delete-emptydir-data': 'delete-emptydir-data',
};

export interface Args {
  positional: string[];
  flags: Map<string, string[]>;
}

export class UsageError extends Error {}

export function parseArgs(argv: string[]): Args {
  const positional: string[] = [];
  const flags = new Map<string, string[]>();
  const add = (k: string, v: string) => flags.set(k, [...(flags.get(k) ?? []), v]);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a === '-' || !a.startsWith('-')) {
      positional.push(a);
      continue;
    }
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const inline = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (VALUE_FLAGS[name]) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`flag needs an argument: ${a}`);
      add(VALUE_FLAGS[name]!, v);
    } else if (BOOL_FLAGS[name]) {
      add(BOOL_FLAGS[name]!, inline ?? 'true');
    } else if (!a.startsWith('--') && a.length > 2 && VALUE_FLAGS[a[1]!]) {
      add(VALUE_FLAGS[a[1]!]!, a.slice(2)); // -nkube-system
    } else {
      throw new UsageError(`unknown flag: ${a}`);
    }
  }
  return { positional, flags };
}

export function flag(a: Args, name: string): string | undefined {
  const v = a.flags.get(name);
  return v ? v[v.length - 1] : undefined;
}

export function flags(a: Args, name: string): string[] {
  return a.flags.get(name) ?? [];
}

export function bool(a: Args, name: string, dflt = false): boolean {
  const v = flag(a, name);
  if (v === undefined) return dflt;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new UsageError(`invalid value "${v}" for --${name}: want true or false`);
}

/** --grace-period=N in seconds; a negative N (kubectl's default, -1) means the object's own. */
export function gracePeriod(a: Args): number | undefined {
  const g = flag(a, 'grace-period');
  if (g === undefined) return undefined;
  if (!/^-?\d+$/.test(g)) throw new UsageError(`invalid argument "${g}" for "--grace-period" flag`);
  return Number(g) < 0 ? undefined : Number(g);
}

/** kubectl durations: "30s", "2m", "1h", or a bare number of seconds; 0 means no limit. */
export function durationMs(s: string | undefined, dflt: number): number {
  if (s === undefined) return dflt;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s);
  if (!m) throw new UsageError(`invalid duration "${s}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}
