// The command-line contract of bin/controller-manager, bin/scheduler and bin/node-agent: --help, one-line
// errors with exit code 2 for bad flags or a missing cluster address.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { BIN, run } from '../support/index.js';

for (const bin of ['controller-manager', 'scheduler', 'node-agent']) {
  test(`${bin}: --help, bad flags and a missing --server/--kubeconfig`, async () => {
    const help = await run(join(BIN, bin), ['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, new RegExp(`^Usage: ${bin} \\[flags\\]`));
    assert.match(help.stdout, /--kubeconfig string/);
    assert.match(help.stdout, /--server string/);
    for (const [args, msg] of [
      [['--bogus'], /unknown flag: --bogus/],
      [['--server'], /flag needs an argument: --server/],
      [['--server', 'http://127.0.0.1:1', '--log-level', 'loud'], /invalid value "loud" for --log-level/],
      [[], /one of --kubeconfig FILE or --server URL is required/],
      [['--kubeconfig', '/nonexistent/kubeconfig'], /ENOENT|no such file/],
    ] as const) {
      const r = await run(join(BIN, bin), [...args]);
      assert.equal(r.code, 2, `${bin} ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    }
  });
}
