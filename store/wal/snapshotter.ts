// Snap files: one Raft snapshot each (metadata + the state machine's bytes + a CRC32C), written to a temp
// file, fsync'ed and renamed into place; loaded newest first, falling back past damaged ones.
import { mkdir, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Snapshot, SnapshotMetadata } from '../raft/index.js';
import { crc32c } from './crc32c.js';
import { ByteReader, DecodeError, encodeSnapshotMetadata, readSnapshotMetadata } from './encoding.js';
import { SnapshotError } from './errors.js';
import { fsyncDir, isErrno, writeAll } from './fsutil.js';
import type { WALLogger, WALSnapshot } from './wal.js';

/*
 * File layout (little-endian):
 *   0   8 bytes  magic "eklsnap\n"
 *   8   u32      format version (1)
 *   12  u32      metadata length M
 *   16  M bytes  SnapshotMetadata (index, term, voters, learners; see encoding.ts)
 *   16+M         the state machine's bytes (D of them)
 *   end-12 u64   D, so a file cut short is caught before its CRC is even computed
 *   end-4  u32   CRC32C of every byte before it
 * The data length is in the trailer so a snapshot can be streamed to disk without knowing its size first.
 */
const MAGIC = Buffer.from('eklsnap\n', 'latin1');
const VERSION = 1;
const HEADER_BYTES = 16;
const TRAILER_BYTES = 12;
const MAX_METADATA_BYTES = 16 * 1024 * 1024;
/** Write and read in chunks of this size so no second copy of a large state is ever built. */
const CHUNK_BYTES = 4 * 1024 * 1024;
const SNAP_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

export const DEFAULT_SNAPSHOTS_KEPT = 5;

export function snapName(term: number, index: number): string {
  return `${term.toString(16).padStart(16, '0')}-${index.toString(16).padStart(16, '0')}.snap`;
}

function parseSnapName(name: string): { term: number; index: number } | null {
  const m = SNAP_RE.exec(name);
  return m ? { term: Number.parseInt(m[1]!, 16), index: Number.parseInt(m[2]!, 16) } : null;
}

export class Snapshotter {
  private readonly logger: WALLogger | undefined;
  private dirReady = false;

  constructor(
    readonly dir: string,
    opts: { logger?: WALLogger } = {},
  ) {
    this.logger = opts.logger;
  }

  /** Saves a snapshot held in memory, writing its data in chunks straight from the caller's buffer. */
  save(snapshot: Snapshot): Promise<string> {
    return this.saveStream(snapshot.metadata, chunks(snapshot.data));
  }

  /**
   * Saves a snapshot whose data arrives as a sequence of chunks (e.g. straight from the state machine),
   * durably: temp file, fsync, rename, fsync of the directory. Returns the file's path.
   */
  async saveStream(
    metadata: SnapshotMetadata,
    source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  ): Promise<string> {
    if (!this.dirReady) {
      await mkdir(this.dir, { recursive: true });
      await fsyncDir(dirname(this.dir)); // so the directory itself survives a crash
      this.dirReady = true;
    }
    const meta = encodeSnapshotMetadata(metadata);
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header.writeUInt32LE(VERSION, 8);
    header.writeUInt32LE(meta.length, 12);
    const path = join(this.dir, snapName(metadata.term, metadata.index));
    const tmp = `${path}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      let pos = await writeAll(fh, [header, meta], 0);
      let crc = crc32c(crc32c(0, header), meta);
      let dataLen = 0;
      for await (const chunk of source) {
        pos += await writeAll(fh, [chunk], pos);
        crc = crc32c(crc, chunk);
        dataLen += chunk.length;
      }
      const trailer = Buffer.alloc(TRAILER_BYTES);
      trailer.writeUInt32LE(dataLen % 0x1_0000_0000, 0);
      trailer.writeUInt32LE(Math.floor(dataLen / 0x1_0000_0000), 4);
      crc = crc32c(crc, trailer, 0, 8);
      trailer.writeUInt32LE(crc, 8);
      await writeAll(fh, [trailer], pos);
      await fh.sync();
    } catch (err) {
      await fh.close();
      await unlink(tmp).catch(() => {});
      throw err;
    }
    await fh.close();
    await rename(tmp, path);
    await fsyncDir(this.dir);
    return path;
  }

  /** Loads and verifies one snap file (a name in the directory, or a path). */
  async load(file: string): Promise<Snapshot> {
    const path = file.includes('/') ? file : join(this.dir, file);
    const fh = await open(path, 'r');
    try {
      return await readSnapshot(fh, path);
    } finally {
      await fh.close();
    }
  }

  /**
   * The newest snapshot that has a marker in the WAL (`walSnapshots`, from WAL.validSnapshotMarkers) and
   * passes its CRC. A damaged snap file is renamed `<name>.broken` and the next older one tried. Null if
   * there is none (a member that never snapshotted replays its WAL from the start).
   */
  async loadNewestAvailable(walSnapshots: readonly WALSnapshot[]): Promise<Snapshot | null> {
    await this.removeTemp();
    for (const name of await this.snapNames()) {
      const p = parseSnapName(name)!;
      if (!walSnapshots.some((s) => s.index === p.index && s.term === p.term)) continue;
      try {
        return await this.load(name);
      } catch (err) {
        if (!(err instanceof SnapshotError)) throw err;
        const broken = join(this.dir, `${name}.broken`);
        await rename(join(this.dir, name), broken);
        this.logger?.warn('snap: damaged snapshot file set aside; trying an older one', {
          file: broken,
          error: err.message,
        });
      }
    }
    return null;
  }

  /** Snap file names, newest (highest term, then index) first. */
  async snapNames(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
    return names.filter((n) => SNAP_RE.test(n)).sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  }

  /** Deletes all but the newest `keep` snap files; returns the names deleted. */
  async purge(keep = DEFAULT_SNAPSHOTS_KEPT): Promise<string[]> {
    if (!(keep >= 1)) throw new RangeError('purge must keep at least one snapshot');
    const doomed = (await this.snapNames()).slice(keep);
    for (const name of doomed) await unlink(join(this.dir, name));
    if (doomed.length > 0) await fsyncDir(this.dir);
    return doomed;
  }

  private async removeTemp(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    for (const n of names) if (n.endsWith('.snap.tmp')) await unlink(join(this.dir, n));
  }
}

function* chunks(data: Uint8Array): Iterable<Uint8Array> {
  for (let off = 0; off < data.length; off += CHUNK_BYTES) {
    yield data.subarray(off, Math.min(off + CHUNK_BYTES, data.length));
  }
}

async function readExactly(
  fh: FileHandle,
  buf: Uint8Array,
  offset: number,
  length: number,
  position: number,
) {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, offset + done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at ${position + done}`);
    done += bytesRead;
  }
}

async function readSnapshot(fh: FileHandle, path: string): Promise<Snapshot> {
  const corrupt = (why: string) =>
    new SnapshotError('SNAP_CORRUPT', `snap: ${path} is damaged: ${why}`, path);
  const { size } = await fh.stat();
  if (size < HEADER_BYTES + TRAILER_BYTES) throw corrupt(`only ${size} bytes`);
  const header = Buffer.alloc(HEADER_BYTES);
  await readExactly(fh, header, 0, HEADER_BYTES, 0);
  if (!header.subarray(0, 8).equals(MAGIC)) throw corrupt('not a snap file (bad magic)');
  const version = header.readUInt32LE(8);
  if (version !== VERSION) throw corrupt(`unknown format version ${version}`);
  const metaLen = header.readUInt32LE(12);
  if (metaLen > MAX_METADATA_BYTES || HEADER_BYTES + metaLen + TRAILER_BYTES > size) {
    throw corrupt(`metadata length ${metaLen} does not fit a ${size}-byte file`);
  }
  const meta = Buffer.alloc(metaLen);
  await readExactly(fh, meta, 0, metaLen, HEADER_BYTES);
  const dataLen = size - HEADER_BYTES - metaLen - TRAILER_BYTES;
  const trailer = Buffer.alloc(TRAILER_BYTES);
  await readExactly(fh, trailer, 0, TRAILER_BYTES, size - TRAILER_BYTES);
  const storedLen = trailer.readUInt32LE(0) + trailer.readUInt32LE(4) * 0x1_0000_0000;
  if (storedLen !== dataLen) throw corrupt(`trailer says ${storedLen} data bytes, file holds ${dataLen}`);

  let crc = crc32c(crc32c(0, header), meta);
  const data = Buffer.allocUnsafe(dataLen);
  const dataStart = HEADER_BYTES + metaLen;
  for (let off = 0; off < dataLen; off += CHUNK_BYTES) {
    const n = Math.min(CHUNK_BYTES, dataLen - off);
    await readExactly(fh, data, off, n, dataStart + off);
    crc = crc32c(crc, data, off, off + n);
  }
  crc = crc32c(crc, trailer, 0, 8);
  const stored = trailer.readUInt32LE(8);
  if (crc !== stored) throw corrupt(`CRC mismatch (stored ${stored}, computed ${crc})`);

  let metadata: SnapshotMetadata;
  try {
    const r = new ByteReader(meta, 0, meta.length);
    metadata = readSnapshotMetadata(r);
    r.done();
  } catch (err) {
    if (err instanceof DecodeError) throw corrupt(`undecodable metadata: ${err.message}`);
    throw err;
  }
  const named = parseSnapName(path.slice(path.lastIndexOf('/') + 1));
  if (named && (named.term !== metadata.term || named.index !== metadata.index)) {
    throw corrupt(`holds snapshot ${metadata.term}/${metadata.index}, not what its name says`);
  }
  return { metadata, data };
}
