// Three gateway nodes (real `turnpike gateway` processes) behind haproxy (infra/lb/haproxy.cfg.tmpl) with a
// control plane, an ingester and their stores, under steady load while one dependency at a time goes away:
// PostgreSQL (a private server, stopped), ClickHouse (reached through a relay that is cut, so the shared
// server keeps serving other suites), the control plane (SIGKILL). The nodes never touch those on the hot
// path, so not one request may fail; after recovery a config change written through the admin API reaches
// every node, and the call log holds every answered request id exactly once. Last, a cluster-wide rate limit
// through haproxy: the three nodes together admit the limit within 5 %.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { freePort, startPrivateNats, TcpRelay, testEnv, uniqueName, waitFor, type PrivateNats } from '@turnpike/common/testing';
import { startProcess, type Running } from './support/process.js';
import { AdminClient } from './support/admin-client.js';
import { startEchoUpstream, type EchoUpstream } from './support/upstream.js';
import { startHaproxy, type GatewayBackend, type Haproxy } from './support/haproxy.js';
import { startPrivatePostgres, type PrivatePostgres } from './support/postgres.js';
import { steadyLoad, type LoadResult } from './support/steady-load.js';

interface Node extends GatewayBackend {
  run: Running;
}

const LOAD_MS = 5_000;
const FAULT_AT_MS = 1_000;
const RATE_LIMIT = 300;

describe('three gateway nodes behind haproxy: PostgreSQL, ClickHouse and the control plane down in turn under load', { timeout: 115_000 }, () => {
  const env = testEnv();
  const cluster = uniqueName('lbstores');
  const chDatabase = uniqueName('tp_lbstores');
  const token = `tpa_${randomBytes(24).toString('base64url')}`;
  const dir = mkdtempSync(join(tmpdir(), 'tp-lbstores-'));
  const chRelay = new TcpRelay(new URL(env.clickhouseUrl));
  let chRelayPort = 0;
  let pg: PrivatePostgres;
  let nats: PrivateNats;
  let upstream: EchoUpstream;
  let cp: Running | undefined;
  let cpEnv: Record<string, string>;
  let ingester: Running | undefined;
  let lb: Haproxy | undefined;
  let admin: AdminClient;
  let serviceId = '';
  const nodes: Node[] = [];

  const startControlPlane = (): Promise<Running> => startProcess(['control-plane'], cpEnv);

  /** A statement straight to the shared ClickHouse (not through the relay); JSONEachRow rows back. */
  const ch = async (query: string): Promise<Record<string, string | number>[]> => {
    const r = await request(`${env.clickhouseUrl}/?wait_end_of_query=1`, { method: 'POST', body: query });
    const text = await r.body.text();
    if (r.statusCode !== 200) throw new Error(`ClickHouse ${r.statusCode}: ${text.slice(0, 300)}`);
    return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, string | number>);
  };

  before(async () => {
    [pg, nats, upstream] = await Promise.all([startPrivatePostgres(), startPrivateNats(), startEchoUpstream('lbstores-echo')]);
    chRelayPort = await chRelay.up(0);
    const [adminPort, grpcPort] = [await freePort(), await freePort()];
    const common = { TP_NATS_URL: nats.url, TP_CLUSTER: cluster };
    cpEnv = { ...common, TP_PG_URL: pg.url, TP_ADMIN_PORT: `${adminPort}`, TP_GRPC_PORT: `${grpcPort}`, TP_BOOTSTRAP_TOKEN: token };
    [cp, ingester] = await Promise.all([
      startControlPlane(),
      // Retries at most 1 s apart, so the ingester catches up quickly once ClickHouse is back (default 30 s).
      startProcess(['ingester'], { ...common, TP_CLICKHOUSE_URL: `http://127.0.0.1:${chRelayPort}`, TP_CLICKHOUSE_DATABASE: chDatabase, TP_INGEST_RETRY_MAX_MS: '1000' }),
    ]);
    admin = new AdminClient(`http://127.0.0.1:${adminPort}`, token);
    const up = await admin.create('/v1/upstreams', { name: 'echo', targets: [{ host: '127.0.0.1', port: upstream.port, weight: 100 }] });
    const svc = await admin.create('/v1/services', { name: 'lbstores', upstream_id: up.id });
    serviceId = svc.id;
    await admin.create('/v1/routes', { name: 'obs', service_id: svc.id, paths: ['/obs'] });
    const rl = await admin.create('/v1/routes', { name: 'limited', service_id: svc.id, paths: ['/limited'] });
    await admin.create('/v1/plugins', {
      type: 'rate-limiting',
      scope: { route_id: rl.id },
      config: { limits: [{ key: 'header', header_name: 'x-tenant', algorithm: 'sliding-window', requests: RATE_LIMIT, per: 'minute' }] },
    });

    nodes.push(
      ...(await Promise.all(
        ['st-a', 'st-b', 'st-c'].map(async (name): Promise<Node> => {
          const [proxyPort, statusPort] = [await freePort(), await freePort()];
          const run = await startProcess(['gateway'], {
            ...common,
            TP_NODE_ID: name,
            TP_PROXY_HOST: '127.0.0.1',
            TP_PROXY_PORT: `${proxyPort}`,
            TP_STATUS_PORT: `${statusPort}`,
            TP_HTTPS_PORT: '-1',
            TP_DATA_DIR: join(dir, name),
            TP_WORKERS: '1',
          });
          return { name, proxyPort, statusPort, run };
        }),
      )),
    );
    for (const n of nodes) {
      await waitFor(`${n.name} serves /obs`, async () => {
        const r = await request(`http://127.0.0.1:${n.proxyPort}/obs/ready`);
        await r.body.dump();
        return r.statusCode === 200;
      }, 20_000);
    }
    lb = await startHaproxy(dir, await freePort(), nodes);
    await waitFor('haproxy routes to a node', async () => {
      const r = await request(`http://127.0.0.1:${lb!.port}/obs/ready`);
      await r.body.dump();
      return r.statusCode === 200;
    }, 10_000);
  });

  after(async () => {
    await lb?.stop();
    await Promise.all([...nodes.map((n) => n.run.stop('SIGTERM', 5_000)), ingester?.stop(), cp?.stop()]);
    await chRelay.down();
    await Promise.all([nats?.destroy(), pg?.destroy(), upstream?.close()]);
    await ch(`DROP DATABASE IF EXISTS ${chDatabase}`).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  const load = async (phase: string, what: string, during: () => void): Promise<LoadResult> => {
    const r = await steadyLoad({ baseUrl: `http://127.0.0.1:${lb!.port}`, pathPrefix: `/obs/${phase}`, ms: LOAD_MS, atMs: FAULT_AT_MS, during, expectBody: '"upstream":"lbstores-echo"' });
    console.log(
      `# ${what}: ${r.ok} requests in ${r.seconds.toFixed(1)} s (${(r.ok / r.seconds).toFixed(0)}/s) through haproxy to 3 nodes, fault at ${FAULT_AT_MS} ms, ${r.failures.length} failed, slowest ${r.slowestMs.toFixed(0)} ms`,
    );
    assert.deepEqual(r.failures.slice(0, 5), [], `${r.failures.length} requests failed`);
    assert.ok(r.ok > 200, `steady load: ${r.ok} requests`);
    return r;
  };

  /** POST /v1/routes on the service; "<status> <body head>", or "no answer: …" after `timeoutMs`. */
  const postRoute = (name: string, timeoutMs: number): Promise<string> =>
    request(`${admin.baseUrl}/v1/routes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, service_id: serviceId, paths: [`/${name}`] }),
      headersTimeout: timeoutMs,
    }).then(
      async (r) => `${r.statusCode} ${(await r.body.text()).slice(0, 200)}`,
      (e: Error) => `no answer: ${e.message}`,
    );

  /**
   * A route written through the admin API (retried while the control plane reconnects) served by every node;
   * ms from the first try to the write's 201, and from there to the last node serving it.
   */
  const configChangeReachesEveryNode = async (phase: string, writeWithinMs = 20_000): Promise<{ writeMs: number; propagateMs: number; refused: string }> => {
    const t0 = Date.now();
    const refused = new Map<string, number>();
    await waitFor(`the control plane accepts a write after ${phase}`, async () => {
      // Each try bounded: a write can wait for a pool connection while the control plane catches up.
      const r = await postRoute(`after-${phase}`, 10_000);
      // 409: an earlier try was committed but its answer lost.
      if (r.startsWith('201 ') || r.startsWith('409 ')) return true;
      const why = r.slice(0, 40);
      refused.set(why, (refused.get(why) ?? 0) + 1);
      return false;
    }, writeWithinMs, 200);
    const written = Date.now();
    for (const n of nodes) {
      await waitFor(`${n.name} serves the route added after ${phase}`, async () => {
        const r = await request(`http://127.0.0.1:${n.proxyPort}/after-${phase}`);
        await r.body.dump();
        return r.statusCode === 200;
      }, 20_000);
    }
    return { writeMs: written - t0, propagateMs: Date.now() - written, refused: [...refused].map(([k, n]) => `${n}× ${k}`).join(', ') || 'none' };
  };

  /** Waits until ClickHouse holds the phase's records; every answered request id exactly once, no other. */
  const callLogConverges = async (phase: string, sent: LoadResult): Promise<number> => {
    const t0 = Date.now();
    const where = `service_id = '${serviceId}' AND path LIKE '/obs/${phase}/%'`;
    const counts = async (): Promise<{ final: number; ids: number }> => {
      const [r] = await ch(`SELECT (SELECT count() FROM ${chDatabase}.calls FINAL WHERE ${where}) AS final, (SELECT uniqExact(request_id) FROM ${chDatabase}.calls WHERE ${where}) AS ids FORMAT JSONEachRow`);
      return { final: Number(r!.final), ids: Number(r!.ids) };
    };
    const c = await waitFor(`${phase}: ${sent.ok} records in ClickHouse`, async () => {
      const x = await counts().catch(() => ({ final: 0, ids: 0 }));
      // Both, as the two subqueries may see different parts while inserts land (no snapshot across them).
      return x.ids >= sent.ok && x.final >= sent.ok ? x : null;
    }, 30_000, 250).catch(async (e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(await counts().catch(() => null))}\ningester: ${ingester!.output().slice(-2000)}`);
    });
    assert.equal(c.ids, sent.ok, 'distinct request ids in ClickHouse = requests answered');
    assert.equal(c.final, sent.ok, 'one row per request id (FINAL)');
    const stored = new Set((await ch(`SELECT request_id FROM ${chDatabase}.calls FINAL WHERE ${where} FORMAT JSONEachRow`)).map((r) => String(r.request_id)));
    assert.deepEqual([...sent.requestIds].filter((id) => !stored.has(id)).slice(0, 5), [], 'every answered request id is stored');
    return Date.now() - t0;
  };

  test(`cluster rate limit of ${RATE_LIMIT}/min through haproxy over 3 nodes: total admitted within 5 %`, async () => {
    for (const n of nodes) {
      await waitFor(`${n.name} hears its 2 peers`, async () => {
        const m = /^turnpike_gateway_rate_limit_sync_nodes (\d+)/m.exec(await (await request(`http://127.0.0.1:${n.statusPort}/metrics`)).body.text());
        return m && Number(m[1]) === 3 ? true : null;
      }, 15_000, 100);
    }
    const total = RATE_LIMIT * 3;
    const tenant = uniqueName('tenant');
    let next = 0;
    const byStatus = new Map<number, number>();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        while (next < total) {
          next++;
          const r = await request(`http://127.0.0.1:${lb!.port}/limited`, { headers: { 'x-tenant': tenant } });
          await r.body.dump();
          byStatus.set(r.statusCode, (byStatus.get(r.statusCode) ?? 0) + 1);
        }
      }),
    );
    const ms = performance.now() - t0;
    const admitted = byStatus.get(200) ?? 0;
    const refused = byStatus.get(429) ?? 0;
    const served = await Promise.all(
      nodes.map(async (n) => {
        const m = /^turnpike_gateway_requests_total\{status_class="2xx"\} (\d+)/m.exec(await (await request(`http://127.0.0.1:${n.statusPort}/metrics`)).body.text());
        return `${n.name} ${m ? m[1] : '?'}`;
      }),
    );
    console.log(
      `# rate limit ${RATE_LIMIT}/min, 3 nodes behind haproxy: sent ${total} in ${ms.toFixed(0)} ms, admitted ${admitted} (${((100 * (admitted - RATE_LIMIT)) / RATE_LIMIT).toFixed(1)} %), refused ${refused}; 2xx so far per node: ${served.join(', ')}`,
    );
    assert.equal(admitted + refused, total, `only 200 and 429: ${JSON.stringify([...byStatus])}`);
    assert.ok(Math.abs(admitted - RATE_LIMIT) <= RATE_LIMIT * 0.05, `admitted ${admitted}, limit ${RATE_LIMIT}`);
  });

  test('PostgreSQL stopped under load: 0 failed requests; after it is back a config change reaches every node and the call log holds every request', async () => {
    let stopped: Promise<void> = Promise.resolve();
    const sent = await load('pg', 'PostgreSQL down', () => {
      stopped = pg.stop();
    });
    await stopped;
    assert.equal(cp!.proc.exitCode, null, `the control plane survives the outage:\n${cp!.output().slice(-2000)}`);
    // The outage is real: a write fails (or gets no answer) while PostgreSQL is down.
    const down = await postRoute('while-pg-down', 3_000);
    assert.ok(!down.startsWith('2'), `a write while PostgreSQL is down fails: ${down}`);
    await pg.start();
    // The publisher and the quota aggregator (catching up on the outage's call batches) have a pool of their
    // own and pool connections retry within 0.5 s, so the first write answers within about a second
    // (test/control-plane-pg-outage.test.ts holds that bound; this allows for the loaded machine).
    const config = await configChangeReachesEveryNode('pg', 5_000);
    const logMs = await callLogConverges('pg', sent);
    // What the control plane logged as failing meanwhile (its pool's users: admin API, publisher, quota aggregator).
    const failed = new Map<string, number>();
    for (const m of cp!.output().matchAll(/"event":"([\w.]*(?:fail|error)[\w.]*)"/g)) failed.set(m[1]!, (failed.get(m[1]!) ?? 0) + 1);
    console.log(`# PostgreSQL outage, control plane log: ${[...failed].map(([k, n]) => `${k} ×${n}`).join(', ') || 'no failures'}`);
    console.log(
      `# PostgreSQL down: a write answered ${down.slice(0, 60)}; back: admin write accepted ${config.writeMs} ms after the first try (refused before: ${config.refused}), on all 3 nodes ${config.propagateMs} ms later; ${sent.ok}/${sent.ok} records in ClickHouse ${logMs} ms after that (0 lost)`,
    );
  });

  test('ClickHouse unreachable under load: 0 failed requests; after it is back every record arrives once and config changes still land', async () => {
    let cut: Promise<void> = Promise.resolve();
    const sent = await load('ch', 'ClickHouse unreachable', () => {
      cut = chRelay.down();
    });
    await cut;
    const where = `service_id = '${serviceId}' AND path LIKE '/obs/ch/%'`;
    const [before] = await ch(`SELECT count() AS n FROM ${chDatabase}.calls WHERE ${where} FORMAT JSONEachRow`);
    await chRelay.up(chRelayPort);
    const logMs = await callLogConverges('ch', sent);
    const config = await configChangeReachesEveryNode('ch');
    assert.match(ingester!.output(), /insert_failed/, 'the ingester saw the outage');
    console.log(`# ClickHouse back: ${before!.n} of ${sent.ok} records stored before it came back, all ${sent.ok} (0 lost, 0 doubled) ${logMs} ms after; config change on all 3 nodes ${config.writeMs + config.propagateMs} ms after the write`);
  });

  test('control plane SIGKILLed under load: 0 failed requests; a restarted one writes a config change that reaches every node', async () => {
    const sent = await load('cp', 'control plane killed', () => cp!.proc.kill('SIGKILL'));
    const t0 = Date.now();
    cp = await startControlPlane();
    const restartMs = Date.now() - t0;
    const config = await configChangeReachesEveryNode('cp');
    const logMs = await callLogConverges('cp', sent);
    console.log(
      `# control plane restarted in ${restartMs} ms; config change on all 3 nodes ${config.writeMs + config.propagateMs} ms after its first write; ${sent.ok}/${sent.ok} records in ClickHouse ${logMs} ms after (0 lost)`,
    );
  });
});
