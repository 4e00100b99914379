// `bin/cluster ctl`: a command-line client of a running supervisor's control API (found via cluster.json).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ClusterFile } from './files.js';
import type { ComponentInfo } from './supervisor.js';

const USAGE = `Usage: cluster ctl [--data-dir DIR | --control URL] COMMAND

Commands:
  components                         list components (name, kind, state, pid, urls)
  start|stop|kill|pause|resume NAME  act on one component (stop: SIGTERM, kill: SIGKILL; both stay down;
                                     pause: SIGSTOP, resume: SIGCONT)
  nodes                              simulated nodes and whether they heartbeat
  stop-heartbeat|start-heartbeat NODE
  shutdown                           stop the whole cluster (as Ctrl-C does) and wait until it is down
`;

export async function runCtl(argv: string[]): Promise<number> {
  const { values: f, positionals: pos } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string', default: './data' },
      control: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
  });
  if (f.help || pos.length === 0) {
    process.stdout.write(USAGE);
    return f.help ? 0 : 2;
  }
  let control = f.control;
  if (!control) {
    const file = join(resolve(f['data-dir']!), 'cluster.json');
    if (!existsSync(file)) {
      process.stderr.write(`error: ${file} not found: is a cluster running from ${f['data-dir']}?\n`);
      return 1;
    }
    control = (JSON.parse(readFileSync(file, 'utf8')) as ClusterFile).control;
  }
  const call = async (method: string, path: string): Promise<unknown> => {
    let r: Response;
    try {
      r = await fetch(control + path, { method });
    } catch (err) {
      throw new Error(`cannot reach the cluster control API at ${control}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const body = (await r.json()) as { error?: string };
    if (!r.ok) throw new Error(body.error ?? `HTTP ${r.status}`);
    return body;
  };
  const [cmd, arg] = pos;
  try {
    switch (cmd) {
      case 'components': {
        const { components } = (await call('GET', '/components')) as { components: ComponentInfo[] };
        const rows = [['NAME', 'KIND', 'STATE', 'PID', 'RESTARTS', 'URLS']];
        for (const c of components)
          rows.push([
            c.name,
            c.kind,
            c.state,
            String(c.pid ?? '-'),
            String(c.restarts),
            c.urls.join(',') || '-',
          ]);
        process.stdout.write(table(rows));
        return 0;
      }
      case 'start':
      case 'stop':
      case 'kill':
      case 'pause':
      case 'resume': {
        if (!arg) throw new Error(`${cmd} needs a component name`);
        const c = (await call('POST', `/components/${encodeURIComponent(arg)}/${cmd}`)) as ComponentInfo;
        process.stdout.write(`${c.name} ${c.state}${c.pid ? ` (pid ${c.pid})` : ''}\n`);
        return 0;
      }
      case 'nodes': {
        const nodes = (await call('GET', '/nodes')) as { name: string; heartbeating: boolean }[];
        const rows = [['NODE', 'HEARTBEATING']];
        for (const n of nodes) rows.push([n.name, String(n.heartbeating)]);
        process.stdout.write(table(rows));
        return 0;
      }
      case 'stop-heartbeat':
      case 'start-heartbeat': {
        if (!arg) throw new Error(`${cmd} needs a node name`);
        const n = (await call('POST', `/nodes/${encodeURIComponent(arg)}/${cmd}`)) as {
          name: string;
          heartbeating: boolean;
        };
        process.stdout.write(`${n.name} ${n.heartbeating ? 'heartbeating' : 'not heartbeating'}\n`);
        return 0;
      }
      case 'shutdown': {
        const { pid } = (await call('POST', '/shutdown')) as { pid: number };
        const deadline = Date.now() + 60_000;
        while (Date.now() < deadline) {
          try {
            process.kill(pid, 0);
          } catch {
            process.stdout.write('cluster stopped\n');
            return 0;
          }
          await new Promise((r) => setTimeout(r, 200));
        }
        throw new Error(`the supervisor (pid ${pid}) is still running after 60s`);
      }
      default:
        process.stderr.write(`error: unknown command "${cmd}"\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    return 1;
  }
}

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]! + 3)))
          .join('')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
