#!/usr/bin/env node
// Runs every compiled test file (dist/**/*.test.js) with node's built-in test runner, in one run so that
// its summary covers the whole suite. Optional arguments filter test files by substring,
// e.g. `node scripts/run-tests.mjs store/raft`.
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');
if (!existsSync(dist)) {
  console.error('dist/ is missing: run `npm run build` first (npm test does it for you).');
  process.exit(1);
}

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = walk(dist, [])
  .filter((f) => filters.length === 0 || filters.some((s) => relative(dist, f).includes(s)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const res = spawnSync(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=600000', ...files],
  { stdio: 'inherit', cwd: root },
);
process.exit(res.status ?? 1);
