// Upstream algorithms, the total timeout and not-yet-served integrations, through the real proxy port of an
// embedded gateway, with two real upstream servers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { InProcessConfigBus, entityKey, type EntityKind, type LogSink } from '@turnpike/common';
import { startGateway, type Gateway } from '../src/index.js';

const now = new Date().toISOString();

describe('upstream policies through the proxy', { timeout: 60_000 }, () => {
  const bus = new InProcessConfigBus();
  const sink: LogSink = { write: async () => undefined, close: async () => undefined };
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-pol-'));
  const servers: Server[] = [];
  const ports: number[] = [];
  let gw: Gateway;
  let rev = 0;
  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));
  const url = (p: string) => `http://127.0.0.1:${gw.proxyPort}${p}`;

  /** An upstream plus a service and a route at `/<path>` for it. */
  const expose = async (path: string, upstream: Record<string, unknown> | null, service: Record<string, unknown> = {}): Promise<void> => {
    const up = randomUUID();
    const svc = randomUUID();
    if (upstream) await put('upstreams', { id: up, name: `up-${path}`, ...upstream });
    await put('services', { id: svc, name: `svc-${path}`, ...(upstream ? { upstream_id: up } : {}), ...service });
    await put('routes', { id: randomUUID(), name: `r-${path}`, service_id: svc, paths: [`/${path}`] });
  };
  const both = () => ports.map((port) => ({ host: '127.0.0.1', port }));

  before(async () => {
    for (const name of ['one', 'two']) {
      const s = createServer((req, res) => {
        req.resume();
        const delay = req.url?.includes('slow') ? 2_000 : 0;
        setTimeout(() => res.end(name), delay);
      });
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
      servers.push(s);
      ports.push((s.address() as AddressInfo).port);
    }
    await expose('hash', { targets: both(), algorithm: 'consistent-hash', hash_on: { source: 'header', name: 'X-User' } });
    await expose('random', { targets: both(), algorithm: 'random' });
    await expose('least', { targets: both(), algorithm: 'least-connections' });
    await expose('budget', { targets: both().slice(0, 1), connect_timeout_ms: 200, total_timeout_ms: 300 });
    await expose('lambda', null, { integration: { type: 'lambda', function_name: 'fn', region: 'us-east-1', timeout_ms: 1_000, payload_format: '2.0', invocation_type: 'RequestResponse' } });
    await expose('ai', null, { integration: { type: 'ai', provider_ids: [] } });
    const wsUp = randomUUID();
    await put('upstreams', { id: wsUp, name: 'up-ws', targets: both() });
    await expose('ws', null, { integration: { type: 'websocket', upstream_id: wsUp, idle_timeout_ms: 60_000 } });
    gw = await startGateway({ nodeId: 'pol-1', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0 });
  });

  after(async () => {
    await gw?.close();
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  const get = async (path: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> => {
    const r = await request(url(path), { headers });
    return { status: r.statusCode, text: await r.body.text() };
  };

  test('consistent-hash on a header pins each user to one of two real upstreams, and uses both', async () => {
    const byUser = new Map<string, Set<string>>();
    for (let u = 0; u < 24; u++) {
      const user = `user-${u}`;
      const seen = new Set<string>();
      for (let i = 0; i < 5; i++) {
        const r = await get('/hash', { 'x-user': user });
        assert.equal(r.status, 200);
        seen.add(r.text);
      }
      byUser.set(user, seen);
    }
    for (const [user, seen] of byUser) assert.equal(seen.size, 1, `${user} went to ${[...seen].join(' and ')}`);
    const used = new Set([...byUser.values()].map((s) => [...s][0]));
    assert.deepEqual([...used].sort(), ['one', 'two']);
    // Without the header the upstream is balanced round-robin.
    const rr = new Set([(await get('/hash')).text, (await get('/hash')).text]);
    assert.equal(rr.size, 2);
  });

  test('random and least-connections spread over both upstreams', async () => {
    for (const path of ['/random', '/least']) {
      const counts = new Map<string, number>();
      for (let i = 0; i < 40; i++) {
        const r = await get(path);
        counts.set(r.text, (counts.get(r.text) ?? 0) + 1);
      }
      assert.equal(counts.size, 2, `${path}: ${JSON.stringify(Object.fromEntries(counts))}`);
    }
  });

  test('least-connections sends new requests to the idle upstream while the other is busy', async () => {
    // One slow request holds a target; every request after it, one at a time, finds the other idle.
    const slow = get('/least/slow');
    await new Promise((r) => setTimeout(r, 200));
    const during = new Set<string>();
    for (let i = 0; i < 10; i++) during.add((await get('/least')).text);
    const slowServed = (await slow).text;
    assert.equal(during.size, 1, `went to ${[...during].join(' and ')}`);
    assert.notEqual([...during][0], slowServed, 'the busy upstream got none of them');
  });

  test('total_timeout_ms cuts a slow exchange with 504 TP_ERR_UPSTREAM_TIMEOUT', async () => {
    const t0 = performance.now();
    const r = await get('/budget/slow');
    const ms = performance.now() - t0;
    assert.equal(r.status, 504);
    assert.equal((JSON.parse(r.text) as { error: { code: string } }).error.code, 'TP_ERR_UPSTREAM_TIMEOUT');
    assert.ok(ms < 1_500, `answered after ${ms.toFixed(0)} ms (budget 300, upstream 2000)`);
    assert.equal((await get('/budget')).status, 200, 'a fast exchange within the budget is served');
  });

  test('a lambda service on a node without AWS credentials answers 502 TP_ERR_LAMBDA_CREDENTIALS_MISSING; an ai one is the AI gateway’s; a websocket one 426 to plain HTTP', async () => {
    // The function integration itself: test/lambda-integration.test.ts. The test environment has no AWS credentials.
    const r = await get('/lambda');
    assert.equal(r.status, 502);
    const body = JSON.parse(r.text) as { error: { code: string; message: string; request_id: string } };
    assert.equal(body.error.code, 'TP_ERR_LAMBDA_CREDENTIALS_MISSING');
    assert.match(body.error.message, /lambda/);
    assert.ok(body.error.request_id);
    // The AI runtime answers (test/ai-gateway.test.ts): a GET of the service root is no AI endpoint.
    const ai = await get('/ai');
    assert.equal(ai.status, 404);
    assert.equal((JSON.parse(ai.text) as { error: { code: string; type: string } }).error.code, 'TP_ERR_ROUTE_NOT_FOUND');
    // WebSocket proxying itself: test/websocket-proxy.test.ts.
    const ws = await get('/ws');
    assert.equal(ws.status, 426);
    assert.equal((JSON.parse(ws.text) as { error: { code: string } }).error.code, 'TP_ERR_UPGRADE_REQUIRED');
  });
});
