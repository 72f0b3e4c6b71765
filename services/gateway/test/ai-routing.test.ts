// How the AI gateway picks and retries providers, through the real proxy port: retries of the same
// provider on 5xx, a provider that never answers (timeout → the next one, or 504 when none is left), the
// weighted and least-busy strategies, Azure OpenAI's deployment URL and key header, and a provider whose
// key this node cannot open (skipped; 503 when it is the only one).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { request } from 'undici';
import { InProcessConfigBus, entityKey, generateSecretKey, keyringOf, seal, type CallRecord, type EntityKind, type LogSink } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { startGateway, type Gateway } from '../src/index.js';
import { startFakeAiProvider, type FakeAiProvider } from './fixtures/ai-providers.js';

const now = new Date().toISOString();
const ring = keyringOf(generateSecretKey());
const otherRing = keyringOf(generateSecretKey());
const KEY = 'sk-routing-provider-0123456789';

describe('AI provider selection through the proxy port', { timeout: 60_000 }, () => {
  const bus = new InProcessConfigBus();
  const records: CallRecord[] = [];
  const sink: LogSink = { write: async (b) => void records.push(...b), close: async () => undefined };
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-ai-routing-'));
  let gw: Gateway;
  let rev = 0;
  let a: FakeAiProvider;
  let b: FakeAiProvider;
  let azure: FakeAiProvider;
  const ids = { a: randomUUID(), b: randomUUID(), azure: randomUUID(), sealedElsewhere: randomUUID() };
  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));
  const provider = (id: string, name: string, type: string, baseUrl: string, extra: Record<string, unknown> = {}) =>
    put('ai_providers', {
      id,
      name,
      type,
      base_url: baseUrl,
      api_version: type === 'azure-openai' ? '2024-10-21' : null,
      aws: null,
      headers: {},
      models: [{ name: 'gpt-4o-mini', input_cost_per_mtok: 1, output_cost_per_mtok: 2 }],
      default_model: 'gpt-4o-mini',
      timeout_ms: 5_000,
      api_key_set: true,
      api_key_last4: null,
      secret: { api_key: seal(ring, KEY, id), aws_secret_access_key: null },
      ...extra,
    });
  const serve = async (path: string, integration: Record<string, unknown>) => {
    const svc = randomUUID();
    await put('services', { id: svc, name: `s${rev}`, base_path: '', integration: { type: 'ai', ...integration } });
    await put('routes', { id: randomUUID(), name: `r${rev}`, service_id: svc, paths: [path] });
  };
  const client = (path: string) => new OpenAI({ apiKey: 'x', baseURL: `http://127.0.0.1:${gw.proxyPort}${path}`, maxRetries: 0 });
  const ask = (path: string, content = 'hi') => client(path).chat.completions.create({ messages: [{ role: 'user', content }], model: '' });

  before(async () => {
    a = await startFakeAiProvider('openai', { apiKey: KEY });
    b = await startFakeAiProvider('openai', { apiKey: KEY });
    azure = await startFakeAiProvider('azure-openai', { apiKey: KEY });
    await provider(ids.a, 'a', 'openai', a.baseUrl, { timeout_ms: 400 });
    await provider(ids.b, 'b', 'openai', b.baseUrl);
    await provider(ids.azure, 'azure', 'azure-openai', azure.baseUrl);
    await provider(ids.sealedElsewhere, 'foreign', 'openai', b.baseUrl, { secret: { api_key: seal(otherRing, KEY, ids.sealedElsewhere), aws_secret_access_key: null } });
    await serve('/retry', { provider_ids: [ids.a, ids.b], retries: 2 });
    await serve('/timeout', { provider_ids: [ids.a, ids.b] });
    await serve('/timeout-only', { provider_ids: [ids.a] });
    await serve('/weighted', { provider_ids: [ids.a, ids.b], strategy: 'weighted', weights: [0, 1] });
    await serve('/least-busy', { provider_ids: [ids.a, ids.b], strategy: 'least-busy' });
    await serve('/azure', { provider_ids: [ids.azure] });
    await serve('/foreign', { provider_ids: [ids.sealedElsewhere, ids.b] });
    await serve('/foreign-only', { provider_ids: [ids.sealedElsewhere] });
    gw = await startGateway({ nodeId: 'ai-routing', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, keyring: ring, workers: 1 });
  });

  after(async () => {
    await gw?.close();
    for (const f of [a, b, azure]) await f?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('retries: two 500s from the same provider are retried there before anything else', async () => {
    a.reset();
    b.reset();
    a.script({ kind: 'error', status: 500 }, { kind: 'error', status: 500 });
    const r = await ask('/retry', 'third time');
    assert.equal(r.choices[0]!.message.content, 'echo: third time');
    assert.equal(a.requests.length, 3);
    assert.equal(b.requests.length, 0);
  });

  test('a provider that does not answer within its timeout: the next one answers; alone, 504 in OpenAI’s shape', async () => {
    a.reset();
    b.reset();
    a.script({ kind: 'hang' });
    const t0 = Date.now();
    const r = await ask('/timeout', 'slow');
    assert.equal(r.choices[0]!.message.content, 'echo: slow');
    assert.ok(Date.now() - t0 >= 350, 'waited for the timeout');
    a.script({ kind: 'hang' });
    const res = await request(`http://127.0.0.1:${gw.proxyPort}/timeout-only/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }) });
    const body = (await res.body.json()) as { error: { code: string; type: string } };
    assert.equal(res.statusCode, 504);
    assert.equal(body.error.code, 'TP_ERR_AI_PROVIDER_TIMEOUT');
  });

  test('weighted: a zero weight is never drawn first (it stays a fallback)', async () => {
    a.reset();
    b.reset();
    for (let i = 0; i < 10; i++) await ask('/weighted');
    assert.equal(a.requests.length, 0);
    assert.equal(b.requests.length, 10);
  });

  test('least-busy: while one provider holds slow calls, new calls go to the other', async () => {
    a.reset();
    b.reset();
    a.script({ kind: 'ok', delayMs: 300 });
    // Both idle: the first call goes to a (listed first) and stays there 300 ms; every call meanwhile finds a busy.
    const slow = ask('/least-busy');
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 4; i++) await ask('/least-busy');
    await slow;
    assert.equal(a.requests.length, 1);
    assert.equal(b.requests.length, 4);
  });

  test('Azure OpenAI: deployment URL with api-version, api-key header', async () => {
    const r = await ask('/azure', 'azure hello');
    assert.equal(r.choices[0]!.message.content, 'echo: azure hello');
    const sent = azure.requests.at(-1)!;
    assert.equal(sent.path, '/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21');
    assert.equal(sent.headers['api-key'], KEY);
    assert.equal(sent.headers.authorization, undefined);
  });

  test('a provider whose key this node cannot open is skipped; alone it makes a 503 that says why', async () => {
    b.reset();
    const r = await ask('/foreign', 'skip it');
    assert.equal(r.choices[0]!.message.content, 'echo: skip it');
    const res = await request(`http://127.0.0.1:${gw.proxyPort}/foreign-only/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }) });
    const body = (await res.body.json()) as { error: { code: string; message: string } };
    assert.equal(res.statusCode, 503);
    assert.equal(body.error.code, 'TP_ERR_AI_PROVIDER_UNAVAILABLE');
    assert.match(body.error.message, /cannot be opened/);
  });

  test('a client that leaves mid-stream: the provider call is aborted, the record says 499 with the tokens seen', async () => {
    b.reset();
    b.script({ kind: 'ok', text: 'one two three four five six seven eight', chunkDelayMs: 150 });
    const res = await request(`http://127.0.0.1:${gw.proxyPort}/weighted/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ stream: true, messages: [{ role: 'user', content: 'leave early' }] }),
    });
    const requestId = String(res.headers['x-request-id']);
    for await (const chunk of res.body) {
      if (String(chunk).includes('"content"')) break;
    }
    res.body.destroy();
    const rec = await waitFor('call record of the abandoned stream', async () => records.find((r) => r.request_id === requestId) ?? null, 5_000);
    assert.equal(rec.status, 499);
    assert.equal(rec.error_code, 'TP_ERR_CLIENT_CLOSED');
    assert.equal(rec.ai_provider, 'b');
    // The gateway still serves (the aborted provider call left nothing behind).
    assert.equal((await ask('/weighted', 'after')).choices[0]!.message.content, 'echo: after');
  });
});
