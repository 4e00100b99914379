// `etcdctl check perf --load=s` against bin/store: the 60-second write workload runs to the end, reports its
// three verdicts in etcd's words, and leaves no keys behind. Whether each verdict is PASS depends on how busy
// the machine is (the CI machine has 2 cores shared with other tests), so the test asserts the run, not speed;
// throughput is measured by `npm run bench -- store`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasCommand } from '../support/index.js';
import { startStore } from '../../store/server/testing.js';

const skip = !hasCommand('etcdctl') && 'etcdctl is not installed';

test('etcdctl check perf --load=s runs to the end and cleans up', { skip, timeout: 180_000 }, async (t) => {
  const s = await startStore();
  t.after(() => s.destroy());
  const r = await s.etcdctl(['check', 'perf', '--load=s'], { timeoutMs: 150_000 });
  const out = r.stdout + r.stderr;
  // etcd's wording: "PASS: Throughput is 150 writes/s" or "FAIL: Throughput too low: 120 writes/s", etc.
  const tail = out.slice(-400);
  assert.match(tail, /(PASS: Throughput is|FAIL: Throughput too low:) \d+ writes\/s/, tail);
  assert.match(tail, /(PASS: Slowest request took|FAIL: Slowest request took too long:) [\d.]+s/, tail);
  assert.match(tail, /(PASS: Stddev is|FAIL: Stddev too high:) [\d.]+s/, tail);
  // Exit status follows the overall verdict (a line of its own), as with etcd. The progress bar may redraw
  // once more after it, so it need not be the last line.
  const verdict = /^(PASS|FAIL)\s*$/m.exec(out)?.[1];
  assert.ok(verdict, `no overall verdict in ${out.slice(-300)}`);
  assert.equal(
    r.code === 0,
    verdict === 'PASS',
    `exit ${r.code} with verdict ${verdict}: ${out.slice(-200)}`,
  );
  const writes = Number(/Throughput (?:is|too low:) (\d+) writes/.exec(tail)![1]);
  assert.ok(writes > 0);
  // check perf deletes its key prefix when done.
  const left = await s.etcdctl(['get', '--prefix', '/etcdctl-check-perf/', '-w', 'json']);
  assert.equal(left.code, 0, left.stderr);
  assert.equal(JSON.parse(left.stdout).count ?? 0, 0);
  // ...and the store took every one of its writes: the revision grew by at least that many.
  const rev = JSON.parse(left.stdout).header.revision as number;
  assert.ok(rev >= writes * 50, `revision ${rev} after ${writes} writes/s for 60 s`);
});
