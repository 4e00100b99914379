// Loaded into each torture member with `node --import`: resolves the peers' host names (the same URLs in
// every member's --initial-cluster, so member ids agree) to loopback addresses private to this member,
// where the proxy of the directed link this member -> that peer listens. That is how one member's
// traffic to a peer can be cut while another's passes.
import dns from 'node:dns';

const hosts: Record<string, string> = JSON.parse(process.env.TORTURE_PEER_HOSTS ?? '{}');
const original = dns.lookup;

type Callback = (err: NodeJS.ErrnoException | null, address: unknown, family?: number) => void;

function lookup(this: unknown, hostname: string, options: unknown, callback?: Callback): void {
  const cb = (typeof options === 'function' ? options : callback) as Callback;
  const opts = (typeof options === 'object' && options ? options : {}) as { all?: boolean };
  const address = hosts[hostname];
  if (address === undefined) {
    (original as (...a: unknown[]) => void).call(this, hostname, options, callback);
    return;
  }
  process.nextTick(() => (opts.all ? cb(null, [{ address, family: 4 }]) : cb(null, address, 4)));
}

(dns as { lookup: unknown }).lookup = lookup;
