// The JetStream stream that carries call logs, as both ends ensure it: the gateway's call-log sink and
// the analytics ingester, whichever starts first.
import { jetstreamManager, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, type StreamConfig } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { CALLS_STREAM, CALLS_SUBJECT_PREFIX } from './call-log.js';

// JetStream API error "stream name already in use with a different configuration" (no named constant in nats.js).
const STREAM_NAME_IN_USE = 10058;

/** Call logs older than this are gone from NATS; by then the ingester has long stored them. */
export const CALLS_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;
/** JetStream drops a re-published batch with the same msgID within this window. */
export const CALLS_DUPLICATE_WINDOW_MS = 2 * 60 * 1000;

/** The stream as it is created, on `replicas` servers of the NATS cluster (TP_NATS_REPLICAS). */
export function callsStreamConfig(replicas = 1): Partial<StreamConfig> & { name: string } {
  return {
    name: CALLS_STREAM,
    num_replicas: replicas,
    subjects: [`${CALLS_SUBJECT_PREFIX}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    max_age: nanos(CALLS_MAX_AGE_MS),
    duplicate_window: nanos(CALLS_DUPLICATE_WINDOW_MS),
  };
}

/** Creates the calls stream if it does not exist; an existing stream is left as it is (its replicas too). */
export async function ensureCallsStream(nc: NatsConnection, opts: { timeoutMs?: number; replicas?: number } = {}): Promise<void> {
  const jsm = await jetstreamManager(nc, { timeout: opts.timeoutMs ?? 5_000 });
  try {
    await jsm.streams.info(CALLS_STREAM);
    return;
  } catch (e) {
    if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)) throw e;
  }
  try {
    await jsm.streams.add(callsStreamConfig(opts.replicas));
  } catch (e) {
    // Another node (or the ingester) created it between our info and add with other settings.
    if (!(e instanceof JetStreamApiError && e.code === STREAM_NAME_IN_USE)) throw e;
  }
}
