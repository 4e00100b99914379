// bin/cluster end to end: start, health, cluster.json and kubeconfig, the control API (stop/kill stay
// down, a crash is restarted), Ctrl-C leaves no process, a second start resumes the state, --fresh
// starts empty, and a port in use is named with its component.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { BIN, freePorts, run, startProcess, tempDir, waitFor } from '../support/index.js';
import { pidAlive, readClusterFile, startTestCluster } from '../../cluster/testing.js';
import type { ComponentInfo } from '../../cluster/index.js';

async function components(control: string): Promise<ComponentInfo[]> {
  const r = await fetch(`${control}/components`);
  return ((await r.json()) as { components: ComponentInfo[] }).components;
}

test(
  'bin/cluster: health, control API, crash restart, clean stop, resume and --fresh',
  { timeout: 180_000 },
  async () => {
    const c = await startTestCluster();
    try {
      const f = c.file();
      assert.equal(f.ready, true);
      assert.deepEqual(
        f.components.map((x) => x.name),
        ['s1', 'apiserver', 'controller-manager', 'scheduler', 'node-agent'],
      );
      for (const x of f.components) {
        assert.equal(x.state, 'running');
        assert.ok(x.pid && pidAlive(x.pid), `${x.name} runs`);
        assert.ok(x.logFile.startsWith(join(c.dataDir, 'logs')));
      }
      assert.match(c.proc.output(), /etcd-k8s-lite is up/);
      assert.match(c.proc.output(), /^apiserver\s+\| .*INFO/m, 'logs are prefixed by component');

      // The kubeconfig works with real kubectl and names the store in its extension.
      const nodes = await c.kubectl(['get', 'nodes']);
      assert.equal(nodes.code, 0, nodes.stderr);
      assert.match(nodes.stdout, /node-0\s+Ready/);
      const info = await c.kubectlLite(['cluster-info']);
      assert.match(info.stdout, new RegExp(`store is running at ${f.storeMembers[0]!.clientURL}`));

      // State to find again after the restart.
      const made = await c.kubectlLite(['create', '-f', '-'], {
        input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep, namespace: default}\ndata: {a: b}\n',
      });
      assert.equal(made.code, 0, made.stderr);
      const uid = (await c.kubectlLite(['get', 'cm', 'keep', '-o', 'json'])).stdout;

      // stop: SIGTERM, stays down; start brings it back.
      const stop = await run(join(BIN, 'cluster'), ['ctl', '--data-dir', c.dataDir, 'stop', 'scheduler']);
      assert.equal(stop.code, 0, stop.stderr);
      assert.match(stop.stdout, /scheduler stopped/);
      assert.equal((await components(f.control)).find((x) => x.name === 'scheduler')!.state, 'stopped');
      const start = await run(join(BIN, 'cluster'), ['ctl', '--data-dir', c.dataDir, 'start', 'scheduler']);
      assert.match(start.stdout, /scheduler running/);

      // pause / resume: SIGSTOP / SIGCONT.
      const paused = await fetch(`${f.control}/components/node-agent/pause`, { method: 'POST' });
      assert.equal(((await paused.json()) as ComponentInfo).state, 'paused');
      const resumed = await fetch(`${f.control}/components/node-agent/resume`, { method: 'POST' });
      assert.equal(((await resumed.json()) as ComponentInfo).state, 'running');

      // A crash (SIGKILL from outside) is reported and restarted.
      const cm = (await components(f.control)).find((x) => x.name === 'controller-manager')!;
      process.kill(cm.pid!, 'SIGKILL');
      const again = await waitFor(
        'the controller-manager to be restarted',
        async () => {
          const x = (await components(f.control)).find((y) => y.name === 'controller-manager')!;
          return x.state === 'running' && x.pid !== cm.pid && x.restarts === 1 ? x : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      assert.ok(again.pid);
      assert.match(c.proc.output(), /controller-manager crashed \(signal SIGKILL\); restarting/);

      // kill via the API stays down (no restart).
      const killed = await fetch(`${f.control}/components/controller-manager/kill`, { method: 'POST' });
      assert.equal(((await killed.json()) as ComponentInfo).state, 'stopped');
      assert.equal(
        (await components(f.control)).find((x) => x.name === 'controller-manager')!.state,
        'stopped',
      );
      await fetch(`${f.control}/components/controller-manager/start`, { method: 'POST' });

      // Ctrl-C: every component exits, nothing is left behind.
      const pids = [...(await components(f.control)).map((x) => x.pid!), c.proc.pid];
      c.proc.child.kill('SIGINT');
      assert.equal(await c.proc.exited, 0);
      for (const pid of pids) assert.equal(pidAlive(pid), false, `pid ${pid} is gone`);
      assert.equal(readClusterFile(c.dataDir).supervisor.pid, null);

      // A second start resumes the same cluster: same ports, same objects.
      await c.restart();
      assert.equal(c.file().apiserver, f.apiserver);
      const back = await c.kubectlLite(['get', 'cm', 'keep', '-o', 'json']);
      assert.equal(back.code, 0, back.stderr);
      assert.equal(JSON.parse(back.stdout).metadata.uid, JSON.parse(uid).metadata.uid);
      await c.stop();

      // --fresh starts empty.
      await c.restart(['--fresh']);
      const gone = await c.kubectlLite(['get', 'cm', 'keep']);
      assert.equal(gone.code, 1);
      assert.match(gone.stderr, /Error from server \(NotFound\): configmaps "keep" not found/);
    } finally {
      await c.remove();
    }
  },
);

test('bin/cluster: a port in use is named with its component', async () => {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  const dir = tempDir('ekl-cluster-port-');
  try {
    const [client, peer, control, agent] = await freePorts(4);
    const p = startProcess(join(BIN, 'cluster'), [
      '--data-dir',
      dir.path,
      '--store-members',
      '1',
      '--no-dashboard',
      '--store-client-port',
      String(client),
      '--store-peer-port',
      String(peer),
      '--control-port',
      String(control),
      '--node-agent-port',
      String(agent),
      '--apiserver-port',
      String(port),
    ]);
    const code = await p.exited;
    assert.equal(code, 2);
    assert.match(p.output(), new RegExp(`port ${port} for apiserver is already in use.*--apiserver-port`));
  } finally {
    srv.close();
    dir.remove();
  }
});
