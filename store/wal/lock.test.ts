// Tests for the data-dir lock: a second holder is refused (in this process or another), a dead owner's
// lock is taken over, release removes it.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startProcess, tempDir, waitFor } from '../../test/support/index.js';
import { DataDirLockedError, LOCK_FILE, lockDataDir } from './index.js';

test('a second lock on the same data dir is refused until the first is released', (t) => {
  const tmp = tempDir('lock-');
  t.after(tmp.remove);
  const lock = lockDataDir(tmp.path);
  assert.equal(readFileSync(join(tmp.path, LOCK_FILE), 'utf8'), `${process.pid}\n`);
  assert.throws(
    () => lockDataDir(tmp.path),
    (err: unknown) =>
      err instanceof DataDirLockedError && err.code === 'DATA_DIR_LOCKED' && err.pid === process.pid,
  );
  lock.release();
  lock.release();
  assert.equal(existsSync(join(tmp.path, LOCK_FILE)), false);
  lockDataDir(tmp.path).release();
});

test('a lock held by another live process is refused with its pid; once it dies the lock is stale', async (t) => {
  const tmp = tempDir('lock-');
  t.after(tmp.remove);
  // The other process holds the lock the way a store node would: a LOCK file with its pid.
  const holder = startProcess(process.execPath, [
    '-e',
    `require('fs').writeFileSync(${JSON.stringify(join(tmp.path, LOCK_FILE))}, process.pid + '\\n'); ` +
      `console.log('locked'); setInterval(() => {}, 1000);`,
  ]);
  t.after(() => holder.kill('SIGKILL'));
  await waitFor('the holder to take the lock', () => holder.output().includes('locked'), {
    timeoutMs: 30_000,
  });
  assert.throws(
    () => lockDataDir(tmp.path),
    (err: unknown) => {
      assert.ok(err instanceof DataDirLockedError);
      assert.equal(err.pid, holder.pid);
      assert.match(err.message, new RegExp(`in use by process ${holder.pid}`));
      return true;
    },
  );
  await holder.kill('SIGKILL');
  const warnings: string[] = [];
  const lock = lockDataDir(tmp.path, { warn: (m) => warnings.push(m) });
  assert.equal(readFileSync(join(tmp.path, LOCK_FILE), 'utf8'), `${process.pid}\n`);
  assert.match(warnings.join('\n'), /stale lock/);
  lock.release();
});

test('a lock file with garbage or our own pid (reused after a restart) is stale', (t) => {
  const tmp = tempDir('lock-');
  t.after(tmp.remove);
  for (const content of ['garbage', `${process.pid}\n`]) {
    writeFileSync(join(tmp.path, LOCK_FILE), content);
    const lock = lockDataDir(tmp.path);
    lock.release();
  }
});
