// Teaching commands that show the store beneath the API: keys with their revisions, values at a revision,
// raw watch events, member status, and snapshots. Read-only apart from snapshot save and restore.
import { spawnSync } from 'node:child_process';
import { createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3, type IKeyValue } from 'etcd3';
import { bool, durationMs, flag, UsageError } from './args.js';
import type { Ctx } from './context.js';
import { CommandError } from './errors.js';
import { formatTable, toJson, toYaml } from './printer.js';

const ROOT = new URL('../../', import.meta.url).pathname;
/** Most keys `store keys` lists unless --limit says otherwise. */
const DEFAULT_KEY_LIMIT = 5000;

function endpoints(ctx: Ctx): string[] {
  let eps: string[];
  try {
    eps = ctx.target.etcdServers;
  } catch (err) {
    if (flag(ctx.args, 'etcd-servers')) eps = flag(ctx.args, 'etcd-servers')!.split(',');
    else throw err;
  }
  if (eps.length === 0)
    throw new UsageError(
      `error: no store endpoints: pass --etcd-servers URL[,URL...] or use the kubeconfig bin/cluster writes (extension etcd-k8s-lite.store)`,
    );
  return eps;
}

function connect(hosts: string | string[]): Etcd3 {
  return new Etcd3({
    hosts,
    dialTimeout: 3000,
    grpcOptions: { 'grpc.max_receive_message_length': 64 * 1024 * 1024 },
  });
}

function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function failure(err: unknown): CommandError {
  const msg = (err as Error).message ?? String(err);
  return new CommandError(`Error: ${msg}`);
}

/** A stored value for people: Kubernetes objects as YAML (or JSON with -o json), anything else quoted. */
function decodeValue(v: Buffer, output: string | undefined): string {
  const text = v.toString('utf8');
  try {
    const obj = JSON.parse(text);
    return output === 'json' ? toJson(obj) : toYaml(obj);
  } catch {
    return JSON.stringify(text) + '\n';
  }
}

export async function store(ctx: Ctx): Promise<number> {
  const [sub, ...rest] = ctx.args.positional;
  switch (sub) {
    case 'keys':
      return keys(ctx, rest[0] ?? '/registry/');
    case 'get':
      if (!rest[0]) throw new UsageError('error: store get needs a KEY');
      return get(ctx, rest[0]);
    case 'watch':
      return watch(ctx, rest[0] ?? '/registry/', true);
    case 'status':
      return status(ctx);
    case 'leader':
      return leader(ctx);
    case 'revision':
      return revision(ctx);
    case 'snapshot':
      if (rest[0] === 'save' && rest[1]) return snapshotSave(ctx, rest[1]);
      if (rest[0] === 'restore' && rest[1]) return snapshotRestore(ctx, rest[1]);
      throw new UsageError(
        'error: want `store snapshot save FILE` or `store snapshot restore FILE --data-dir DIR ...`',
      );
    default:
      throw new UsageError(
        'error: want one of: store keys [PREFIX], store get KEY [--rev N] [-w], store watch PREFIX, store status, store leader, store revision, store snapshot save|restore FILE',
      );
  }
}

async function keys(ctx: Ctx, prefix: string): Promise<number> {
  const c = connect(endpoints(ctx));
  try {
    const limit = Number(flag(ctx.args, 'limit') ?? DEFAULT_KEY_LIMIT);
    const key = Buffer.from(prefix);
    const res = await c.kv.range({
      key,
      range_end: prefixEnd(key),
      keys_only: true,
      limit,
      sort_order: 'Ascend',
      sort_target: 'Key',
    } as never);
    const kvs = (res.kvs ?? []) as IKeyValue[];
    if (flag(ctx.args, 'output') === 'json') {
      ctx.out(
        toJson({
          revision: res.header.revision,
          keys: kvs.map((kv) => ({
            key: kv.key.toString(),
            createRevision: Number(kv.create_revision),
            modRevision: Number(kv.mod_revision),
            version: Number(kv.version),
          })),
        }),
      );
      return 0;
    }
    if (kvs.length === 0) {
      ctx.err(`No keys found under ${prefix} (store revision ${res.header.revision}).\n`);
      return 0;
    }
    const rows = [['KEY', 'CREATE_REVISION', 'MOD_REVISION', 'VERSION']];
    for (const kv of kvs)
      rows.push([kv.key.toString(), String(kv.create_revision), String(kv.mod_revision), String(kv.version)]);
    ctx.out(formatTable(rows));
    const more = (res as { more?: boolean }).more ? ` (more than ${limit}; raise --limit)` : '';
    ctx.err(`${kvs.length} keys at store revision ${res.header.revision}${more}\n`);
    return 0;
  } catch (err) {
    throw failure(err);
  } finally {
    c.close();
  }
}

async function get(ctx: Ctx, key: string): Promise<number> {
  if (ctx.args.flags.has('watch')) return watch(ctx, key, false);
  const c = connect(endpoints(ctx));
  try {
    const rev = flag(ctx.args, 'rev');
    const b = c.get(key);
    if (rev) b.revision(rev);
    const res = await b.exec();
    const kv = res.kvs[0];
    if (!kv)
      throw new CommandError(
        `Error: key "${key}" not found${rev ? ` at revision ${rev}` : ''} (store revision ${res.header.revision})`,
      );
    ctx.err(
      `# ${key}  create_revision=${kv.create_revision} mod_revision=${kv.mod_revision} version=${kv.version}${kv.lease !== '0' ? ` lease=${kv.lease}` : ''}\n`,
    );
    ctx.out(decodeValue(kv.value, flag(ctx.args, 'output')));
    return 0;
  } catch (err) {
    if (err instanceof CommandError) throw err;
    throw failure(err);
  } finally {
    c.close();
  }
}

/** Raw events, one line each: what an informer's watch sees underneath the API server. */
async function watch(ctx: Ctx, keyOrPrefix: string, prefix: boolean): Promise<number> {
  const c = connect(endpoints(ctx));
  const timeoutMs = durationMs(flag(ctx.args, 'request-timeout'), 0);
  const rev = flag(ctx.args, 'rev');
  const showValues = !prefix;
  let widthRev = 8;
  try {
    const b = prefix ? c.watch().prefix(keyOrPrefix) : c.watch().key(keyOrPrefix);
    if (rev) b.startRevision(rev);
    const w = await b.create();
    ctx.out(`${'REVISION'.padEnd(widthRev + 3)}${'TYPE'.padEnd(9)}KEY\n`);
    w.on('data', (res) => {
      for (const ev of res.events) {
        const r = String(ev.kv.mod_revision);
        widthRev = Math.max(widthRev, r.length);
        ctx.out(`${r.padEnd(widthRev + 3)}${ev.type.toUpperCase().padEnd(9)}${ev.kv.key.toString()}\n`);
        if (showValues && ev.type === 'Put') ctx.out(decodeValue(ev.kv.value, flag(ctx.args, 'output')));
      }
    });
    await new Promise<void>((resolve, reject) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      w.on('error', (err) => reject(failure(err)));
      if (timeoutMs > 0) setTimeout(stop, timeoutMs).unref();
    });
    await w.cancel().catch(() => undefined);
    return 0;
  } finally {
    c.close();
  }
}

interface MemberStatus {
  endpoint: string;
  id: string;
  name: string;
  version: string;
  dbSize: number;
  leader: boolean;
  term: string;
  index: string;
  revision: string;
  error?: string;
}

async function memberStatuses(ctx: Ctx): Promise<MemberStatus[]> {
  const eps = endpoints(ctx);
  const names = new Map<string, string>();
  const all = connect(eps);
  try {
    const ml = await all.cluster.memberList({});
    for (const m of ml.members) names.set(BigInt(m.ID).toString(16), m.name);
  } catch {
    // names are a nicety: a member list failure still leaves each endpoint's own status
  } finally {
    all.close();
  }
  return Promise.all(
    eps.map(async (ep): Promise<MemberStatus> => {
      const c = connect(ep);
      try {
        const s = await Promise.race([
          c.maintenance.status(),
          new Promise<never>((_, rej) =>
            setTimeout(() => rej(new Error('timed out after 3s')), 3000).unref(),
          ),
        ]);
        const id = BigInt(s.header.member_id).toString(16);
        return {
          endpoint: ep,
          id,
          name: names.get(id) ?? '',
          version: s.version,
          dbSize: Number(s.dbSize),
          leader: s.leader === s.header.member_id,
          term: String(s.raftTerm),
          index: String(s.raftIndex),
          revision: String(s.header.revision),
        };
      } catch (err) {
        return {
          endpoint: ep,
          id: '',
          name: '',
          version: '',
          dbSize: 0,
          leader: false,
          term: '',
          index: '',
          revision: '',
          error: (err as Error).message,
        };
      } finally {
        c.close();
      }
    }),
  );
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} kB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

async function status(ctx: Ctx): Promise<number> {
  const st = await memberStatuses(ctx);
  if (flag(ctx.args, 'output') === 'json') {
    ctx.out(toJson(st));
    return st.some((s) => s.error) ? 1 : 0;
  }
  const rows = [
    ['ENDPOINT', 'NAME', 'ID', 'VERSION', 'DB SIZE', 'IS LEADER', 'RAFT TERM', 'RAFT INDEX', 'REVISION'],
  ];
  for (const s of st) {
    if (s.error) {
      const why = /ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|timed out/.exec(s.error)?.[0] ?? 'error';
      rows.push([s.endpoint, '', '', `unreachable (${why})`, '', '', '', '', '']);
    } else
      rows.push([
        s.endpoint,
        s.name,
        s.id,
        s.version,
        bytes(s.dbSize),
        String(s.leader),
        s.term,
        s.index,
        s.revision,
      ]);
  }
  ctx.out(formatTable(rows));
  return st.some((s) => s.error) ? 1 : 0;
}

/** The store's current revision: a point to replay `store watch --rev` from. */
async function revision(ctx: Ctx): Promise<number> {
  const c = connect(endpoints(ctx));
  try {
    const res = await c.kv.range({ key: Buffer.from('/'), limit: 1, keys_only: true } as never);
    ctx.out(`${res.header.revision}\n`);
    return 0;
  } catch (err) {
    throw failure(err);
  } finally {
    c.close();
  }
}

async function leader(ctx: Ctx): Promise<number> {
  const st = await memberStatuses(ctx);
  const l = st.find((s) => s.leader);
  if (!l) throw new CommandError('Error: no member reports itself leader (no quorum?)');
  ctx.out(`${l.name || l.id}\n`);
  return 0;
}

async function snapshotSave(ctx: Ctx, file: string): Promise<number> {
  const eps = endpoints(ctx);
  const c = connect(eps[0]!);
  const part = `${file}.part`;
  try {
    const stream = await c.maintenance.snapshot();
    const out = createWriteStream(part);
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (r: { blob: Buffer; remaining_bytes: string }) => {
        received += r.blob.length;
        out.write(r.blob);
      });
      stream.on('end', () => out.end(resolve));
      stream.on('error', reject);
      out.on('error', reject);
    });
    if (received === 0) throw new CommandError('Error: the store sent an empty snapshot');
    renameSync(part, file);
    ctx.err(`{"level":"info","msg":"fetched snapshot","endpoint":"${eps[0]}","size":"${bytes(received)}"}\n`);
    ctx.out(`Snapshot saved at ${file}\n`);
    return 0;
  } catch (err) {
    rmSync(part, { force: true });
    if (err instanceof CommandError) throw err;
    throw failure(err);
  } finally {
    c.close();
  }
}

/** Delegates to `bin/store snapshot restore` with etcdctl's flags. */
function snapshotRestore(ctx: Ctx, file: string): number {
  try {
    statSync(file);
  } catch {
    throw new CommandError(`Error: stat ${file}: no such file or directory`);
  }
  const args = ['snapshot', 'restore', file];
  for (const f of [
    'data-dir',
    'name',
    'initial-cluster',
    'initial-cluster-token',
    'initial-advertise-peer-urls',
  ]) {
    const v = flag(ctx.args, f);
    if (v !== undefined) args.push(`--${f}`, v);
  }
  if (bool(ctx.args, 'skip-hash-check')) args.push('--skip-hash-check');
  if (!flag(ctx.args, 'data-dir')) throw new UsageError('error: store snapshot restore needs --data-dir DIR');
  // Run by this node, not through bin/store's #! line (whose `env -S` not every system's env knows).
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'store'), ...args], { encoding: 'utf8' });
  if (r.stdout) ctx.out(r.stdout);
  if (r.stderr) ctx.err(r.stderr);
  return r.status ?? 1;
}
