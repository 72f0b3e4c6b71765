// LogSink that writes call-log batches straight into an AnalyticsStore: the in-process path of
// `turnpike up` (gateway batcher → chdb) where there is no NATS between node and store.
import type { AnalyticsStore, CallRecord, LogSink } from '@turnpike/common';

export class StoreLogSink implements LogSink {
  constructor(private readonly store: AnalyticsStore) {}

  // Rejects when the insert fails, so the batcher keeps the batch and retries; inserts are idempotent
  // on request_id, so a retry after an ambiguous failure does not double count.
  async write(batch: CallRecord[]): Promise<void> {
    await this.store.insert(batch);
  }

  // The store belongs to whoever opened it.
  async close(): Promise<void> {}
}
