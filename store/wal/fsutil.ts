// Small file-system helpers shared by the WAL, the snapshotter and the lock: directory fsync, full writes.
import { writevSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** Makes a rename or create in `dir` durable: without it a crash can forget the new directory entry. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes every byte of `bufs` at `position`, looping over short writes. Returns the bytes written. */
export async function writeAll(fh: FileHandle, bufs: Uint8Array[], position: number): Promise<number> {
  let total = 0;
  for (const b of bufs) total += b.length;
  let done = 0;
  let rest = bufs;
  while (done < total) {
    const { bytesWritten } = await fh.writev(rest, position + done);
    if (bytesWritten <= 0) throw new Error(`write made no progress at offset ${position + done}`);
    done += bytesWritten;
    if (done < total) rest = dropPrefix(rest, bytesWritten);
  }
  return total;
}

/**
 * writeAll on the calling thread: for small appends into the page cache, where handing the write to the
 * thread pool costs more (a thread wake-up and a second event-loop turn) than the copy itself.
 */
export function writeAllSync(fd: number, bufs: Uint8Array[], position: number): number {
  let total = 0;
  for (const b of bufs) total += b.length;
  let done = 0;
  let rest = bufs;
  while (done < total) {
    const n = writevSync(fd, rest, position + done);
    if (n <= 0) throw new Error(`write made no progress at offset ${position + done}`);
    done += n;
    if (done < total) rest = dropPrefix(rest, n);
  }
  return total;
}

function dropPrefix(bufs: Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of bufs) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}
