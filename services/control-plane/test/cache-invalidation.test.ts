// Cache invalidation end to end: POST /v1/cache/invalidations on an in-process control plane publishes on
// NATS; a real gateway process (two proxy worker threads) drops the matching proxy-cache entries, and the
// next request goes to the upstream again (counted there). Also the endpoint's validation, 404s and RBAC.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsCacheInvalidationChannel, NatsKvConfigBus, configBucketName } from '@turnpike/common';
import { freePort, testEnv, waitFor } from '@turnpike/common/testing';
import { destroyBucket, startHarness, type Harness } from './support.js';

const GATEWAY_MAIN = fileURLToPath(new URL('../../../gateway/dist/src/main.js', import.meta.url));

describe('cache invalidation: admin API → NATS → gateway proxy-cache', { timeout: 120_000 }, () => {
  let nc: NatsConnection;
  let h: Harness;
  let gw: ChildProcess | null = null;
  let upstream: Server;
  let proxyPort = 0;
  // One keep-alive connection: every request reaches the same proxy worker, hence the same store.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const hits = new Map<string, number>();
  const gwOutput: string[] = [];
  const cluster = `ci_${randomUUID().slice(0, 8)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-ci-'));
  let serviceId = '';
  let routeId = '';

  const get = (path: string): Promise<{ status: number; xCache: string; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: proxyPort, path, agent, timeout: 5_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, xCache: String(res.headers['x-cache'] ?? ''), body }));
      });
      req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
      req.on('error', reject);
      req.end();
    });

  before(async () => {
    upstream = createServer((req, res) => {
      const n = (hits.get(req.url!) ?? 0) + 1;
      hits.set(req.url!, n);
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`${req.url} #${n}`);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const upstreamPort = (upstream.address() as { port: number }).port;

    nc = await connect({ servers: testEnv().natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const bus = await NatsKvConfigBus.open(nc, configBucketName(cluster));
    h = await startHarness({ bus, cacheInvalidation: new NatsCacheInvalidationChannel(() => nc, cluster) });

    const up = await h.rest('POST', '/v1/upstreams', { name: 'ci-up', targets: [{ host: '127.0.0.1', port: upstreamPort }] });
    assert.equal(up.status, 201, up.text);
    const svc = await h.rest('POST', '/v1/services', { name: 'ci-svc', upstream_id: up.json.id });
    assert.equal(svc.status, 201, svc.text);
    serviceId = svc.json.id;
    const route = await h.rest('POST', '/v1/routes', { name: 'ci-route', service_id: serviceId, paths: ['/cached'] });
    assert.equal(route.status, 201, route.text);
    routeId = route.json.id;
    const plugin = await h.rest('POST', '/v1/plugins', { type: 'proxy-cache', scope: { service_id: serviceId }, config: { ttl_s: 60 } });
    assert.equal(plugin.status, 201, plugin.text);

    proxyPort = await freePort();
    gw = spawn(process.execPath, [GATEWAY_MAIN], {
      env: {
        ...process.env,
        TP_NATS_URL: testEnv().natsUrl,
        TP_CLUSTER: cluster,
        TP_NODE_ID: `gw-${cluster}`,
        TP_PROXY_HOST: '127.0.0.1',
        TP_PROXY_PORT: String(proxyPort),
        TP_STATUS_PORT: String(await freePort()),
        TP_HTTPS_PORT: '-1',
        TP_DATA_DIR: dataDir,
        TP_WORKERS: '2',
        TP_CACHE_MAX_BYTES: String(4 * 1024 * 1024),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    gw.stdout!.on('data', (d: Buffer) => gwOutput.push(d.toString()));
    gw.stderr!.on('data', (d: Buffer) => gwOutput.push(d.toString()));
    await waitFor('gateway ready line', () => gwOutput.join('').includes('"event":"ready"'), 20_000);
    // The route (and its plugin) reached the node: the first cacheable answer comes back as a MISS.
    await waitFor('route served with proxy-cache', async () => (await get('/cached/warm')).xCache !== '', 20_000);
  });

  after(async () => {
    agent.destroy();
    if (gw && gw.exitCode === null && gw.signalCode === null) {
      const p = gw;
      await new Promise<void>((r) => {
        p.once('exit', () => r());
        p.kill('SIGTERM');
        setTimeout(() => {
          p.kill('SIGKILL');
          r();
        }, 10_000).unref();
      });
    }
    await h?.close();
    await destroyBucket(nc, configBucketName(cluster));
    await nc?.close();
    await new Promise<void>((r) => upstream.close(() => r()));
    upstream.closeAllConnections();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Caches `path` (MISS then HIT), invalidates with `body`, and proves the next request goes upstream. */
  async function cachedThenInvalidated(path: string, body: Record<string, unknown>): Promise<void> {
    const before = hits.get(path) ?? 0;
    assert.equal((await get(path)).xCache, 'MISS');
    const hit = await get(path);
    assert.equal(hit.xCache, 'HIT');
    assert.equal(hit.body, `${path} #${before + 1}`);
    assert.equal(hits.get(path), before + 1);
    const r = await h.rest('POST', '/v1/cache/invalidations', body);
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.status, 'accepted');
    // Core NATS delivers within milliseconds; bounded wait for the node to drop the entry.
    await waitFor('entry dropped', async () => (await get(path)).xCache === 'MISS', 5_000).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; gateway log: ${gwOutput.join('').split('\n').filter((l) => l.includes('cache') || l.includes('error')).slice(-8).join(' | ')}`);
    });
    assert.equal(hits.get(path), before + 2);
    assert.equal((await get(path)).xCache, 'HIT');
  }

  it('by service_id: the node drops the service\'s entries and the next request reaches the upstream', async () => {
    await cachedThenInvalidated('/cached/a', { service_id: serviceId });
  });

  it('by route_id', async () => {
    await cachedThenInvalidated('/cached/b', { route_id: routeId.toUpperCase() });
  });

  it('by path prefix (within the tenant\'s services); entries outside the prefix stay', async () => {
    assert.equal((await get('/cached/other')).xCache, 'MISS');
    await cachedThenInvalidated('/cached/c', { prefix: '/cached/c' });
    assert.equal((await get('/cached/other')).xCache, 'HIT');
  });

  it('refuses a body without exactly one target (400), an unknown service or route (404)', async () => {
    for (const body of [{}, { service_id: serviceId, prefix: '/x' }, { prefix: 'no-slash' }, { service_id: serviceId, extra: 1 }]) {
      const r = await h.rest('POST', '/v1/cache/invalidations', body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.json.error.code, 'TP_ERR_VALIDATION');
    }
    for (const body of [{ service_id: randomUUID() }, { route_id: randomUUID() }]) {
      const r = await h.rest('POST', '/v1/cache/invalidations', body);
      assert.equal(r.status, 404, r.text);
    }
  });

  it('needs write access to services: a viewer and a services:read token get 403, a services:write editor 202', async () => {
    const viewer = await h.rest('POST', '/v1/tokens', { name: 'ci-viewer', role: 'viewer' });
    const reader = await h.rest('POST', '/v1/tokens', { name: 'ci-reader', role: 'editor', scopes: [{ resource: 'services', access: 'read' }] });
    const writer = await h.rest('POST', '/v1/tokens', { name: 'ci-writer', role: 'editor', scopes: [{ resource: 'services', access: 'write' }] });
    for (const t of [viewer, reader, writer]) assert.equal(t.status, 201, t.text);
    for (const [t, status] of [
      [viewer, 403],
      [reader, 403],
      [writer, 202],
    ] as const) {
      const r = await h.rest('POST', '/v1/cache/invalidations', { service_id: serviceId }, { authorization: `Bearer ${t.json.token}` });
      assert.equal(r.status, status, r.text);
    }
  });

  it('is in the OpenAPI document', async () => {
    const doc = await h.rest('GET', '/v1/openapi.json');
    assert.ok(doc.json.paths['/v1/cache/invalidations'].post);
  });
});
