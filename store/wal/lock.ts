// The data-dir lock: a lock file holding the owner's pid, so a second process cannot open the same WAL.
// Node has no flock(), so liveness comes from the pid: a lock whose process is gone is stale and taken over.
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { DataDirLockedError } from './errors.js';
import { isErrno } from './fsutil.js';

export const LOCK_FILE = 'LOCK';

export interface DataDirLock {
  readonly dir: string;
  readonly path: string;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void;
}

/** Data dirs this process holds: a second lock from the same process is refused too. */
const held = new Set<string>();

/**
 * Locks `dir` (created if missing) for this process. Throws DataDirLockedError while another live
 * process (or this one) holds it. A lock file left by a dead process is taken over, with a warning.
 */
export function lockDataDir(dir: string, opts: { warn?: (msg: string) => void } = {}): DataDirLock {
  const abs = resolve(dir);
  mkdirSync(abs, { recursive: true });
  const path = join(abs, LOCK_FILE);
  if (held.has(abs)) throw new DataDirLockedError(abs, process.pid, path);

  for (let attempt = 0; attempt < 5; attempt++) {
    if (tryCreate(path)) {
      held.add(abs);
      let released = false;
      return {
        dir: abs,
        path,
        release() {
          if (released) return;
          released = true;
          held.delete(abs);
          if (readPid(path) === process.pid) unlinkSync(path);
        },
      };
    }
    const pid = readPid(path);
    if (pid === null) continue; // vanished or half-written by a racing process: look again
    if (pid !== process.pid && isAlive(pid)) throw new DataDirLockedError(abs, pid, path);
    // Stale: its process is gone (or it is our own pid, reused after a restart, and we do not hold it).
    // Move it aside atomically, then make sure what we moved is the stale lock and not a racer's fresh one.
    const aside = `${path}.stale-${process.pid}`;
    try {
      renameSync(path, aside);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) continue;
      throw err;
    }
    const movedPid = readPid(aside);
    if (movedPid !== pid) {
      try {
        linkSync(aside, path); // put the racer's lock back
      } catch {
        // the racer's lock is lost only if a third process took the dir in between; it then holds it
      }
      unlinkSync(aside);
      continue;
    }
    unlinkSync(aside);
    opts.warn?.(`took over stale lock ${path} of process ${pid}, which is not running`);
  }
  throw new Error(`could not lock data dir ${abs}: lock file ${path} keeps changing`);
}

/** Creates the lock file with our pid, exclusively; false if it exists. */
function tryCreate(path: string): boolean {
  // Written to a private file first and linked into place, so the lock file never exists without a pid.
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, `${process.pid}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

function readPid(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
  const pid = Number.parseInt(text.trim(), 10);
  // tryCreate never exposes a lock file without a pid, so unparsable content names no live owner:
  // -1 makes it stale.
  return Number.isSafeInteger(pid) && pid > 0 ? pid : -1;
}

function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return isErrno(err, 'EPERM');
  }
}
