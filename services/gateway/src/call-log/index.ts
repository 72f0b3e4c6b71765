// Call-log emission: the hot path records into CallLogBatcher, which flushes batches to a LogSink
// (JetStreamLogSink in a cluster) and spools them to disk (CallSpool) while the sink is unreachable.
export { CallLogBatcher, type CallLogBatcherOptions, type CallLogBatcherStats } from './batcher.js';
export { JetStreamLogSink, batchId, type JetStreamLogSinkOptions } from './jetstream-sink.js';
export { CallSpool, DEFAULT_SPOOL_MAX_BYTES, type CallSpoolOptions, type CallSpoolStats, type SpooledBatch } from './spool.js';
