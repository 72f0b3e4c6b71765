// The ingester's durable consumer on the calls stream (the stream itself: ensureCallsStream in common).
import { AckPolicy, DeliverPolicy, jetstreamManager, JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { CALLS_STREAM } from '@turnpike/common';

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
