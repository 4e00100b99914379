// Runs the README tutorial (between the tutorial markers) exactly as written: every ```sh block in order
// against a cluster started by bin/cluster in a temp dir with auto ports, checking each block's output
// against the ```text block after it, so the README cannot drift from what the code does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT, run, startProcess, tempDir, waitFor, type Proc } from '../support/index.js';

/** Store members for the tutorial's cluster; blocks marked members=3 run only with 3. */
const MEMBERS = Number(process.env.EKL_TUTORIAL_MEMBERS ?? 3);
const CLUSTER_FLAGS = ['--ports', 'auto', '--store-members', String(MEMBERS), '--no-dashboard'];

interface Block {
  info: string;
  code: string;
  expect?: string;
}

export function tutorialBlocks(readme: string): Block[] {
  const start = readme.indexOf('<!-- tutorial:start -->');
  const end = readme.indexOf('<!-- tutorial:end -->');
  assert.ok(start >= 0 && end > start, 'README.md has the tutorial markers');
  const body = readme.slice(start, end);
  const fences = [...body.matchAll(/^```([^\n]*)\n([\s\S]*?)^```$/gm)];
  const blocks: Block[] = [];
  for (const f of fences) {
    const info = f[1]!.trim();
    if (info.startsWith('text')) {
      const last = blocks[blocks.length - 1];
      assert.ok(last && last.expect === undefined, 'a text block follows a sh block');
      last.expect = f[2]!;
    } else if (info.startsWith('sh')) blocks.push({ info, code: f[2]! });
  }
  return blocks;
}

/** Each expected line (`...` = anything, spaces = any run of spaces) must match some output line. */
export function checkExpected(output: string, expected: string): string[] {
  const lines = output.split('\n');
  const missing: string[] = [];
  for (const want of expected.split('\n').filter((l) => l.trim() !== '')) {
    const pattern = want
      .trim()
      .split('...')
      .map((part) =>
        part
          .trim()
          .split(/\s+/)
          .filter(Boolean)
          .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
          .join('\\s+'),
      )
      .join('.*');
    const re = new RegExp(pattern);
    if (!lines.some((l) => re.test(l))) missing.push(want);
  }
  return missing;
}

async function waitReady(dataDir: string, proc: Proc): Promise<void> {
  await waitFor(
    'the cluster to be ready',
    () => {
      if (proc.child.exitCode !== null) throw new Error(`bin/cluster exited:\n${proc.output().slice(-3000)}`);
      const f = join(dataDir, 'cluster.json');
      if (!existsSync(f)) return false;
      const c = JSON.parse(readFileSync(f, 'utf8'));
      return c.ready === true && c.supervisor.pid !== null;
    },
    { timeoutMs: 90_000, intervalMs: 200 },
  );
}

test('the README tutorial runs as written', { timeout: 240_000 }, async () => {
  const blocks = tutorialBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  assert.ok(blocks.length >= 6, 'the tutorial has its steps');
  const dir = tempDir('ekl-tutorial-');
  const env = {
    DATA: dir.path,
    KUBECONFIG: join(dir.path, 'kubeconfig'),
    PATH: `${BIN}:${process.env.PATH}`,
  };
  const procs: Proc[] = [startProcess(join(BIN, 'cluster'), ['--data-dir', dir.path, ...CLUSTER_FLAGS])];
  try {
    await waitReady(dir.path, procs[0]!);
    for (const b of blocks) {
      if (b.info.includes('no-test')) continue;
      if (b.info.includes('members=3') && MEMBERS < 3) {
        console.log(`# skipped (needs 3 store members; EKL_TUTORIAL_MEMBERS=${MEMBERS}):\n${b.code}`);
        continue;
      }
      if (b.info.includes('background')) {
        const p = startProcess('bash', ['-c', `exec ${b.code.trim()} ${CLUSTER_FLAGS.join(' ')}`], { env });
        procs.push(p);
        await waitReady(dir.path, p);
        continue;
      }
      const r = await run('bash', ['-e', '-o', 'pipefail', '-c', b.code], { env, timeoutMs: 120_000 });
      const context = `block:\n${b.code}\nexit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
      assert.equal(r.code, 0, context);
      if (b.expect)
        assert.deepEqual(checkExpected(r.stdout, b.expect), [], `expected lines missing; ${context}`);
    }
  } catch (err) {
    const logs = procs.map((p) => p.output().slice(-4000)).join('\n---\n');
    throw new Error(`${(err as Error).message}\n--- cluster output:\n${logs}`, { cause: err });
  } finally {
    for (const p of procs.reverse()) await p.kill('SIGTERM');
    dir.remove();
  }
});
