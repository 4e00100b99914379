// Kubernetes-style command-line flags for the control-plane processes: --name=value or --name value,
// booleans as --name / --name=false, durations as 10s/500ms/5m, repeatable string lists; --help prints
// usage; an unknown or malformed flag is a one-line error and exit code 2.
import { parseGoDuration } from '../../common/index.js';

export type FlagType = 'string' | 'int' | 'bool' | 'duration' | 'list';

export interface FlagSpec {
  type: FlagType;
  default?: string | number | boolean | string[];
  help: string;
}

export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

export class FlagError extends Error {
  override readonly name = 'FlagError';
}

/** "10s", "500ms", "1m30s", "2h" (Go's time.ParseDuration subset) -> milliseconds. */
export function parseDuration(s: string): number {
  const ms = parseGoDuration(s);
  if (ms === undefined) throw new FlagError(`invalid duration "${s}" (want e.g. 500ms, 10s, 5m)`);
  return ms;
}

export function parseFlags(argv: string[], specs: Record<string, FlagSpec>): FlagValues | 'help' {
  const out: FlagValues = {};
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.default === undefined) continue;
    out[name] =
      spec.type === 'duration' && typeof spec.default === 'string'
        ? parseDuration(spec.default)
        : spec.default;
  }
  const lists = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return 'help';
    if (!arg.startsWith('--')) throw new FlagError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = specs[name];
    if (!spec) throw new FlagError(`unknown flag: --${name}`);
    let raw: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
    if (spec.type === 'bool') {
      if (raw === undefined) out[name] = true;
      else if (raw === 'true' || raw === 'false') out[name] = raw === 'true';
      else throw new FlagError(`invalid value "${raw}" for --${name}: want true or false`);
      continue;
    }
    if (raw === undefined) {
      raw = argv[++i];
      if (raw === undefined) throw new FlagError(`flag needs an argument: --${name}`);
    }
    switch (spec.type) {
      case 'string':
        out[name] = raw;
        break;
      case 'int': {
        if (!/^-?\d+$/.test(raw))
          throw new FlagError(`invalid value "${raw}" for --${name}: want an integer`);
        out[name] = Number(raw);
        break;
      }
      case 'duration':
        try {
          out[name] = parseDuration(raw);
        } catch (err) {
          throw new FlagError(`--${name}: ${(err as Error).message}`);
        }
        break;
      case 'list': {
        // The first use replaces the default; later uses append. Comma-separated values are split.
        const prev = lists.has(name) ? (out[name] as string[]) : [];
        lists.add(name);
        out[name] = [...prev, ...raw.split(',').filter((x) => x !== '')];
        break;
      }
    }
  }
  return out;
}

export function usage(command: string, summary: string, specs: Record<string, FlagSpec>): string {
  const lines = [`Usage: ${command} [flags]`, '', summary, '', 'Flags:'];
  for (const [name, s] of Object.entries(specs)) {
    const arg = s.type === 'bool' ? '' : ` ${s.type}`;
    const dflt =
      s.default === undefined || (Array.isArray(s.default) && s.default.length === 0)
        ? ''
        : ` (default ${Array.isArray(s.default) ? s.default.join(',') : String(s.default)})`;
    lines.push(`  --${name}${arg}`.padEnd(44) + `${s.help}${dflt}`);
  }
  return lines.join('\n');
}

/** Flags every process shares: how to find the cluster, and logging. */
export const connectionFlags: Record<string, FlagSpec> = {
  kubeconfig: { type: 'string', help: 'Path to a kubeconfig file (current-context -> cluster server)' },
  server: {
    type: 'string',
    help: 'The API server URL, e.g. http://127.0.0.1:8080 (instead of --kubeconfig)',
  },
  'log-level': { type: 'string', default: 'info', help: 'debug, info, warn or error' },
};

/** Parses argv or exits: 0 after --help, 2 with a one-line error for bad flags. */
export function parseOrExit(
  command: string,
  summary: string,
  specs: Record<string, FlagSpec>,
  argv = process.argv.slice(2),
): FlagValues {
  let res: FlagValues | 'help';
  try {
    res = parseFlags(argv, specs);
    const level = res === 'help' ? undefined : res['log-level'];
    if (level !== undefined && !['debug', 'info', 'warn', 'error'].includes(level as string)) {
      throw new FlagError(
        `invalid value "${String(level)}" for --log-level: want debug, info, warn or error`,
      );
    }
  } catch (err) {
    process.stderr.write(`${command}: ${(err as Error).message} (see --help)\n`);
    process.exit(2);
  }
  if (res === 'help') {
    process.stdout.write(usage(command, summary, specs) + '\n');
    process.exit(0);
  }
  return res;
}
