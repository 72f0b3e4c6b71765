// Quota aggregation in the control plane: reads the gateway call-log stream with a durable consumer of its
// own (`turnpike-quota`; several control planes share it), counts each batch once into quota_usage and
// writes the touched pairs' usage snapshots to the cluster's quota bucket, which every node watches. A
// call is counted within about a second of its response (the node's call-log batcher flushes every 200 ms,
// the reader hands over every 100 ms), so nodes see cluster-wide usage within seconds. `turnpike up` feeds
// the same counting from its in-process call-log sink instead of the stream (InProcessCallsFeed).
import type { NatsConnection } from '@nats-io/transport-node';
import type { Sql } from 'postgres';
import { startCallsReader, type CallBatch, type CallsReader } from '@turnpike/analytics';
import type { ConfigBus } from '@turnpike/common';
import type { Logger } from '../log.js';
import { applyCallBatches, pruneQuotaBatches, type Pair } from './aggregate.js';
import { pairsWithCurrentUsage, publishSnapshots } from './snapshot.js';
import type { InProcessCallsFeed } from './in-process-calls.js';

export const QUOTA_DURABLE = 'turnpike-quota';
/** The calls stream keeps 7 days; a batch id older than that plus a day cannot be redelivered. */
const BATCH_ID_RETENTION_MS = 8 * 86_400_000;

export interface QuotaAggregatorOptions {
  sql: Sql;
  /**
   * Where the call batches come from: the calls stream over NATS (created with `replicas` copies if absent),
   * or the embedded node's sink.
   */
  calls: { nc: NatsConnection; replicas?: number | undefined } | { feed: InProcessCallsFeed };
  /** The quota bucket (NatsKvConfigBus over quotaBucketName(cluster); in-process in `turnpike up`). */
  bus: ConfigBus;
  log: Logger;
  /** Prune interval of counted batch ids (default hourly). */
  pruneIntervalMs?: number;
}

export interface QuotaAggregator {
  close(): Promise<void>;
}

export async function startQuotaAggregator(o: QuotaAggregatorOptions): Promise<QuotaAggregator> {
  // Pairs whose snapshot is not written yet, or could not be (the bucket unreachable): retried every second.
  let unpublished = new Map<string, Pair>();
  const publish = async (): Promise<void> => {
    if (unpublished.size === 0) return;
    const pairs = [...unpublished.values()];
    unpublished = new Map();
    const failed = await publishSnapshots(o.sql, o.bus, pairs);
    if (failed.length > 0) {
      o.log('quota_publish_failed', { pairs: failed.length });
      for (const p of failed) unpublished.set(`${p.consumer_id}.${p.service_id}`, p);
    }
  };
  const handle = async (batches: CallBatch[]): Promise<void> => {
    // A failure here naks the window; nothing of it was committed, so the redelivery counts it.
    const touched = await applyCallBatches(o.sql, batches);
    for (const p of touched) unpublished.set(`${p.consumer_id}.${p.service_id}`, p);
    await publish();
  };
  if ('feed' in o.calls) {
    // An in-process bucket starts empty (the KV bucket keeps its values): fill it before the node starts,
    // so that a restarted `turnpike up` does not admit a consumer whose quota is used up.
    for (const p of await pairsWithCurrentUsage(o.sql)) unpublished.set(`${p.consumer_id}.${p.service_id}`, p);
    await publish();
  }
  const reader: Pick<CallsReader, 'close'> =
    'nc' in o.calls
      ? await startCallsReader({
          nc: o.calls.nc,
          ...(o.calls.replicas !== undefined ? { replicas: o.calls.replicas } : {}),
          durableName: QUOTA_DURABLE,
          handle,
          log: (level, event, fields) => o.log(event, { level, ...fields }),
        })
      : feedReader(o.calls.feed.subscribe(handle));
  // Snapshots that failed are retried without waiting for more calls of the pair.
  const retry = setInterval(() => void publish(), 1_000);
  retry.unref();
  const prune = setInterval(() => {
    pruneQuotaBatches(o.sql, BATCH_ID_RETENTION_MS).catch((e: unknown) => o.log('quota_prune_failed', { error: String(e) }));
  }, o.pruneIntervalMs ?? 3_600_000);
  prune.unref();
  return {
    close: async () => {
      clearInterval(prune);
      clearInterval(retry);
      await reader.close();
    },
  };
}

function feedReader(sub: { stop(): void }): Pick<CallsReader, 'close'> {
  return { close: async () => sub.stop() };
}
