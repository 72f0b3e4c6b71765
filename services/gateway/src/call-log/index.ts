// Call-log emission: the hot path records into CallLogBatcher, which flushes batches to a LogSink
// (JetStreamLogSink in a cluster).
export { CallLogBatcher, type CallLogBatcherOptions, type CallLogBatcherStats } from './batcher.js';
export { JetStreamLogSink, batchId, type JetStreamLogSinkOptions } from './jetstream-sink.js';
