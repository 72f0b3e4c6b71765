// The embedded all-in-one's stand-in for the calls stream as the quota aggregation reads it (`turnpike up`
// has no JetStream): the node's call-log sink hands each batch here, with the id the stream would dedupe
// it by, and the write resolves only once the batch is counted, so a failure (PostgreSQL away) makes the
// node's batcher retry the same batch, which the batch id keeps from counting twice.
import type { CallBatch } from '@turnpike/analytics';

export type CallBatchHandler = (batches: CallBatch[]) => Promise<void>;

export class InProcessCallsFeed {
  #handler: CallBatchHandler | null = null;

  /** The aggregation's side: one handler (the embedded control plane's). */
  subscribe(handler: CallBatchHandler): { stop(): void } {
    this.#handler = handler;
    return {
      stop: () => {
        if (this.#handler === handler) this.#handler = null;
      },
    };
  }

  /** The node's side: resolves once counted; rejects while nothing counts (the batch is retried). */
  async deliver(batch: CallBatch): Promise<void> {
    if (this.#handler === null) throw new Error('no quota aggregation is listening');
    await this.#handler([batch]);
  }
}
