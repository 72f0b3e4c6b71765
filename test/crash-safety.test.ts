// Crash safety of config publication: writes committed in PostgreSQL while the control plane cannot
// publish (NATS down), then the control plane SIGKILLed before it ever published them. A fresh control
// plane must publish them from the outbox on start, and the gateway node must converge to that revision.
// Real `turnpike` processes on a private nats-server and a database of the test's own.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { createTestDatabase, freePort, startPrivateNats, uniqueName, waitFor, type PrivateNats } from '@turnpike/common/testing';
import { startProcess, type Running } from './support/process.js';
import { AdminClient } from './support/admin-client.js';
import { startEchoUpstream, type EchoUpstream } from './support/upstream.js';

interface Readyz {
  ready: boolean;
  revision: number;
  nats_connected: boolean;
  counts: Record<string, number> | null;
  rejected: unknown[];
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const r = await request(url, { headersTimeout: 5_000, bodyTimeout: 5_000 });
  return { status: r.statusCode, body: await r.body.text() };
}

describe('crash between commit and publish', { timeout: 120_000 }, () => {
  const cluster = uniqueName('crash');
  const token = `tpa_${randomBytes(24).toString('base64url')}`;
  let nats: PrivateNats;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let upstream: EchoUpstream;
  let dataDir: string;
  let cp: Running | undefined;
  let gateway: Running | undefined;
  let cpEnv: Record<string, string>;
  let admin: AdminClient;
  let proxy: string;
  let status: string;

  const readyz = async (): Promise<Readyz> => JSON.parse((await get(`${status}/readyz`)).body) as Readyz;
  const proxied = async (path: string): Promise<number> => (await get(`${proxy}${path}`)).status;
  const cpStatus = async (): Promise<{ config_revision: number; published_revision: number; unpublished_outbox_rows: number }> =>
    (await admin.call('GET', '/v1/status')).body;

  before(async () => {
    [nats, db, upstream] = await Promise.all([startPrivateNats(), createTestDatabase('tp_crash'), startEchoUpstream('crash-echo')]);
    dataDir = mkdtempSync(join(tmpdir(), 'tp-crash-gw-'));
    const [adminPort, grpcPort, proxyPort, statusPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    cpEnv = { TP_PG_URL: db.url, TP_NATS_URL: nats.url, TP_CLUSTER: cluster, TP_ADMIN_PORT: `${adminPort}`, TP_GRPC_PORT: `${grpcPort}`, TP_BOOTSTRAP_TOKEN: token };
    cp = await startProcess(['control-plane'], cpEnv, 30_000);
    gateway = await startProcess(
      ['gateway'],
      { TP_NATS_URL: nats.url, TP_CLUSTER: cluster, TP_NODE_ID: 'crash-node', TP_PROXY_HOST: '127.0.0.1', TP_PROXY_PORT: `${proxyPort}`, TP_STATUS_PORT: `${statusPort}`, TP_DATA_DIR: dataDir },
      30_000,
    );
    admin = new AdminClient(`http://127.0.0.1:${adminPort}`, token);
    proxy = `http://127.0.0.1:${proxyPort}`;
    status = `http://127.0.0.1:${statusPort}`;
  });

  after(async () => {
    await Promise.all([gateway?.stop('SIGTERM', 5_000), cp?.stop('SIGTERM', 5_000)]);
    await Promise.all([nats?.destroy(), db?.drop(), upstream?.close()]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('writes committed while NATS is down survive a SIGKILL of the control plane and reach the node', { timeout: 60_000 }, async () => {
    const up = await admin.create('/v1/upstreams', { name: 'echo', targets: [{ host: '127.0.0.1', port: upstream.port }] });
    const svc = await admin.create('/v1/services', { name: 'crash', upstream_id: up.id });
    const moving = await admin.create('/v1/routes', { name: 'moving', service_id: svc.id, paths: ['/before'] });
    const before = await cpStatus();
    await waitFor('the node at the first revision', async () => (await readyz()).revision === before.config_revision, 20_000, 50);
    assert.equal(await proxied('/before'), 200);

    // NATS goes away: the control plane still commits writes (PostgreSQL is the source of truth) but cannot publish.
    await nats.stop();
    await waitFor('the node to notice NATS is gone', async () => (await readyz()).nats_connected === false, 20_000, 50);
    const created = await admin.call('POST', '/v1/routes', { name: 'after-crash', service_id: svc.id, paths: ['/after-crash'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const patched = await admin.call('PATCH', `/v1/routes/${moving.id}`, { paths: ['/moved'] });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const consumer = await admin.call('POST', '/v1/consumers', { username: 'crash-c' });
    assert.equal(consumer.status, 201);
    const pending = await cpStatus();
    assert.equal(pending.config_revision, before.config_revision + 3);
    assert.ok(pending.published_revision < pending.config_revision, `unpublished while NATS is down: ${JSON.stringify(pending)}`);
    assert.ok(pending.unpublished_outbox_rows >= 3);

    // The control plane dies before it could publish; NATS comes back; a new control plane starts.
    assert.equal(await cp!.stop('SIGKILL'), null, 'killed, not exited');
    cp = undefined;
    assert.equal(await proxied('/after-crash'), 404, 'the node has not seen the unpublished route');
    await nats.start();
    cp = await startProcess(['control-plane'], cpEnv, 30_000);

    const after = await waitFor('everything published by the new control plane', async () => {
      const s = await cpStatus();
      return s.published_revision === s.config_revision && s.unpublished_outbox_rows === 0 ? s : null;
    }, 20_000, 100);
    assert.equal(after.config_revision, pending.config_revision, 'no write was lost or repeated');
    const node = await waitFor('the node to converge to the same revision', async () => {
      const r = await readyz();
      return r.revision === after.config_revision ? r : null;
    }, 30_000, 100);
    assert.equal(node.ready, true);
    assert.equal(node.nats_connected, true);
    assert.equal(await proxied('/after-crash'), 200, 'the route created before the crash is served');
    assert.equal(await proxied('/moved'), 200, 'the update made before the crash is served');
    assert.equal(await proxied('/before'), 404, 'the old path is gone');
    // The node holds exactly what PostgreSQL holds: same number of entities of every kind, none rejected.
    const want: Record<string, number> = {};
    for (const kind of ['upstreams', 'services', 'routes', 'consumers']) want[kind] = (await admin.call('GET', `/v1/${kind}?limit=1000`)).body.data.length;
    const { keys: _keys, ...counts } = node.counts ?? {};
    assert.deepEqual(counts, want);
    assert.deepEqual(node.rejected, []);
  });

  test('SIGKILL in the middle of a burst of writes: whatever committed is published after restart', { timeout: 60_000 }, async (t) => {
    const svc = (await admin.call('GET', '/v1/services?limit=10')).body.data[0];
    const total = 120;
    let answered = 0;
    let killed: Promise<number | null> | undefined;
    const burst = Array.from({ length: total }, async (_, i) => {
      try {
        const r = await admin.call('POST', '/v1/routes', { name: `burst-${i}`, service_id: svc.id, paths: [`/burst/${i}`] });
        if (r.status !== 201) throw new Error(`POST → ${r.status} ${JSON.stringify(r.body)}`);
        return true;
      } catch (err) {
        // Requests the kill cut off: they may or may not have committed; PostgreSQL says which.
        if (killed) return false;
        throw err;
      } finally {
        // Kill while writes are still arriving and the publisher is busy with the earlier ones.
        if (++answered === total / 3) killed = cp!.stop('SIGKILL');
      }
    });
    const results = await Promise.all(burst);
    assert.ok(killed, 'the control plane was killed during the burst');
    assert.equal(await killed, null);
    cp = undefined;
    const acknowledged = results.filter(Boolean).length;

    cp = await startProcess(['control-plane'], cpEnv, 30_000);
    const s = await waitFor('everything published after the restart', async () => {
      const st = await cpStatus();
      return st.published_revision === st.config_revision && st.unpublished_outbox_rows === 0 ? st : null;
    }, 20_000, 100);
    const routes = (await admin.call('GET', '/v1/routes?limit=1000')).body.data as Array<{ name: string; paths: string[] }>;
    const burstRoutes = routes.filter((r) => r.name.startsWith('burst-'));
    assert.ok(burstRoutes.length >= acknowledged, `every acknowledged write committed (${burstRoutes.length} ≥ ${acknowledged})`);
    const node = await waitFor('the node to converge', async () => {
      const r = await readyz();
      return r.revision === s.config_revision ? r : null;
    }, 30_000, 100);
    // What the new process found to publish at start (depends on where the kill landed; logged for the record).
    const publishedAtStart = cp.output().split('\n').filter((l) => l.includes('"config_published"')).length;
    t.diagnostic(`burst: ${acknowledged} acknowledged, ${burstRoutes.length} committed; publish batches by the restarted control plane: ${publishedAtStart}`);
    assert.equal(node.counts?.routes, routes.length, 'the node has every route PostgreSQL has');
    for (const r of burstRoutes.slice(0, 10).concat(burstRoutes.slice(-10))) assert.equal(await proxied(r.paths[0]!), 200, r.paths[0]);
  });

  test('a write after recovery propagates normally', { timeout: 30_000 }, async () => {
    const svc = (await admin.call('GET', '/v1/services?limit=10')).body.data[0];
    await admin.create('/v1/routes', { name: 'post-recovery', service_id: svc.id, paths: ['/post-recovery'] });
    const s = await cpStatus();
    await waitFor('the node at the new revision', async () => (await readyz()).revision === s.config_revision, 15_000, 50);
    assert.equal(await proxied('/post-recovery'), 200);
  });
});
