// `npm run bench -- wal`: WAL appends and fsyncs per second (see store/wal/bench.ts).
export { run } from '../store/wal/bench.js';
