// Call-log emission: the hot path records into CallLogBatcher, which flushes batches to a LogSink
// (JetStreamLogSink in a cluster).
export { CallLogBatcher, type CallLogBatcherOptions, type CallLogBatcherStats } from './batcher.js';
export { JetStreamLogSink, batchId, type JetStreamLogSinkOptions } from './jetstream-sink.js';
export { ensureCallsStream, callsStreamConfig, CALLS_MAX_AGE_MS, CALLS_DUPLICATE_WINDOW_MS } from './calls-stream.js';
