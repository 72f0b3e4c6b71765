// The calls stream as the ingester ensures it. The gateway's call-log sink ensures the same stream in
// services/gateway/src/call-log/calls-stream.ts; analytics must not depend on the gateway, so the
// few lines of config are repeated there: keep both identical.
import { AckPolicy, DeliverPolicy, jetstreamManager, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { CALLS_STREAM, CALLS_SUBJECT_PREFIX } from '@turnpike/common';

const STREAM_NAME_IN_USE = 10058;

export async function ensureCallsStream(nc: NatsConnection, timeoutMs = 5_000): Promise<void> {
  const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
  try {
    await jsm.streams.info(CALLS_STREAM);
    return;
  } catch (e) {
    if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)) throw e;
  }
  try {
    await jsm.streams.add({
      name: CALLS_STREAM,
      subjects: [`${CALLS_SUBJECT_PREFIX}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      max_age: nanos(7 * 24 * 60 * 60 * 1000),
      duplicate_window: nanos(2 * 60 * 1000),
    });
  } catch (e) {
    if (!(e instanceof JetStreamApiError && e.code === STREAM_NAME_IN_USE)) throw e;
  }
}

/** The ingester's durable pull consumer; created if missing, left alone if it exists. */
export async function ensureIngestConsumer(nc: NatsConnection, durableName: string, ackWaitMs: number, timeoutMs = 5_000): Promise<void> {
  const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
  try {
    await jsm.consumers.info(CALLS_STREAM, durableName);
    return;
  } catch (e) {
    if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.ConsumerNotFound)) throw e;
  }
  await jsm.consumers.add(CALLS_STREAM, {
    durable_name: durableName,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(ackWaitMs),
    max_ack_pending: 10_000,
  });
}
