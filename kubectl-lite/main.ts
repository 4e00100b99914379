// bin/kubectl-lite: a small kubectl (same verbs, flags and output layout) plus `store ...` commands that
// show the etcd keys, revisions and watch events beneath the API.
import { apply, createFromFiles } from './apply.js';
import { parseArgs, UsageError, bool, flags } from './args.js';
import { apiResources, clusterInfo, del, edit, logs, scale, version } from './commands.js';
import { cordon, drain } from './drain.js';
import { Ctx } from './context.js';
import { describe } from './describe.js';
import { CommandError } from './errors.js';
import { get } from './get.js';
import { rollout } from './rollout.js';
import { store } from './store.js';

const HELP = `kubectl-lite controls an etcd-k8s-lite cluster, with kubectl's verbs and flags.

Basic Commands:
  create -f FILE         Create objects from files, folders, URLs or stdin (-)
  get KIND [NAME]        Display objects (-o wide|yaml|json|name, -l, -n, -A, -w)
  edit KIND NAME         Edit an object in $EDITOR
  delete KIND NAME       Delete objects by name or -f (--cascade=background|foreground|orphan,
                         --grace-period=N, --force)

Deploy Commands:
  rollout status|history|undo deployment/NAME
  scale KIND NAME --replicas=N

Cluster Management Commands:
  cordon NODE, uncordon NODE   Mark a node unschedulable, or schedulable again
  drain NODE             Cordon, then evict its pods (--force, --ignore-daemonsets, --disable-eviction,
                         --grace-period=N, --timeout=DURATION)

Troubleshooting:
  describe KIND [NAME]   Show details and events
  logs POD               (there are no containers: pods are simulated)

Advanced Commands:
  apply -f FILE          Create or update (three-way merge; --server-side for server-side apply)

The store beneath (etcd v3 API, read-only except snapshot):
  store keys [PREFIX]             raw keys with create/mod revision and version
  store get KEY [--rev N] [-w]    a stored value, decoded; -w watches it
  store watch PREFIX [--rev N]    raw watch events (revision, PUT/DELETE, key)
  store status                    members, leader, term, raft index, revision, db size
  store leader                    the leader member's name
  store revision                  the store's current revision (replay from it: store watch --rev)
  store snapshot save FILE
  store snapshot restore FILE --data-dir DIR --name NAME --initial-cluster ... --initial-cluster-token ... --initial-advertise-peer-urls ... [--skip-hash-check]

Other Commands:
  api-resources, cluster-info, version

Flags: --kubeconfig FILE (or $KUBECONFIG, ~/.kube/config), --server URL, --context NAME, -n NAMESPACE,
       --etcd-servers URLS (store commands; default: the kubeconfig's etcd-k8s-lite.store extension)
`;

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const verb = args.positional.shift();
  if (!verb || verb === 'help' || (bool(args, 'help') && !verb)) {
    process.stdout.write(HELP);
    return verb ? 0 : 0;
  }
  if (bool(args, 'help')) {
    process.stdout.write(HELP);
    return 0;
  }
  const ctx = new Ctx(args);
  try {
    switch (verb) {
      case 'apply':
        return await apply(ctx);
      case 'create':
        if (flags(args, 'filename').length === 0)
          throw new UsageError('error: must specify one of -f and -k');
        return await createFromFiles(ctx);
      case 'get':
        return await get(ctx);
      case 'delete':
        return await del(ctx);
      case 'describe':
        return await describe(ctx);
      case 'scale':
        return await scale(ctx);
      case 'rollout':
        return await rollout(ctx);
      case 'cordon':
      case 'uncordon':
        return await cordon(ctx, verb === 'cordon');
      case 'drain':
        return await drain(ctx);
      case 'edit':
        return await edit(ctx);
      case 'logs':
        return logs(ctx);
      case 'api-resources':
        return await apiResources(ctx);
      case 'cluster-info':
        return await clusterInfo(ctx);
      case 'version':
        return await version(ctx);
      case 'store':
        return await store(ctx);
      default:
        throw new UsageError(
          `error: unknown command "${verb}" for "kubectl-lite"\nRun 'kubectl-lite --help' for usage.`,
        );
    }
  } finally {
    ctx.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof CommandError) {
      process.stderr.write(err.message + '\n');
      process.exit(err.exitCode);
    }
    if (err instanceof UsageError) {
      const m = err.message;
      process.stderr.write((m.startsWith('error:') ? m : `error: ${m}`) + '\n');
      process.exit(1);
    }
    process.stderr.write(`error: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
