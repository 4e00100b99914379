// Runs the scenario scripts in testdata/*.txt and diffs each command's output; REWRITE=1 regenerates them.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runScript } from './rafttest/interaction_env.js';

/** The scripts live in the source tree, whether this runs from dist/ or through tsx. */
function testdataDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return join(dir, 'store', 'raft', 'testdata');
}

const dir = testdataDir();
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .sort();

test('there are scenario scripts', () => {
  assert.ok(files.length >= 7, `found ${files.length} scripts in ${dir}`);
});

for (const f of files) {
  test(`scenario ${f}`, () => {
    const path = join(dir, f);
    const text = readFileSync(path, 'utf8');
    const { rewritten, mismatches } = runScript(text);
    if (process.env['REWRITE'] === '1') {
      if (rewritten !== text) writeFileSync(path, rewritten);
      return;
    }
    for (const m of mismatches) {
      assert.equal(m.got, m.want, `${f}:${m.line}: output of "${m.cmd}" differs (REWRITE=1 to regenerate)`);
    }
  });
}
