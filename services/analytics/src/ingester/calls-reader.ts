// A second kind of reader of the calls stream, for consumers other than the ClickHouse ingester (the control
// plane's quota aggregation): a durable consumer of its own, messages delivered as they arrive (not per
// one-second fetch) and handed over in small windows, each message with its batch id — the gateway's
// JetStream msgID, the same for a batch however often it is re-published — so that the handler can apply
// every batch exactly once. Messages are acknowledged only after the handler resolved; a failure naks them
// for redelivery.
import { jetstream, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { CALLS_STREAM, decodeCallBatch, ensureCallsStream, isNewerFormat, type CallRecord } from '@turnpike/common';
import { parseCallRecord } from '../call-record.js';
import { silentLog, type Logger } from '../log.js';
import { ensureIngestConsumer } from './calls-stream.js';

export interface CallBatch {
  /** The gateway's msgID (see the gateway's batchId), or `seq:<stream sequence>` for a message without one. */
  id: string;
  /** The well-formed records of the message (malformed ones are left out). */
  records: CallRecord[];
}

export interface CallsReaderOptions {
  nc: NatsConnection;
  durableName: string;
  /** Applies a window of batches; a rejection naks them all (redelivered after nakDelayMs). */
  handle(batches: CallBatch[]): Promise<void>;
  /** How long messages collect before a window is handed over (default 100 ms). */
  windowMs?: number;
  /** Most messages per window (default 200). */
  windowMax?: number;
  nakDelayMs?: number;
  /**
   * Redelivery delay of a batch in a call batch format newer than this reader knows (a gateway node upgraded
   * before this process): left in the stream for an upgraded reader, never handed over or acknowledged
   * (default 30 s).
   */
  newerFormatDelayMs?: number;
  log?: Logger;
  /** Copies of the calls stream if this reader creates it (TP_NATS_REPLICAS; default 1). */
  replicas?: number;
}

export interface CallsReader {
  /** Messages acknowledged so far. */
  acked(): number;
  close(): Promise<void>;
}

export async function startCallsReader(opts: CallsReaderOptions): Promise<CallsReader> {
  const { nc } = opts;
  const windowMs = opts.windowMs ?? 100;
  const windowMax = opts.windowMax ?? 200;
  const nakDelayMs = opts.nakDelayMs ?? 2_000;
  const newerFormatDelayMs = opts.newerFormatDelayMs ?? 30_000;
  const log = opts.log ?? silentLog;
  let acked = 0;
  let stopping = false;
  let messages: ConsumerMessages | null = null;
  let pending: JsMsg[] = [];
  let timer: NodeJS.Timeout | null = null;
  let busy: Promise<void> = Promise.resolve();

  const open = async (): Promise<ConsumerMessages> => {
    await ensureCallsStream(nc, { replicas: opts.replicas ?? 1 });
    await ensureIngestConsumer(nc, opts.durableName, 60_000);
    const consumer = await jetstream(nc).consumers.get(CALLS_STREAM, opts.durableName);
    return await consumer.consume({ max_messages: windowMax * 2 });
  };
  // Fail fast at start-up, like the ingester: a missing JetStream should stop the process.
  messages = await open();

  const flush = async (): Promise<void> => {
    timer = null;
    while (pending.length > 0) {
      const msgs: JsMsg[] = [];
      const batches: CallBatch[] = [];
      for (const m of pending.splice(0, windowMax)) {
        const b = toBatch(m);
        if (b === null) {
          log('warn', 'calls_reader.newer_format', { durable: opts.durableName, subject: m.subject, seq: m.seq });
          m.nak(newerFormatDelayMs);
          continue;
        }
        msgs.push(m);
        batches.push(b);
      }
      if (msgs.length === 0) continue;
      try {
        await opts.handle(batches);
        for (const m of msgs) m.ack();
        acked += msgs.length;
      } catch (e) {
        log('warn', 'calls_reader.handle_failed', { durable: opts.durableName, messages: msgs.length, error: (e as Error).message });
        for (const m of msgs) m.nak(nakDelayMs);
        pending = [];
        return;
      }
    }
  };
  const schedule = (): void => {
    if (timer !== null) return;
    timer = setTimeout(() => {
      busy = busy.then(flush);
    }, windowMs);
  };

  const loop = async (): Promise<void> => {
    let failures = 0;
    while (!stopping) {
      try {
        messages ??= await open();
        for await (const m of messages) {
          pending.push(m);
          schedule();
          failures = 0;
        }
        messages = null;
      } catch (e) {
        messages = null;
        failures++;
        log('warn', 'calls_reader.consume_failed', { durable: opts.durableName, error: (e as Error).message, failures });
        await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** Math.min(failures, 6))));
      }
    }
  };
  const running = loop();

  return {
    acked: () => acked,
    close: async () => {
      stopping = true;
      messages?.stop();
      if (timer !== null) {
        clearTimeout(timer);
        busy = busy.then(flush);
      }
      await running;
      await busy;
    },
  };
}

/** The message's batch; null when it is in a call batch format newer than this reader knows. */
function toBatch(m: JsMsg): CallBatch | null {
  const id = m.headers?.get('Nats-Msg-Id') || `seq:${m.seq}`;
  const records: CallRecord[] = [];
  // Any wire format this reader knows (common/src/call-batch.ts); a message that is no batch counts nothing.
  const v = decodeCallBatch(m.string());
  if (typeof v === 'string' && isNewerFormat(v)) return null;
  if (typeof v !== 'string') {
    for (const item of v) {
      const r = parseCallRecord(item);
      if (typeof r !== 'string') records.push(r);
    }
  }
  return { id, records };
}
