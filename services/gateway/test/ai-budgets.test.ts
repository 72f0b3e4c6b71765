// AI budgets through the proxy port of two gateway nodes that share one ledger in the real NATS
// (TP_TEST_NATS_URL), the second with two worker threads that reach the ledger through their primary: 100 concurrent calls against a consumer budget of 10 requests per day → exactly 10
// reach the provider, 90 get 429 TP_ERR_AI_BUDGET_EXCEEDED with Retry-After; a token budget is charged
// what calls actually used (the reservation's estimate is given back), so sequential calls stop exactly
// when the spent tokens plus the next estimate pass the limit; a node without a ledger refuses budgeted
// calls with 503 and serves unbudgeted ones.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { request } from 'undici';
import {
  InProcessConfigBus,
  NatsBudgetLedgerStore,
  budgetLedgerKey,
  budgetPeriodStart,
  entityKey,
  generateSecretKey,
  keyringOf,
  seal,
  type EntityKind,
  type LedgerRecord,
  type LogSink,
} from '@turnpike/common';
import { testEnv, waitFor } from '@turnpike/common/testing';
import { BudgetLedger, startGateway, type Gateway } from '../src/index.js';
import { startFakeAiProvider, type FakeAiProvider } from './fixtures/ai-providers.js';

const now = new Date().toISOString();
const ring = keyringOf(generateSecretKey());
const PROVIDER_KEY = 'sk-budget-provider-0123456789';
const KEYS = { racer: 'racer-key-0123456789abcdef', counter: 'counter-key-0123456789abcd', free: 'free-key-0123456789abcdefg', other: 'other-key-0123456789abcdef' };

describe('AI budgets through two gateway nodes sharing a NATS ledger', { timeout: 60_000 }, () => {
  const bus = new InProcessConfigBus();
  const sink: LogSink = { write: async () => undefined, close: async () => undefined };
  const dirs: string[] = [];
  const nodes: Gateway[] = [];
  const conns: NatsConnection[] = [];
  let fake: FakeAiProvider;
  let rev = 0;
  // A cluster name of its own: the ledger's buckets are per cluster, so reruns and other suites never share keys.
  const cluster = `budget-e2e-${randomUUID().slice(0, 8)}`;
  const ids = { tenant: randomUUID(), tenantSvc: randomUUID(), provider: randomUUID(), svc: randomUUID(), racer: randomUUID(), counter: randomUUID(), free: randomUUID(), keyAuth: randomUUID() };
  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));
  const consumer = async (id: string, username: string, key: string) => {
    await put('consumers', { id, username });
    await put('keys', { id: randomUUID(), consumer_id: id, key_sha256: createHash('sha256').update(key).digest('hex') });
  };
  const budgetIds: Record<string, string> = {};
  const budget = (scopeId: string, limits: Record<string, number>) =>
    put('ai_budgets', { id: (budgetIds[scopeId] = randomUUID()), name: `b${rev}`, description: '', scope: { type: 'consumer', id: scopeId }, period: 'day', limits, enabled: true });
  /** Settling happens after the answer (it never delays the client): wait until the ledger holds no open reservation. */
  const settled = async (scopeId: string): Promise<void> => {
    const store = new NatsBudgetLedgerStore(conns[0]!, cluster);
    const key = budgetLedgerKey(budgetIds[scopeId]!, budgetPeriodStart('day', Date.now()));
    await waitFor('reservations settled', async () => {
      const e = await store.get('day', key);
      return e.value !== null && (JSON.parse(e.value) as LedgerRecord).reservations.length === 0 ? true : null;
    }, 5_000);
  };
  const call = async (node: Gateway, key: string, body: string) => {
    const r = await request(`http://127.0.0.1:${node.proxyPort}/llm/v1/chat/completions`, { method: 'POST', headers: { apikey: key, 'content-type': 'application/json' }, body });
    const text = await r.body.text();
    return { status: r.statusCode, retryAfter: r.headers['retry-after'], json: JSON.parse(text) as { error?: { code: string; type: string } } };
  };

  before(async () => {
    fake = await startFakeAiProvider('openai', { apiKey: PROVIDER_KEY });
    await put('ai_providers', {
      id: ids.provider,
      name: 'p',
      type: 'openai',
      base_url: fake.baseUrl,
      api_version: null,
      aws: null,
      headers: {},
      models: [{ name: 'gpt-4o-mini', input_cost_per_mtok: 1, output_cost_per_mtok: 1 }],
      default_model: 'gpt-4o-mini',
      timeout_ms: 10_000,
      api_key_set: true,
      api_key_last4: null,
      secret: { api_key: seal(ring, PROVIDER_KEY, ids.provider), aws_secret_access_key: null },
    });
    await put('services', { id: ids.svc, name: 'llm', base_path: '', integration: { type: 'ai', provider_ids: [ids.provider] } });
    await put('routes', { id: randomUUID(), name: 'llm', service_id: ids.svc, paths: ['/llm'], plugins: { 'key-auth': {} } });
    await consumer(ids.racer, 'racer', KEYS.racer);
    await consumer(ids.counter, 'counter', KEYS.counter);
    await consumer(ids.free, 'free', KEYS.free);
    await consumer(randomUUID(), 'other', KEYS.other);
    await budget(ids.racer, { requests: 10 });
    await budget(ids.counter, { tokens: 40 });
    // A tenant's budget counts every call to its services, whoever makes them.
    await put('services', { id: ids.tenantSvc, name: 'tenant-llm', base_path: '', tenant_id: ids.tenant, integration: { type: 'ai', provider_ids: [ids.provider] } });
    await put('routes', { id: randomUUID(), name: 'tenant-llm', service_id: ids.tenantSvc, paths: ['/tenant-llm'], plugins: { 'key-auth': {} } });
    await put('ai_budgets', { id: randomUUID(), name: 'tenant', description: '', scope: { type: 'tenant', id: ids.tenant }, period: 'day', limits: { requests: 2 }, enabled: true });
    for (let i = 0; i < 2; i++) {
      const nc = await connect({ servers: testEnv().natsUrl, name: `ai-budget-node-${i}` });
      conns.push(nc);
      const dataDir = mkdtempSync(join(tmpdir(), `tp-gw-ai-budget-${i}-`));
      dirs.push(dataDir);
      const budgetLedger = BudgetLedger.overNats(nc, cluster, { nodeId: `budget-node-${i}` });
      nodes.push(await startGateway({ nodeId: `budget-node-${i}`, bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, keyring: ring, workers: i + 1, budgetLedger }));
    }
  });

  after(async () => {
    for (const n of nodes) await n.close();
    for (const c of conns) await c.close();
    await fake?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('100 concurrent calls on two nodes against a budget of 10 requests: exactly 10 reach the provider, the rest get 429', async () => {
    fake.reset();
    // Every call holds its reservation while the provider thinks, so none has finished when the last one asks.
    fake.script(...Array.from({ length: 100 }, () => ({ kind: 'ok' as const, delayMs: 300 })));
    const body = JSON.stringify({ messages: [{ role: 'user', content: 'race' }], max_tokens: 5 });
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => call(nodes[i % 2]!, KEYS.racer, body)));
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    assert.equal(ok.length, 10, `statuses: ${JSON.stringify(results.map((r) => r.status))}`);
    assert.equal(refused.length, 90);
    assert.equal(fake.requests.length, 10, 'refused calls never reach the provider');
    for (const r of refused) {
      assert.equal(r.json.error?.code, 'TP_ERR_AI_BUDGET_EXCEEDED');
      assert.equal(r.json.error?.type, 'insufficient_quota');
      assert.ok(Number(r.retryAfter) >= 1, 'Retry-After: seconds to the end of the day');
    }
    fake.reset();
  });

  test('a token budget is charged what calls used: the estimate is given back, so calls stop at the limit', async () => {
    const body = JSON.stringify({ messages: [{ role: 'user', content: 'count me please' }], max_tokens: 5 });
    // Reserved per call: the body's bytes / 4 as prompt tokens plus max_tokens; charged: the usage reported.
    const estimate = Math.ceil(Buffer.byteLength(body) / 4) + 5;
    let spent = 0;
    let passed = 0;
    for (let i = 0; i < 6; i++) {
      const r = await call(nodes[i % 2]!, KEYS.counter, body);
      if (r.status === 200) await settled(ids.counter);
      const fits = spent + estimate <= 40;
      assert.equal(r.status, fits ? 200 : 429, `call ${i}: spent ${spent}, estimate ${estimate}`);
      if (r.status === 200) {
        passed++;
        spent += (r.json as unknown as { usage: { total_tokens: number } }).usage.total_tokens;
      }
    }
    assert.ok(passed >= 2 && passed < 6, `estimates alone (${estimate} each) would let ${Math.floor(40 / estimate)} through; usage let ${passed}`);
    assert.ok(passed > Math.floor(40 / estimate), 'settling gave back what the estimate over-reserved');
  });

  test('a tenant budget (2 requests a day) counts the calls of every consumer to the tenant’s services', async () => {
    const body = JSON.stringify({ messages: [{ role: 'user', content: 'tenant' }] });
    const at = async (key: string) => {
      const r = await request(`http://127.0.0.1:${nodes[0]!.proxyPort}/tenant-llm/v1/chat/completions`, { method: 'POST', headers: { apikey: key }, body });
      await r.body.dump();
      return r.statusCode;
    };
    assert.deepEqual([await at(KEYS.free), await at(KEYS.other), await at(KEYS.free)], [200, 200, 429]);
  });

  test('a consumer without a budget is not metered; a node without a ledger refuses budgeted calls with 503', async () => {
    const body = JSON.stringify({ messages: [{ role: 'user', content: 'free' }] });
    for (let i = 0; i < 3; i++) assert.equal((await call(nodes[0]!, KEYS.free, body)).status, 200);
    const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-ai-budget-none-'));
    dirs.push(dataDir);
    const bare = await startGateway({ nodeId: 'budget-none', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, keyring: ring, workers: 1, budgetLedger: null });
    nodes.push(bare);
    const r = await call(bare, KEYS.counter, body);
    assert.equal(r.status, 503);
    assert.equal(r.json.error?.code, 'TP_ERR_AI_BUDGET_UNAVAILABLE');
    assert.equal((await call(bare, KEYS.free, body)).status, 200);
  });
});
