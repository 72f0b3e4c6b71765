// Ingester robustness at volume: ClickHouse unreachable for a while (a TCP relay taken down, so the shared
// server keeps serving other tests) loses nothing and acks nothing early; replays leave no duplicates.
// Each test has its own nats-server (the calls stream name is fixed) and its own ClickHouse database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { callsSubject, type CallRecord } from '@turnpike/common';
import { startPrivateNats, TcpRelay, testEnv, waitFor, type PrivateNats } from '@turnpike/common/testing';
import { ClickHouseStore, startIngester, type Ingester, type IngesterOptions } from '../src/index.js';
import { BASE, call } from './store-contract.js';

interface Rig {
  nc: NatsConnection;
  store: ClickHouseStore;
  start(opts?: Partial<IngesterOptions>): Promise<Ingester>;
  publish(records: CallRecord[], msgID: string): Promise<void>;
  /** [rows without FINAL, rows with FINAL, distinct request ids]. */
  counts(): Promise<[number, number, number]>;
}

async function withRig(storeUrl: (direct: string) => Promise<string>, fn: (rig: Rig) => Promise<void>): Promise<void> {
  let nats: PrivateNats | undefined;
  let nc: NatsConnection | undefined;
  let store: ClickHouseStore | undefined;
  const ingesters: Ingester[] = [];
  try {
    nats = await startPrivateNats();
    const conn = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    nc = conn;
    const db = `tp_test_outage_${Date.now().toString(36)}_${process.pid}`;
    const s = await ClickHouseStore.open(await storeUrl(testEnv().clickhouseUrl), db);
    store = s;
    const js = jetstream(conn);
    await fn({
      nc: conn,
      store: s,
      start: async (opts = {}) => {
        const i = await startIngester({ nc: conn, store: s, durableName: 'outage', flushMs: 1_000, nakDelayMs: 200, nakMaxDelayMs: 2_000, ...opts });
        ingesters.push(i);
        return i;
      },
      publish: async (records, msgID) => {
        await js.publish(callsSubject('node-outage'), JSON.stringify(records), { msgID });
      },
      counts: async () => {
        const out = await s.sqlRunner.exec(
          `SELECT (SELECT count() FROM ${db}.calls) AS raw, (SELECT count() FROM ${db}.calls FINAL) AS final, (SELECT uniqExact(request_id) FROM ${db}.calls) AS ids FORMAT JSONEachRow`,
        );
        const r = JSON.parse(out) as Record<string, string | number>;
        return [Number(r.raw), Number(r.final), Number(r.ids)];
      },
    });
  } finally {
    for (const i of ingesters) await i.close();
    await store?.dropDatabase().catch(() => undefined);
    await store?.close();
    await nc?.close();
    await nats?.destroy();
  }
}

const batches = (n: number, size: number, ts0: number): CallRecord[][] =>
  Array.from({ length: n }, (_, b) => Array.from({ length: size }, (_, i) => call({ ts: ts0 + b * size + i, status: i % 7 === 0 ? 502 : 200 })));

// How long ClickHouse stays unreachable once inserts are seen failing: 12 s in the suite, TP_LOSS_OUTAGE_MS
// (e.g. 30000, the 30 s) to run it longer.
const OUTAGE_MS = Number(process.env.TP_LOSS_OUTAGE_MS ?? 12_000);

test(`20,000 calls with ClickHouse unreachable for ${OUTAGE_MS / 1000} s: exactly 20,000 distinct records end in ClickHouse`, { timeout: 108_000 + OUTAGE_MS }, async () => {
  const relay = new TcpRelay(new URL(testEnv().clickhouseUrl));
  let port = 0;
  try {
    await withRig(
      async () => {
        port = await relay.up(0);
        return `http://127.0.0.1:${port}`;
      },
      async (rig) => {
        const msgs = batches(40, 500, BASE + 20_000_000);
        const ing = await rig.start({ batchMax: 10, insertMax: 2_000 });
        for (let b = 0; b < 10; b++) await rig.publish(msgs[b] as CallRecord[], `outage-${b}`);
        await waitFor('first 5,000 stored', () => ing.stats().inserted >= 5_000, 30_000, 50);

        await relay.down();
        const ackedAtOutage = ing.stats().messages;
        for (let b = 10; b < 40; b++) await rig.publish(msgs[b] as CallRecord[], `outage-${b}`);
        await waitFor('inserts failing', () => ing.stats().insertFailures >= 2, 15_000, 50);
        await new Promise((r) => setTimeout(r, OUTAGE_MS));
        // Nothing published during the outage was acknowledged: it all waits in JetStream.
        assert.equal(ing.stats().messages, ackedAtOutage);
        assert.ok(ackedAtOutage <= 10);
        await assert.rejects(rig.counts(), 'ClickHouse is unreachable through the relay');

        await relay.up(port);
        await waitFor('all 40 messages acked', () => ing.stats().messages >= 40, 60_000, 100);
        const [, final, ids] = await rig.counts();
        assert.equal(ids, 20_000);
        assert.equal(final, 20_000);
        const rolled = await rig.store.rollup('hour', { from: BASE + 20_000_000 - 3_600_000, to: BASE + 20_000_000 + 7_200_000 });
        assert.ok(rolled.reduce((a, p) => a + p.requests, 0) >= 20_000, 'the rollups saw every record');
        await ing.close();
      },
    );
  } finally {
    await relay.down();
  }
});

test('replaying the same batch twice leaves no duplicate, in calls and in the rollups', { timeout: 90_000 }, async () => {
  await withRig(
    async (direct) => direct,
    async (rig) => {
      // 5,000 records as 5 messages (NATS max_payload is 1 MB), published twice.
      const batch = batches(5, 1_000, BASE + 30_000_000);
      const ing = await rig.start();
      for (const [i, b] of batch.entries()) await rig.publish(b, `replay-1-${i}`);
      await waitFor('first copy stored', () => ing.stats().messages >= 5, 30_000, 50);
      // Different msgIDs, so JetStream keeps both copies: de-duplication is the ingester's and the store's job.
      for (const [i, b] of batch.entries()) await rig.publish(b, `replay-2-${i}`);
      await waitFor('second copy acked', () => ing.stats().messages >= 10, 30_000, 50);
      assert.equal(ing.stats().duplicates, 5_000);
      assert.deepEqual(await rig.counts(), [5_000, 5_000, 5_000]);
      const range = { from: BASE + 30_000_000 - 3_600_000, to: BASE + 30_000_000 + 3_600_000 };
      assert.equal((await rig.store.rollup('minute', range)).reduce((a, p) => a + p.requests, 0), 5_000);
      await ing.close();

      // A restarted ingester has no memory of the ids: the replay reaches the table, and ReplacingMergeTree
      // (FINAL now, OPTIMIZE … FINAL / background merges later) collapses it.
      const fresh = await rig.start({ durableName: 'outage-restarted' });
      await waitFor('replayed by a fresh consumer', () => fresh.stats().messages >= 10, 30_000, 50);
      const [raw, final, ids] = await rig.counts();
      assert.equal(final, 5_000);
      assert.equal(ids, 5_000);
      assert.ok(raw >= 5_000);
      await rig.store.sqlRunner.exec(`OPTIMIZE TABLE ${rig.store.database}.calls FINAL`);
      assert.deepEqual(await rig.counts(), [5_000, 5_000, 5_000]);
      assert.equal((await rig.store.calls({ ...range, limit: 10_000 })).length, 5_000);
      await fresh.close();
    },
  );
});
