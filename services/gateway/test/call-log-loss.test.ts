// Call-log loss under a NATS outage (issue 8): a gateway started as a library against a PRIVATE nats-server
// (config from its KV bucket, call log to its JetStream calls stream), a real node:http upstream, 20,000
// requests at concurrency 50 while the private NATS is killed for OUTAGE_MS (default 15 s; env
// TP_LOSS_OUTAGE_MS, e.g. 30000 for the 30 s) and restarted on the same store. Afterwards the
// calls stream is read directly (not through the ClickHouse ingester) and must hold exactly one record per
// request id the gateway answered with: 20,000 distinct ids, none missing. The shared NATS is not touched.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { CALLS_STREAM, NatsKvConfigBus, configBucketName, entityKey, type CallRecord, type EntityKind, decodeCallBatch } from '@turnpike/common';
import { startPrivateNats, waitFor, type PrivateNats } from '@turnpike/common/testing';
import { startGateway, type Gateway } from '../src/index.js';
import { CallSpool } from '../src/call-log/spool.js';

const TOTAL = 20_000;
const CONCURRENCY = 50;
const OUTAGE_MS = Number(process.env.TP_LOSS_OUTAGE_MS ?? 15_000);
// Requests are paced over about this long so that load runs before, during and after the outage.
const SEND_SPREAD_MS = OUTAGE_MS + 15_000;
const OUTAGE_AT_MS = 5_000;

const now = new Date().toISOString();

function metricValue(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`metric ${name} missing`);
  return Number(m[1]);
}

describe('call log: no record lost across a NATS outage', { timeout: OUTAGE_MS + 75_000 }, () => {
  let nats: PrivateNats;
  let nc: NatsConnection;
  let upstream: Server;
  let gw: Gateway | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-loss-'));
  const cluster = `losstest_${randomUUID().slice(0, 8)}`;
  const agent = new Agent({ connections: CONCURRENCY, pipelining: 1 });

  before(async () => {
    nats = await startPrivateNats();
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    const bus = await NatsKvConfigBus.open(nc, configBucketName(cluster));
    let revision = 0;
    const put = async (kind: EntityKind, data: Record<string, unknown>): Promise<void> => {
      await bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++revision, data: { created_at: now, updated_at: now, tags: [], ...data } }));
    };
    upstream = createServer((req, res) => res.end('ok'));
    upstream.keepAliveTimeout = 30_000;
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const upId = randomUUID();
    const svc = randomUUID();
    await put('upstreams', {
      id: upId,
      name: 'echo',
      scheme: 'http',
      targets: [{ host: '127.0.0.1', port: (upstream.address() as AddressInfo).port, weight: 100 }],
      connect_timeout_ms: 2000,
      read_timeout_ms: 10000,
    });
    await put('services', { id: svc, name: 'svc-loss', upstream_id: upId, base_path: '/' });
    await put('routes', { id: randomUUID(), name: 'route-loss', service_id: svc, hosts: [], methods: [], paths: ['/'], strip_path: false, priority: 0, plugins: {} });

    configRevision = revision;
    gw = await startNode();
  });

  let configRevision = 0;
  const startNode = async (): Promise<Gateway> => {
    const g = await startGateway({
      nodeId: `loss-${process.pid}`,
      cluster,
      natsUrl: nats.url,
      dataDir,
      host: '127.0.0.1',
      proxyPort: 0,
      statusPort: 0,
      workers: 1,
      // A short PubAck wait so that an outage is noticed (and batches spooled) within about a second;
      // everything else is the production default (spool bound 256 MiB, batches of 500).
      callLog: { publishTimeoutMs: 1_000 },
    });
    await waitFor('config applied', async () => {
      const r = await request(`http://127.0.0.1:${g.statusPort}/readyz`);
      const body = (await r.body.json()) as { revision?: number };
      return r.statusCode === 200 && (body.revision ?? 0) >= configRevision;
    });
    return g;
  };

  const metricsText = async (): Promise<string> => await (await request(`http://127.0.0.1:${gw!.statusPort}/metrics`)).body.text();

  /** Request id → how many records the calls stream holds for it; and the total record count. */
  const readStream = async (): Promise<{ counts: Map<string, number>; records: number; messages: number }> => {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(CALLS_STREAM);
    const counts = new Map<string, number>();
    let records = 0;
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(CALLS_STREAM, { seq });
      if (!m) continue;
      for (const r of decodeCallBatch(m.string()) as CallRecord[]) {
        records++;
        counts.set(r.request_id, (counts.get(r.request_id) ?? 0) + 1);
      }
    }
    return { counts, records, messages: info.state.messages };
  };

  const allAnswered = new Set<string>();

  after(async () => {
    await gw?.close().catch(() => undefined);
    await agent.close();
    await nc?.close().catch(() => undefined);
    await nats?.destroy();
    await new Promise<void>((r) => upstream?.close(() => r()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  test(`${TOTAL} calls, NATS down ${OUTAGE_MS / 1000} s in the middle: every request id once in the calls stream`, async () => {
    const answered = new Set<string>();
    const failures: string[] = [];
    let next = 0;
    let spoolSegmentsSeen = 0;
    const t0 = Date.now();
    let outageEnded: Promise<void> = Promise.resolve();
    const outage = setTimeout(() => {
      outageEnded = (async () => {
        const stoppedAt = Date.now();
        await nats.stop();
        await new Promise((r) => setTimeout(r, 3_000));
        // By now the gateway has had failed publishes and moved batches to disk.
        try {
          spoolSegmentsSeen = readdirSync(join(dataDir, 'call-spool')).length;
        } catch {
          spoolSegmentsSeen = 0;
        }
        await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt))));
        await nats.start();
        console.log(`# NATS down from t=${((stoppedAt - t0) / 1000).toFixed(1)} s for ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s`);
      })();
    }, OUTAGE_AT_MS);

    const worker = async (): Promise<void> => {
      for (;;) {
        const i = next++;
        if (i >= TOTAL) return;
        const due = t0 + (i * SEND_SPREAD_MS) / TOTAL;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        try {
          const r = await request(`http://127.0.0.1:${gw!.proxyPort}/loss/${i}`, { dispatcher: agent });
          await r.body.text();
          if (r.statusCode !== 200) failures.push(`${i}: ${r.statusCode}`);
          answered.add(String(r.headers['x-request-id']));
        } catch (e) {
          failures.push(`${i}: ${(e as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const sentSecs = (Date.now() - t0) / 1000;
    clearTimeout(outage);
    await outageEnded;
    assert.deepEqual(failures.slice(0, 5), []);
    assert.equal(answered.size, TOTAL);

    for (const id of answered) allAnswered.add(id);
    // The gateway replays its spool and flushes memory once NATS is back.
    let text = '';
    await waitFor(
      'call log drained',
      async () => {
        text = await metricsText();
        return metricValue(text, 'turnpike_gateway_call_log_sent_total') >= TOTAL && metricValue(text, 'turnpike_gateway_call_spool_records') === 0;
      },
      40_000,
      250,
    );

    // Read the calls stream directly (every message is a JSON array of records).
    const { counts, records, messages } = await readStream();
    const missing = [...answered].filter((id) => !counts.has(id));
    const figures = {
      outage_s: OUTAGE_MS / 1000,
      send_s: sentSecs,
      stream_messages: messages,
      stream_records: records,
      distinct_request_ids: counts.size,
      duplicates_left_for_ingester: records - counts.size,
      spool_segments_seen_during_outage: spoolSegmentsSeen,
      spooled: metricValue(text, 'turnpike_gateway_call_spool_spooled_total'),
      replayed: metricValue(text, 'turnpike_gateway_call_spool_replayed_total'),
      spool_dropped: metricValue(text, 'turnpike_gateway_call_spool_dropped_total'),
      memory_dropped: metricValue(text, 'turnpike_gateway_call_log_dropped_total'),
      sent: metricValue(text, 'turnpike_gateway_call_log_sent_total'),
    };
    console.log(`# call-log loss figures: ${JSON.stringify(figures)}`);
    assert.deepEqual(missing.slice(0, 5), []);
    assert.equal(counts.size, TOTAL);
    assert.equal(figures.spool_dropped, 0);
    assert.equal(figures.memory_dropped, 0);
    // The outage really went through the spool: batches were written to disk and replayed from it.
    assert.ok(figures.spooled > 0, 'nothing was spooled during the outage');
    assert.equal(figures.replayed, figures.spooled);
    // JetStream's duplicate window drops re-published batches (same msgID), so the stream itself holds
    // each record once; the ingester's request-id dedupe would remove any that slipped through.
    assert.equal(figures.duplicates_left_for_ingester, 0);
  });

  test('records spooled when a gateway stops during an outage reach the stream after its restart', async () => {
    const N = 2_000;
    await nats.stop();
    const answered = new Set<string>();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < N) {
          const i = next++;
          const r = await request(`http://127.0.0.1:${gw!.proxyPort}/restart/${i}`, { dispatcher: agent });
          await r.body.text();
          assert.equal(r.statusCode, 200);
          answered.add(String(r.headers['x-request-id']));
        }
      }),
    );
    assert.equal(answered.size, N);
    // Closing with NATS down: what the batcher holds goes to the spool, not lost.
    await gw!.close();
    gw = undefined;
    const left = new CallSpool(join(dataDir, 'call-spool'));
    assert.equal(left.pending, N);
    left.close();
    await nats.start();
    gw = await startNode();
    let text = '';
    await waitFor(
      'previous run replayed',
      async () => {
        text = await metricsText();
        return metricValue(text, 'turnpike_gateway_call_spool_records') === 0 && metricValue(text, 'turnpike_gateway_call_spool_replayed_total') === N;
      },
      20_000,
      100,
    );
    const { counts, records } = await readStream();
    for (const id of answered) allAnswered.add(id);
    console.log(`# restart figures: ${JSON.stringify({ spooled_at_close: N, replayed_after_restart: metricValue(text, 'turnpike_gateway_call_spool_replayed_total'), stream_records: records, distinct: counts.size })}`);
    assert.deepEqual([...answered].filter((id) => counts.get(id) !== 1).slice(0, 5), []);
    assert.equal(counts.size, allAnswered.size);
    assert.equal(records, counts.size);
  });
});
