// `turnpike up`'s call-log sink: each batch goes to the analytics store and to the quota aggregation, in
// place of the calls stream that feeds both in a cluster. A batch is done only once both took it: a failure
// of either makes the node's batcher retry the same batch, which neither counts twice (analytics inserts
// are idempotent on request_id, quota counting on the batch id, the same id the stream would dedupe by).
import type { CallRecord, LogSink } from '@turnpike/common';
import type { InProcessCallsFeed } from '@turnpike/control-plane';
import { batchId } from '@turnpike/gateway';

export class QuotaFeedingLogSink implements LogSink {
  constructor(
    private readonly inner: LogSink,
    private readonly feed: InProcessCallsFeed,
    private readonly nodeId: string,
  ) {}

  async write(batch: CallRecord[]): Promise<void> {
    await this.inner.write(batch);
    await this.feed.deliver({ id: batchId(this.nodeId, batch), records: batch });
  }

  async close(): Promise<void> {
    await this.inner.close();
  }
}
