// The recorded history of a torture run: every client operation with its invoke and completion times
// (monotonic ms since the run started), its outcome (ok, failed for sure, unknown) and what the store said.
export type Outcome = 'ok' | 'fail' | 'unknown';

export type OpKind = 'put' | 'get' | 'range' | 'srange' | 'cas' | 'del' | 'grant' | 'revoke';

export interface KV {
  key: string;
  value: string;
  modRev: number;
  lease: string;
}

export interface HistoryOp {
  id: number;
  client: number;
  member: string;
  kind: OpKind;
  key?: string;
  value?: string;
  lease?: string;
  /** cas: the mod_revision compared against. */
  expect?: number;
  call: number;
  ret: number;
  outcome: Outcome;
  error?: string;
  /** The response header's revision. */
  rev?: number;
  /** get/range/srange: the key-values returned; cas: the else-branch read. */
  kvs?: KV[];
  /** cas: the compare succeeded. del: keys deleted. grant: lease id. */
  succeeded?: boolean;
  deleted?: number;
  granted?: string;
}

export interface WatchEvent {
  type: 'PUT' | 'DELETE';
  key: string;
  value: string;
  modRev: number;
  createRev: number;
  version: number;
  lease: string;
}

/** One response a watcher received: events (all of one response), or a progress notification. */
export interface WatchResponse {
  at: number;
  /** The stream (connection) it came on; a new stream after each resume. */
  stream: number;
  headerRev: number;
  events: WatchEvent[];
  progress: boolean;
  compactRevision?: number;
  canceled?: boolean;
}

export interface WatcherLog {
  id: number;
  member: string;
  /** The revision the first stream started at. */
  startRev: number;
  responses: WatchResponse[];
  resumes: { at: number; fromRev: number; reason: string }[];
}

export interface FaultRecord {
  kind: string;
  target?: string;
  start: number;
  end: number;
  skipped?: string;
  detail?: string;
}

export const monotonicStart = performance.now();
export function now(): number {
  return Math.round((performance.now() - monotonicStart) * 1000) / 1000;
}
