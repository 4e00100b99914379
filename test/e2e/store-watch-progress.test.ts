// Progress notifications: the interval of the periodic ones (etcd's flag), and they never go below a watch's start revision - 1: a watch that starts ahead of the
// member's revision (a client resuming on a member that is behind) gets its requested progress notification
// only once the member has reached that revision (the torture seed 42 observation; etcd#20221).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { BIN, run, waitFor } from '../support/index.js';
import { startStore } from '../../store/server/testing.js';
import { etcdClient } from '../torture/client.js';

test(
  'a watch starting ahead of the store gets no progress notification below its start',
  { timeout: 60_000 },
  async () => {
    const s = await startStore();
    const c = etcdClient(s.endpoint);
    const put = (k: string) => c.call('kv', 'Put', { key: Buffer.from(k), value: Buffer.from('v') }, 5000);
    try {
      const rev = Number((await put('other/0')).header.revision);
      const start = rev + 5;
      const got: { watchId: number; revision: number; created: boolean; events: number }[] = [];
      const stream = c.watch();
      stream.on('data', (r: any) =>
        got.push({
          watchId: Number(r.watchId),
          revision: Number(r.header.revision),
          created: !!r.created,
          events: r.events?.length ?? 0,
        }),
      );
      stream.on('error', () => undefined);
      stream.write({
        createRequest: { key: Buffer.from('w/'), rangeEnd: Buffer.from('w0'), startRevision: String(start) },
      });
      await waitFor('the watch to be created', () => got.some((r) => r.created));

      // Requested while the store is at `rev` < start - 1: no answer yet. A second create on the same stream
      // is answered after anything the progress request produced (one ordered stream), so its answer proves
      // none was sent.
      stream.write({ progressRequest: {} });
      stream.write({ createRequest: { key: Buffer.from('x') } });
      await waitFor('the second watch to be created', () => got.filter((r) => r.created).length === 2);
      const progress = () => got.filter((r) => !r.created && r.events === 0);
      assert.deepEqual(progress(), [], 'a progress notification below the start revision');
      for (let i = 1; i <= 3; i++) await put(`other/${i}`);
      assert.deepEqual(progress(), [], `still below ${start - 1}`);

      // The store reaches start - 1: the owed notification comes, at that revision or later.
      await put('other/4');
      await waitFor('the requested progress notification', () => progress().length === 1);
      assert.ok(progress()[0]!.revision >= start - 1, JSON.stringify(progress()));
      // An event at the start revision still arrives after it.
      await put('w/a');
      await waitFor('the event', () => got.some((r) => r.events === 1));
      assert.equal(got.find((r) => r.events === 1)!.revision, start);
      stream.end();
    } finally {
      c.close();
      await s.destroy();
    }
  },
);

test(
  '--experimental-watch-progress-notify-interval: an idle watch with progress_notify gets progress responses',
  { timeout: 60_000 },
  async () => {
    const s = await startStore({ extraArgs: ['--experimental-watch-progress-notify-interval', '200ms'] });
    const c = etcdClient(s.endpoint);
    try {
      const rev = Number(
        (await c.call('kv', 'Put', { key: Buffer.from('p'), value: Buffer.from('v') }, 5000)).header.revision,
      );
      const got: { created: boolean; revision: number; events: number; watchId: number }[] = [];
      const stream = c.watch();
      stream.on('data', (r: any) =>
        got.push({
          created: !!r.created,
          revision: Number(r.header.revision),
          events: r.events?.length ?? 0,
          watchId: Number(r.watchId),
        }),
      );
      stream.on('error', () => undefined);
      stream.write({ createRequest: { key: Buffer.from('q'), progressNotify: true } });
      stream.write({ createRequest: { key: Buffer.from('r') } }); // did not ask: never notified
      const progress = () => got.filter((r) => !r.created && r.events === 0);
      await waitFor('two progress responses', () => progress().length >= 2, { timeoutMs: 10_000 });
      assert.ok(
        progress().every((r) => r.watchId === 0 && r.revision === rev),
        JSON.stringify(progress()),
      );
      stream.end();
    } finally {
      c.close();
      await s.destroy();
    }
  },
);

test('a bad --experimental-watch-progress-notify-interval is refused with one line', async () => {
  const r = await run(process.execPath, [
    join(BIN, 'store'),
    '--experimental-watch-progress-notify-interval',
    'often',
  ]);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    /^error: .*--experimental-watch-progress-notify-interval must be a positive duration/,
  );
});
