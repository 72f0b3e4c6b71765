// ClickHouse unreachable in the middle of traffic, through the whole call-log chain on real processes:
// requests → gateway node → NATS JetStream → ingester → ClickHouse. The ingester reaches ClickHouse through a
// TCP relay that the test takes down (connections cut, connection refused) and brings back, so the shared
// server keeps serving other suites. While it is down the ingester's inserts fail and it naks; the records
// wait in JetStream. Afterwards every request id the gateway answered with is in ClickHouse exactly once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { createTestDatabase, freePort, startPrivateNats, TcpRelay, testEnv, uniqueName, waitFor, type PrivateNats } from '@turnpike/common/testing';
import { startProcess, type Running } from './support/process.js';
import { AdminClient } from './support/admin-client.js';
import { startEchoUpstream, type EchoUpstream } from './support/upstream.js';

const TOTAL = 5_000;
const CONCURRENCY = 20;
// Requests are paced over SEND_SPREAD_MS; ClickHouse is unreachable from OUTAGE_AT_MS for OUTAGE_MS of it.
const SEND_SPREAD_MS = 10_000;
const OUTAGE_AT_MS = 2_000;
const OUTAGE_MS = 6_000;

describe('call log: no record lost or doubled across a ClickHouse outage (gateway → JetStream → ingester → ClickHouse)', { timeout: 180_000 }, () => {
  const env = testEnv();
  const cluster = uniqueName('choutage');
  const chDatabase = uniqueName('tp_choutage');
  const token = `tpa_${randomBytes(24).toString('base64url')}`;
  const relay = new TcpRelay(new URL(env.clickhouseUrl));
  const agent = new Agent({ connections: CONCURRENCY, pipelining: 1 });
  let relayPort = 0;
  let nats: PrivateNats;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let upstream: EchoUpstream;
  let cp: Running | undefined;
  let ingester: Running | undefined;
  let gateway: Running | undefined;
  let dataDir: string;
  let proxy: string;
  let status: string;
  let serviceId: string;

  /** A statement straight to the shared ClickHouse (not through the relay); JSONEachRow rows back. */
  const ch = async (query: string): Promise<Record<string, string | number>[]> => {
    const r = await request(`${env.clickhouseUrl}/?wait_end_of_query=1`, { method: 'POST', body: query });
    const text = await r.body.text();
    if (r.statusCode !== 200) throw new Error(`ClickHouse ${r.statusCode}: ${text.slice(0, 300)}`);
    return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, string | number>);
  };
  /** The load's records: its service, and its path (the readiness probe's request is not one of them). */
  const load = (): string => `service_id = '${serviceId}' AND path LIKE '/choutage/n/%'`;
  /** [rows with FINAL, distinct request ids, rows without FINAL] of the load. */
  const counts = async (): Promise<[number, number, number]> => {
    const [r] = await ch(
      `SELECT (SELECT count() FROM ${chDatabase}.calls FINAL WHERE ${load()}) AS final,
  (SELECT uniqExact(request_id) FROM ${chDatabase}.calls WHERE ${load()}) AS ids,
  (SELECT count() FROM ${chDatabase}.calls WHERE ${load()}) AS raw FORMAT JSONEachRow`,
    );
    return [Number(r!.final), Number(r!.ids), Number(r!.raw)];
  };

  /** The gateway's call-log metrics (`turnpike_gateway_call_log_*`, `turnpike_gateway_call_spool_*`). */
  const callLogMetrics = async (): Promise<Record<string, number>> => {
    const text = await (await request(`${status}/metrics`)).body.text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^(turnpike_gateway_call_(?:log|spool)_\w+) (\S+)$/gm)) out[m[1]!] = Number(m[2]);
    return out;
  };

  before(async () => {
    [nats, db, upstream] = await Promise.all([startPrivateNats(), createTestDatabase('tp_choutage'), startEchoUpstream('choutage-echo')]);
    relayPort = await relay.up(0);
    dataDir = mkdtempSync(join(tmpdir(), 'tp-choutage-gw-'));
    const [adminPort, grpcPort, proxyPort, statusPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const common = { TP_NATS_URL: nats.url, TP_CLUSTER: cluster };
    [cp, ingester] = await Promise.all([
      startProcess(['control-plane'], { ...common, TP_PG_URL: db.url, TP_ADMIN_PORT: `${adminPort}`, TP_GRPC_PORT: `${grpcPort}`, TP_BOOTSTRAP_TOKEN: token }),
      // Retries at most 1 s apart, so recovery is quick once ClickHouse is back (production default: 30 s).
      startProcess(['ingester'], { ...common, TP_CLICKHOUSE_URL: `http://127.0.0.1:${relayPort}`, TP_CLICKHOUSE_DATABASE: chDatabase, TP_INGEST_RETRY_MAX_MS: '1000' }),
    ]);
    gateway = await startProcess(['gateway'], {
      ...common,
      TP_NODE_ID: 'node-choutage',
      TP_PROXY_HOST: '127.0.0.1',
      TP_PROXY_PORT: `${proxyPort}`,
      TP_STATUS_PORT: `${statusPort}`,
      TP_DATA_DIR: dataDir,
    });
    proxy = `http://127.0.0.1:${proxyPort}`;
    status = `http://127.0.0.1:${statusPort}`;
    const admin = new AdminClient(`http://127.0.0.1:${adminPort}`, token);
    const up = await admin.create('/v1/upstreams', { name: 'echo', targets: [{ host: '127.0.0.1', port: upstream.port, weight: 100 }] });
    const svc = await admin.create('/v1/services', { name: 'choutage', upstream_id: up.id });
    serviceId = svc.id;
    await admin.create('/v1/routes', { name: 'choutage', service_id: svc.id, paths: ['/choutage'] });
    await waitFor('route on the node', async () => {
      const r = await request(`${proxy}/choutage/ready`);
      await r.body.text();
      return r.statusCode === 200;
    }, 30_000, 50);
  });

  after(async () => {
    await Promise.all([gateway?.stop(), ingester?.stop(), cp?.stop()]);
    await relay.down();
    await agent.close();
    await Promise.all([nats?.destroy(), db?.drop(), upstream?.close()]);
    await ch(`DROP DATABASE IF EXISTS ${chDatabase}`).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test(`${TOTAL} requests, ClickHouse unreachable from the ingester for ${OUTAGE_MS / 1000} s: every request id in ClickHouse exactly once`, { timeout: 60_000 }, async () => {
    const answered = new Set<string>();
    const failures: string[] = [];
    let next = 0;
    const t0 = Date.now();
    let atRecovery = { answered: 0, stored: 0 };
    const outage = (async () => {
      await new Promise((r) => setTimeout(r, OUTAGE_AT_MS));
      await relay.down();
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      // What ClickHouse holds just before it comes back: the records of the outage are still in JetStream.
      atRecovery = { answered: answered.size, stored: (await counts())[0] };
      await relay.up(relayPort);
    })();

    const worker = async (): Promise<void> => {
      for (;;) {
        const i = next++;
        if (i >= TOTAL) return;
        const wait = t0 + (i * SEND_SPREAD_MS) / TOTAL - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        try {
          const r = await request(`${proxy}/choutage/n/${i}`, { dispatcher: agent });
          await r.body.text();
          if (r.statusCode !== 200) failures.push(`${i}: ${r.statusCode}`);
          else answered.add(String(r.headers['x-request-id']));
        } catch (e) {
          failures.push(`${i}: ${(e as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const sentMs = Date.now() - t0;
    await outage;
    assert.deepEqual(failures.slice(0, 5), [], 'the gateway answers every request while ClickHouse is down');
    assert.equal(answered.size, TOTAL);
    assert.ok(
      atRecovery.stored < atRecovery.answered - 1_000,
      `records answered during the outage were not stored before ClickHouse came back: ${JSON.stringify(atRecovery)}`,
    );

    // The gateway side of the chain never noticed: every record handed to JetStream, none dropped or spooled
    // (the probe request before the load is one more record).
    const gw = await waitFor('gateway call log flushed', async () => {
      const m = await callLogMetrics();
      return (m.turnpike_gateway_call_log_sent_total ?? 0) >= TOTAL && m.turnpike_gateway_call_log_buffered === 0 ? m : null;
    }, 15_000, 100);
    assert.equal(gw.turnpike_gateway_call_log_dropped_total, 0);
    assert.equal(gw.turnpike_gateway_call_spool_records ?? 0, 0);

    const [final, ids] = await waitFor('every record in ClickHouse', async () => {
      const c = await counts();
      return c[0] >= TOTAL ? c : null;
    }, 30_000, 250).catch(async (e: Error) => {
      throw new Error(`${e.message}: [final, ids, raw] = ${JSON.stringify(await counts())}, at recovery ${JSON.stringify(atRecovery)}, gateway ${JSON.stringify(await callLogMetrics())}\ningester: ${ingester!.output().slice(-3000)}\ngateway: ${gateway!.output().slice(-2000)}`);
    });
    const drainedMs = Date.now() - t0;
    assert.equal(final, TOTAL, 'count() FINAL');
    assert.equal(ids, TOTAL, 'count(DISTINCT request_id)');
    const stored = new Set((await ch(`SELECT request_id FROM ${chDatabase}.calls FINAL WHERE ${load()} FORMAT JSONEachRow`)).map((r) => String(r.request_id)));
    assert.deepEqual([...answered].filter((id) => !stored.has(id)), [], 'no answered request id missing');
    assert.equal(stored.size, TOTAL, 'no request id that the gateway did not answer');

    // An insert cut by the outage after the server had written it is retried and leaves a second copy on
    // disk until ReplacingMergeTree merges it; every read uses FINAL. After a merge, one row per request.
    const rawBeforeMerge = (await counts())[2];
    await ch(`OPTIMIZE TABLE ${chDatabase}.calls FINAL`);
    const [, , raw] = await counts();
    assert.equal(raw, TOTAL, 'count() after the merge');
    assert.match(ingester!.output(), /ingester\.insert_failed/, 'the ingester saw the outage');
    console.log(
      `ClickHouse outage: ${TOTAL} requests in ${(sentMs / 1000).toFixed(1)} s, ClickHouse cut ${OUTAGE_MS / 1000} s; ` +
        `stored at recovery ${atRecovery.stored}/${atRecovery.answered} answered; all ${TOTAL} stored ${((drainedMs - sentMs) / 1000).toFixed(1)} s after the last request; ` +
        `rows before merge ${rawBeforeMerge}`,
    );
  });
});
