// The simulator CLI: --jobs splits the seeds across worker processes and must add up to the one-process run.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// Under tsx this test runs from its .ts source: run main.ts the same way (execArgv carries the loader).
const main = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? './main.ts' : './main.js', import.meta.url),
);

async function sim(args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [...process.execArgv, main, ...args], {
      timeout: 120_000,
    });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '' };
  }
}

function exercised(stdout: string): string {
  const i = stdout.indexOf('exercised:');
  assert.ok(i >= 0, `no totals in:\n${stdout}`);
  return stdout.slice(i);
}

test('--jobs 2 runs every seed once: the totals equal those of one process', async () => {
  // More seeds than one chunk (50), so that both workers get some.
  const args = ['--seeds', '120', '--seed', '7', '--steps', '800', '--nodes', '3'];
  const [one, two] = await Promise.all([sim([...args, '--jobs', '1']), sim([...args, '--jobs', '2'])]);
  assert.equal(one.code, 0, one.stdout);
  assert.equal(two.code, 0, two.stdout);
  assert.match(two.stdout, /seeds 7\.\.126, 3 nodes, 800 steps each, 2 jobs: all passed/);
  assert.equal(exercised(two.stdout), exercised(one.stdout));
  assert.match(one.stdout, /proposalsCommitted\s+[1-9]/);
});

test('bad arguments exit 2 with the usage', async () => {
  const res = await sim(['--jobs', '0']);
  assert.equal(res.code, 2);
});
