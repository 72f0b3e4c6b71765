// NATS JetStream → AnalyticsStore. A durable pull consumer on the calls stream; each fetched group of
// messages becomes inserts of at most insertMax records, and a message is acknowledged only after the
// inserts holding its records succeeded (at-least-once); while the store is unreachable, messages are
// nak'ed with a growing delay and fetching pauses as long. Duplicates from redelivery are skipped here when recent and collapsed by the
// store (ReplacingMergeTree + FINAL) otherwise.
import { jetstream, type Consumer, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { CALLS_STREAM, decodeCallBatch, isNewerFormat, TurnpikeError, type AnalyticsStore, type CallRecord } from '@turnpike/common';
import { parseCallRecord } from '../call-record.js';
import { silentLog, type Logger } from '../log.js';
import { ensureCallsStream } from '@turnpike/common';
import { ensureIngestConsumer } from './calls-stream.js';
import { RecentIds } from './recent-ids.js';

export interface IngesterOptions {
  nc: NatsConnection;
  store: AnalyticsStore;
  /** Durable consumer name; ingesters sharing it share the work. */
  durableName?: string;
  /** Messages (each a gateway batch of records) per fetch (default 500). */
  batchMax?: number;
  /** Most records per INSERT (default 10,000); a fetch larger than this becomes several inserts. */
  insertMax?: number;
  /** How long a fetch waits for messages before inserting what it has (JetStream minimum: 1000 ms). */
  flushMs?: number;
  /** Redelivery delay after a failed insert; doubles per consecutive outage failure up to nakMaxDelayMs. */
  nakDelayMs?: number;
  /** Cap of the backoff while the store is unavailable (default 30 s). */
  nakMaxDelayMs?: number;
  /** How many recently inserted request ids to remember for skipping redelivered records. */
  recentIds?: number;
  log?: Logger;
  /** Copies of the calls stream if this ingester creates it (TP_NATS_REPLICAS; default 1). */
  replicas?: number;
}

export interface IngesterStats {
  /** Messages acknowledged after their records were stored (or found already stored). */
  messages: number;
  /** Records inserted. */
  inserted: number;
  /** Records skipped because their request id was inserted recently. */
  duplicates: number;
  /** Messages that are not a JSON array of call records; terminated, never redelivered. */
  malformed: number;
  /** Messages in a call batch format newer than this ingester reads: left in the stream (nak), not discarded. */
  newerFormat: number;
  /** Inserts that failed; their messages were nak'ed for redelivery. */
  insertFailures: number;
}

export interface Ingester {
  stats(): IngesterStats;
  close(): Promise<void>;
}

export async function startIngester(opts: IngesterOptions): Promise<Ingester> {
  const { nc, store } = opts;
  const durable = opts.durableName ?? 'turnpike-ingester';
  const batchMax = opts.batchMax ?? 500;
  const insertMax = Math.max(1, opts.insertMax ?? 10_000);
  const nakMaxDelayMs = opts.nakMaxDelayMs ?? 30_000;
  const flushMs = Math.max(1_000, opts.flushMs ?? 1_000);
  const nakDelayMs = opts.nakDelayMs ?? 2_000;
  // Consecutive failures with the store unavailable: drives the backoff, reset by the next success.
  let outage = 0;
  const log = opts.log ?? silentLog;
  const recent = new RecentIds(opts.recentIds ?? 200_000);
  const stats: IngesterStats = { messages: 0, inserted: 0, duplicates: 0, malformed: 0, newerFormat: 0, insertFailures: 0 };
  // Inserts can take a while; redelivery must not start while one is still running.
  const ackWaitMs = 60_000;

  const connect = async (): Promise<Consumer> => {
    await ensureCallsStream(nc, { replicas: opts.replicas ?? 1 });
    await ensureIngestConsumer(nc, durable, ackWaitMs);
    return await jetstream(nc).consumers.get(CALLS_STREAM, durable);
  };
  // Fail fast at start-up: a wrong URL or missing JetStream should stop the process, not loop quietly.
  let consumer: Consumer | null = await connect();

  let stopping = false;
  let current: { stop(): void } | null = null;
  let wake: (() => void) | null = null;

  /** Inserts and remembers the records; returns the error instead of throwing. */
  const insert = async (records: CallRecord[], messages: number): Promise<unknown> => {
    if (records.length === 0) return null;
    try {
      await store.insert(records);
    } catch (e) {
      stats.insertFailures++;
      log('error', 'ingester.insert_failed', { records: records.length, messages, error: (e as Error).message });
      return e ?? new Error('insert failed');
    }
    for (const r of records) recent.add(r.request_id);
    stats.inserted += records.length;
    return null;
  };
  const ack = (m: JsMsg): void => {
    m.ack();
    stats.messages++;
  };

  const processBatch = async (msgs: JsMsg[]): Promise<void> => {
    const entries: { msg: JsMsg; records: CallRecord[] }[] = [];
    const batchIds = new Set<string>();
    for (const m of msgs) {
      const parsed = parseMessage(m);
      if (typeof parsed === 'string' && isNewerFormat(parsed)) {
        // A node newer than this ingester (a rolling upgrade in the wrong order): the records are good, this
        // reader cannot read them. Left in the stream for an upgraded ingester instead of discarded.
        stats.newerFormat++;
        log('warn', 'ingester.newer_format', { subject: m.subject, seq: m.seq, reason: parsed });
        m.nak(nakMaxDelayMs);
        continue;
      }
      if (typeof parsed === 'string') {
        stats.malformed++;
        log('warn', 'ingester.malformed', { subject: m.subject, seq: m.seq, reason: parsed });
        m.term(parsed);
        continue;
      }
      const fresh: CallRecord[] = [];
      for (const r of parsed) {
        if (recent.has(r.request_id) || batchIds.has(r.request_id)) {
          stats.duplicates++;
          continue;
        }
        batchIds.add(r.request_id);
        fresh.push(r);
      }
      entries.push({ msg: m, records: fresh });
    }
    if (entries.length === 0) return;
    // Inserts of at most insertMax records, in message order. A message is acked once all of its records
    // are in; its ids are remembered per insert, so a redelivery after a partial failure skips what is stored.
    const all = entries.flatMap((e) => e.records);
    let stored = 0;
    let err: unknown = null;
    while (stored < all.length) {
      const chunk = all.slice(stored, stored + insertMax);
      err = await insert(chunk, entries.length);
      if (err !== null) break;
      stored += chunk.length;
    }
    let end = 0;
    let rest = entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as (typeof entries)[number];
      end += e.records.length;
      if (end > stored) {
        rest = entries.slice(i);
        break;
      }
      ack(e.msg);
      rest = [];
    }
    if (err === null) {
      outage = 0;
      return;
    }
    if (rest.length === 1 || isUnavailable(err)) {
      // Store down: keep the messages unacked (nak with a growing delay) and pause fetching for as long,
      // so an outage costs one failed insert per backoff step instead of a tight retry loop.
      const delay = isUnavailable(err) ? Math.min(nakMaxDelayMs, nakDelayMs * 2 ** Math.min(outage++, 16)) : nakDelayMs;
      for (const e of rest) e.msg.nak(delay);
      if (isUnavailable(err)) await pause(delay);
      return;
    }
    // The store answered but refused the batch: one message may be the cause. Retry them one by one so
    // only the failing ones wait for redelivery and the rest of the stream keeps flowing.
    for (let i = 0; i < rest.length; i++) {
      const e = rest[i] as (typeof rest)[number];
      const err1 = await insert(e.records, 1);
      if (err1 === null) {
        ack(e.msg);
        continue;
      }
      e.msg.nak(nakDelayMs);
      if (isUnavailable(err1)) {
        for (const r of rest.slice(i + 1)) r.msg.nak(nakDelayMs);
        return;
      }
    }
  };

  /** Sleeps ms, cut short by close(). */
  const pause = async (ms: number): Promise<void> => {
    if (stopping) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    wake = null;
  };

  const loop = async (): Promise<void> => {
    let failures = 0;
    while (!stopping) {
      try {
        consumer ??= await connect();
        const iter = await consumer.fetch({ max_messages: batchMax, expires: flushMs });
        current = iter;
        const msgs: JsMsg[] = [];
        let fetchError: unknown = null;
        try {
          for await (const m of iter) msgs.push(m);
        } catch (e) {
          // A fetch that fails part-way ("heartbeats missed" on a busy host, a reconnect) has already
          // delivered msgs to this consumer: dropping them would leave them pending until ack_wait (60 s).
          fetchError = e;
        }
        current = null;
        // Stopping mid-fetch or a failed fetch: what was fetched is still stored and acked (or nak'ed), so
        // nothing waits for ack_wait.
        if (msgs.length > 0) await processBatch(msgs);
        if (fetchError !== null) throw fetchError;
        failures = 0;
      } catch (e) {
        current = null;
        consumer = null;
        failures++;
        log('warn', 'ingester.fetch_failed', { error: (e as Error).message, failures });
        await pause(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)));
      }
    }
  };
  const running = loop();

  return {
    stats: () => ({ ...stats }),
    close: async () => {
      if (stopping) return await running;
      stopping = true;
      current?.stop();
      (wake as (() => void) | null)?.();
      await running;
    },
  };
}

function isUnavailable(e: unknown): boolean {
  return e instanceof TurnpikeError && e.code === 'TP_ERR_UNAVAILABLE';
}

function parseMessage(m: JsMsg): CallRecord[] | string {
  // Any wire format (common/src/call-batch.ts): nodes of several versions may publish during an upgrade.
  const v = decodeCallBatch(m.string());
  if (typeof v === 'string') return v;
  const out: CallRecord[] = [];
  for (let i = 0; i < v.length; i++) {
    const r = parseCallRecord(v[i]);
    if (typeof r === 'string') return `record ${i}: ${r}`;
    out.push(r);
  }
  return out;
}
