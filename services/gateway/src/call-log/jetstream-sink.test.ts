// JetStreamLogSink against a private nats-server (the calls stream name is fixed, so tests must not
// share a server): stream creation, one message per batch, msgID dedup, and riding out a NATS outage
// together with the batcher.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, StorageType, RetentionPolicy } from '@nats-io/jetstream';
import { CALLS_STREAM, callsSubject, type CallRecord, decodeCallBatch } from '@turnpike/common';
import { startPrivateNats, waitFor, type PrivateNats } from '@turnpike/common/testing';
import { CallLogBatcher } from './batcher.js';
import { CALLS_DUPLICATE_WINDOW_MS, CALLS_MAX_AGE_MS } from '@turnpike/common';
import { batchId, ENCODE_SLICE, encodeInSlices, JetStreamLogSink } from './jetstream-sink.js';
import { encodeCallBatch } from '@turnpike/common';

let n = 0;
function rec(over: Partial<CallRecord> = {}): CallRecord {
  n++;
  return {
    request_id: `js-${process.pid}-${n}`,
    ts: 1_700_000_000_000 + n,
    node_id: 'node/a b',
    service_id: 's',
    route_id: 'r',
    consumer_id: '',
    method: 'GET',
    path: '/p',
    status: 200,
    upstream_latency_ms: 1,
    total_latency_ms: 2,
    bytes_in: 0,
    bytes_out: 1,
    error_code: '',
    ...over,
  };
}

async function streamMessages(nc: NatsConnection): Promise<{ subject: string; records: CallRecord[] }[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(CALLS_STREAM);
  const out: { subject: string; records: CallRecord[] }[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(CALLS_STREAM, { seq });
    if (m) out.push({ subject: m.subject, records: decodeCallBatch(m.string()) as CallRecord[] });
  }
  return out;
}

describe('JetStreamLogSink', { timeout: 60_000 }, () => {
  let nats: PrivateNats;
  let nc: NatsConnection;
  before(async () => {
    nats = await startPrivateNats();
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  });
  after(async () => {
    await nc?.close();
    await nats?.destroy();
  });

  test('creates the calls stream and publishes one message per batch to the node subject', { timeout: 20_000 }, async () => {
    const sink = new JetStreamLogSink(() => nc, 'node/a b');
    const batch = [rec(), rec(), rec()];
    await sink.write(batch);
    const info = await (await jetstreamManager(nc)).streams.info(CALLS_STREAM);
    assert.deepEqual(info.config.subjects, ['turnpike.calls.>']);
    assert.equal(info.config.storage, StorageType.File);
    assert.equal(info.config.retention, RetentionPolicy.Limits);
    assert.equal(info.config.max_age, CALLS_MAX_AGE_MS * 1_000_000);
    assert.equal(info.config.duplicate_window, CALLS_DUPLICATE_WINDOW_MS * 1_000_000);
    const msgs = await streamMessages(nc);
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0]?.subject, callsSubject('node/a b'));
    assert.equal(msgs[0]?.subject, 'turnpike.calls.node_a_b');
    assert.deepEqual(msgs[0]?.records, batch);
    // The same batch again (a retry after a lost PubAck) is dropped by JetStream's duplicate window.
    await sink.write(batch);
    assert.equal((await streamMessages(nc)).length, 1);
    await sink.write([rec()]);
    assert.equal((await streamMessages(nc)).length, 2);
  });

  test('batch ids depend on the records and their order', () => {
    const a = rec();
    const b = rec();
    assert.equal(batchId('n', [a, b]), batchId('n', [{ ...a }, { ...b }]));
    assert.notEqual(batchId('n', [a, b]), batchId('n', [b, a]));
    assert.notEqual(batchId('n', [a]), batchId('m', [a]));
  });

  test('a batch is encoded a slice at a time: other work runs between slices, the text is the one-go encoding', async () => {
    const batch = Array.from({ length: 5 * ENCODE_SLICE + 3 }, () => rec());
    let turns = 0;
    let done = false;
    // Counts the event-loop turns that ran while the batch was being encoded.
    const tick = (): void => {
      if (done) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const text = await encodeInSlices(batch);
    done = true;
    assert.equal(text, encodeCallBatch(batch));
    assert.ok(turns >= 5, `other work ran between the 6 slices (${turns} turns)`);
  });

  test('rejects without a connection, so the batcher keeps the batch', { timeout: 10_000 }, async () => {
    await assert.rejects(new JetStreamLogSink(() => undefined, 'x').write([rec()]), /no NATS connection/);
    const closed = await connect({ servers: nats.url });
    await closed.close();
    await assert.rejects(new JetStreamLogSink(() => closed, 'x').write([rec()]), /no NATS connection/);
  });

  test('a batch above the server max_payload is split, nothing lost', { timeout: 20_000 }, async () => {
    const before = (await streamMessages(nc)).length;
    const sink = new JetStreamLogSink(() => nc, 'big');
    const big = Array.from({ length: 40 }, () => rec({ path: '/' + 'x'.repeat(40_000) }));
    await sink.write(big);
    const msgs = (await streamMessages(nc)).slice(before);
    assert.ok(msgs.length > 1);
    assert.deepEqual(
      msgs.flatMap((m) => m.records.map((r) => r.request_id)),
      big.map((r) => r.request_id),
    );
  });

  test('with the batcher: records recorded while NATS is down arrive once it is back', { timeout: 40_000 }, async () => {
    const before = (await streamMessages(nc)).length;
    const sink = new JetStreamLogSink(() => nc, 'outage', { publishTimeoutMs: 500 });
    const batcher = new CallLogBatcher(sink, { maxBatch: 50, flushIntervalMs: 20, minBackoffMs: 50, maxBackoffMs: 200 });
    const sent: string[] = [];
    const put = (k: number): void => {
      for (let i = 0; i < k; i++) {
        const r = rec({ node_id: 'outage' });
        sent.push(r.request_id);
        batcher.record(r);
      }
    };
    put(120);
    await waitFor('first records published', () => batcher.stats().sent === 120, 10_000);
    await nats.stop();
    put(130);
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(batcher.stats().sent, 120);
    assert.equal(batcher.stats().buffered, 130);
    await nats.start();
    await waitFor('records published after the outage', () => batcher.stats().sent === 250, 20_000, 50);
    assert.equal(batcher.stats().dropped, 0);
    await batcher.close();
    const got = (await streamMessages(nc))
      .slice(before)
      .flatMap((m) => m.records.map((r) => r.request_id));
    // Every record is in the stream exactly once (a retried batch is de-duplicated by its msgID).
    assert.deepEqual(got.slice().sort(), sent.slice().sort());
  });
});
