// The AI gateway through the real proxy port: the official SDKs (openai, @anthropic-ai/sdk, @google/genai)
// call a gateway started as a library on an in-process config bus, whose `ai` services reach local fake
// providers that speak each provider's wire format (fixtures/ai-providers.ts). Covers translation both
// ways (OpenAI API over Anthropic and Gemini), streaming chunk by chunk with usage, tool calls, fallback on
// 429 and 5xx (never after the first streamed byte), native passthrough, prompt templates as REST
// endpoints, the exact-match cache, usage and cost in the call record and X-Turnpike-Overhead-Ms.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import { request } from 'undici';
import { InProcessConfigBus, entityKey, generateSecretKey, keyringOf, seal, type CallRecord, type EntityKind, type LogSink } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { startGateway, type Gateway } from '../src/index.js';
import { startFakeAiProvider, wordCount, type FakeAiProvider } from './fixtures/ai-providers.js';

const now = new Date().toISOString();
const ring = keyringOf(generateSecretKey());
const PROVIDER_KEY = 'sk-provider-secret-0123456789';

describe('AI gateway through the proxy port', { timeout: 90_000 }, () => {
  const bus = new InProcessConfigBus();
  const records: CallRecord[] = [];
  const sink: LogSink = { write: async (b) => void records.push(...b), close: async () => undefined };
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-ai-'));
  let gw: Gateway;
  let rev = 0;
  const fakes: Record<string, FakeAiProvider> = {};
  const ids = {
    openai: randomUUID(),
    openai2: randomUUID(),
    anthropic: randomUUID(),
    gemini: randomUUID(),
    svcChat: randomUUID(),
    svcClaude: randomUUID(),
    svcGemini: randomUUID(),
    svcFallback: randomUUID(),
    svcTemplate: randomUUID(),
    svcCached: randomUUID(),
    tmpl: randomUUID(),
  };
  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));
  const provider = (id: string, name: string, type: string, baseUrl: string, models: Array<{ name: string; in: number; out: number; aliases?: string[] }>, extra: Record<string, unknown> = {}) =>
    put('ai_providers', {
      id,
      name,
      type,
      base_url: baseUrl,
      api_version: type === 'azure-openai' ? '2024-10-21' : null,
      aws: null,
      headers: {},
      models: models.map((m) => ({ name: m.name, input_cost_per_mtok: m.in, output_cost_per_mtok: m.out, ...(m.aliases ? { aliases: m.aliases } : {}) })),
      default_model: null,
      timeout_ms: 5_000,
      api_key_set: true,
      api_key_last4: '6789',
      secret: { api_key: seal(ring, PROVIDER_KEY, id), aws_secret_access_key: null },
      ...extra,
    });
  const service = (id: string, name: string, integration: Record<string, unknown>) => put('services', { id, name, base_path: '', integration: { type: 'ai', ...integration } });
  const route = (serviceId: string, path: string) => put('routes', { id: randomUUID(), name: `r${rev}`, service_id: serviceId, paths: [path] });
  const base = (p: string) => `http://127.0.0.1:${gw.proxyPort}${p}`;
  const recordFor = async (requestId: string): Promise<CallRecord> =>
    waitFor(`call record ${requestId}`, async () => records.find((r) => r.request_id === requestId) ?? null, 5_000);

  before(async () => {
    for (const k of ['openai', 'anthropic', 'gemini'] as const) fakes[k] = await startFakeAiProvider(k, { apiKey: PROVIDER_KEY });
    fakes.openai2 = await startFakeAiProvider('openai', { apiKey: PROVIDER_KEY });
    await provider(ids.openai, 'openai-main', 'openai', fakes.openai!.baseUrl, [{ name: 'gpt-4o-mini', in: 0.15, out: 0.6, aliases: ['fast'] }]);
    await provider(ids.openai2, 'openai-backup', 'openai', fakes.openai2!.baseUrl, [{ name: 'gpt-4o-mini', in: 0.15, out: 0.6 }, { name: 'text-embedding-3-small', in: 0.02, out: 0 }]);
    await provider(ids.anthropic, 'claude', 'anthropic', fakes.anthropic!.baseUrl, [{ name: 'claude-3-5-haiku-latest', in: 0.8, out: 4 }]);
    await provider(ids.gemini, 'gemini', 'gemini', fakes.gemini!.baseUrl, [{ name: 'gemini-2.0-flash', in: 0.1, out: 0.4 }]);
    await service(ids.svcChat, 'chat', { provider_ids: [ids.openai] });
    await route(ids.svcChat, '/openai');
    await service(ids.svcClaude, 'claude', { provider_ids: [ids.anthropic] });
    await route(ids.svcClaude, '/claude');
    await service(ids.svcGemini, 'gemini', { provider_ids: [ids.gemini] });
    await route(ids.svcGemini, '/gemini');
    await service(ids.svcFallback, 'fallback', { provider_ids: [ids.openai, ids.anthropic, ids.openai2], model: 'gpt-4o-mini' });
    await route(ids.svcFallback, '/fallback');
    await put('prompt_templates', {
      id: ids.tmpl,
      name: 'summarize',
      description: '',
      provider_id: ids.anthropic,
      model: 'claude-3-5-haiku-latest',
      messages: [
        { role: 'system', content: 'You summarize text in {{ words }} words.' },
        { role: 'user', content: 'Summarize: {{ text }}' },
      ],
      variables: [{ name: 'text', required: true, max_length: 1000 }, { name: 'words', required: false, default: 'ten' }],
      parameters: { temperature: 0.2, max_tokens: 200 },
    });
    await service(ids.svcTemplate, 'summarize', { provider_ids: [ids.anthropic], prompt_template_id: ids.tmpl });
    await route(ids.svcTemplate, '/summarize');
    await service(ids.svcCached, 'cached', { provider_ids: [ids.openai2], cache_ttl_s: 60 });
    await route(ids.svcCached, '/cached');
    gw = await startGateway({ nodeId: 'ai-1', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, keyring: ring, workers: 1 });
  });

  after(async () => {
    await gw?.close();
    for (const f of Object.values(fakes)) await f.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const openaiAt = (path: string) => new OpenAI({ apiKey: 'client-key-not-checked', baseURL: base(path), maxRetries: 0 });

  test('OpenAI SDK over an OpenAI provider: completion with usage, cost and overhead; the provider gets its own key and model', async () => {
    fakes.openai!.reset();
    const { data, response } = await openaiAt('/openai/v1')
      .chat.completions.create({ model: 'fast', messages: [{ role: 'user', content: 'hello there' }] })
      .withResponse();
    assert.equal(data.choices[0]!.message.content, 'echo: hello there');
    assert.equal(data.usage!.prompt_tokens, 2);
    assert.equal(data.usage!.completion_tokens, 3);
    const overhead = Number(response.headers.get('x-turnpike-overhead-ms'));
    assert.ok(Number.isFinite(overhead) && overhead >= 0 && overhead < 1000, `overhead ${overhead}`);
    const sent = fakes.openai!.requests[0]!;
    assert.equal(sent.headers.authorization, `Bearer ${PROVIDER_KEY}`, 'the provider key replaces the client credential');
    assert.equal(sent.body.model, 'gpt-4o-mini', 'the alias resolves to the listed model');
    const rec = await recordFor(response.headers.get('x-request-id')!);
    assert.equal(rec.status, 200);
    assert.equal(rec.ai_provider, 'openai-main');
    assert.equal(rec.ai_model, 'gpt-4o-mini');
    assert.equal(rec.ai_prompt_tokens, 2);
    assert.equal(rec.ai_completion_tokens, 3);
    assert.ok(Math.abs(rec.ai_cost_usd! - (2 * 0.15 + 3 * 0.6) / 1e6) < 1e-12, String(rec.ai_cost_usd));
  });

  test('OpenAI SDK streaming over an OpenAI provider: chunks as they come, usage only when asked, always recorded', async () => {
    const stream = await openaiAt('/openai/v1').chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'one two three' }] });
    const parts: string[] = [];
    let sawUsage = false;
    for await (const ch of stream) {
      if (ch.choices[0]?.delta.content) parts.push(ch.choices[0].delta.content);
      if (ch.usage) sawUsage = true;
    }
    assert.equal(parts.join(''), 'echo: one two three');
    assert.ok(parts.length >= 3, 'streamed in several chunks');
    assert.equal(sawUsage, false, 'no usage chunk unless stream_options.include_usage');
    assert.equal(fakes.openai!.requests.at(-1)!.body.stream_options.include_usage, true, 'usage is always asked of the provider');
    const withUsage = await openaiAt('/openai/v1').chat.completions.create({
      model: 'gpt-4o-mini',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'four five' }],
    });
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const ch of withUsage) if (ch.usage) usage = ch.usage;
    assert.equal(usage?.prompt_tokens, 2);
    assert.equal(usage?.completion_tokens, 3);
  });

  test('OpenAI SDK over Anthropic: system prompt, translation both ways, stop reason, tool calls (plain and streamed)', async () => {
    fakes.anthropic!.reset();
    const client = openaiAt('/claude/v1');
    const r = await client.chat.completions.create({
      model: 'claude-3-5-haiku-latest',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hi claude' },
      ],
    });
    assert.equal(r.choices[0]!.message.content, 'echo: hi claude');
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    assert.equal(r.object, 'chat.completion');
    const sent = fakes.anthropic!.requests[0]!;
    assert.equal(sent.path, '/v1/messages');
    assert.equal(sent.headers['x-api-key'], PROVIDER_KEY);
    assert.equal(sent.body.system, 'be brief');
    assert.deepEqual(sent.body.messages, [{ role: 'user', content: 'hi claude' }]);
    assert.equal(typeof sent.body.max_tokens, 'number', 'Anthropic requires max_tokens: the gateway sets one');

    const tools: OpenAI.ChatCompletionTool[] = [{ type: 'function', function: { name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    fakes.anthropic!.script({ kind: 'ok', toolCall: { name: 'get_weather', arguments: { city: 'Paris' } } });
    const t = await client.chat.completions.create({ model: 'claude-3-5-haiku-latest', tools, messages: [{ role: 'user', content: 'weather in Paris?' }] });
    assert.equal(t.choices[0]!.finish_reason, 'tool_calls');
    const call = t.choices[0]!.message.tool_calls![0]!;
    assert.equal(call.type === 'function' ? call.function.name : '', 'get_weather');
    assert.deepEqual(JSON.parse(call.type === 'function' ? call.function.arguments : '{}'), { city: 'Paris' });

    fakes.anthropic!.script({ kind: 'ok', toolCall: { name: 'get_weather', arguments: { city: 'Oslo' } } });
    const s = await client.chat.completions.create({ model: 'claude-3-5-haiku-latest', tools, stream: true, messages: [{ role: 'user', content: 'weather in Oslo?' }] });
    let args = '';
    let name = '';
    let finish: string | null = null;
    for await (const ch of s) {
      const d = ch.choices[0];
      if (!d) continue;
      for (const tc of d.delta.tool_calls ?? []) {
        if (tc.function?.name) name = tc.function.name;
        args += tc.function?.arguments ?? '';
      }
      if (d.finish_reason) finish = d.finish_reason;
    }
    assert.equal(name, 'get_weather');
    assert.deepEqual(JSON.parse(args), { city: 'Oslo' });
    assert.equal(finish, 'tool_calls');
  });

  test('OpenAI SDK over Gemini, streamed: Gemini chunks become OpenAI chunks with usage and cost recorded', async () => {
    const { data: stream, response } = await openaiAt('/gemini/v1')
      .chat.completions.create({ model: 'gemini-2.0-flash', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hola mundo' }] })
      .withResponse();
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const ch of stream) {
      text += ch.choices[0]?.delta.content ?? '';
      if (ch.usage) usage = ch.usage;
    }
    assert.equal(text, 'echo: hola mundo');
    assert.equal(usage?.prompt_tokens, 2);
    assert.equal(usage?.completion_tokens, 3);
    assert.match(fakes.gemini!.requests.at(-1)!.path, /^\/v1beta\/models\/gemini-2\.0-flash:streamGenerateContent\?alt=sse/);
    const rec = await recordFor(response.headers.get('x-request-id')!);
    assert.equal(rec.ai_provider, 'gemini');
    assert.equal(rec.ai_completion_tokens, 3);
    assert.ok(Math.abs(rec.ai_cost_usd! - (2 * 0.1 + 3 * 0.4) / 1e6) < 1e-12, String(rec.ai_cost_usd));
  });

  test('fallback: a 429 moves the call on to the next provider serving the model; a 400 does not', async () => {
    for (const f of [fakes.openai!, fakes.anthropic!, fakes.openai2!]) f.reset();
    fakes.openai!.script({ kind: 'error', status: 429, retryAfterS: 30 });
    const r = await openaiAt('/fallback/v1').chat.completions.create({ model: 'whatever-the-client-says', messages: [{ role: 'user', content: 'fall back' }] });
    assert.equal(r.choices[0]!.message.content, 'echo: fall back');
    assert.equal(fakes.openai!.requests.length, 1);
    assert.equal(fakes.anthropic!.requests.length, 0, 'the pinned model gpt-4o-mini is not offered by the Anthropic provider: skipped');
    assert.equal(fakes.openai2!.requests.length, 1);
    assert.equal(fakes.openai2!.requests[0]!.body.model, 'gpt-4o-mini', 'the service pins the model');

    fakes.openai!.script({ kind: 'error', status: 400, message: 'bad input' });
    await assert.rejects(
      openaiAt('/fallback/v1').chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'no fallback' }] }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.status === 400,
    );
    assert.equal(fakes.openai2!.requests.length, 1, 'an input error is not retried elsewhere');

    fakes.openai!.script({ kind: 'error', status: 429, retryAfterS: 7 });
    fakes.openai2!.script({ kind: 'error', status: 429, retryAfterS: 7 });
    const res = await request(base('/fallback/v1/chat/completions'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'all busy' }] }) });
    const body = (await res.body.json()) as { error: { type: string; code: string; request_id: string } };
    assert.equal(res.statusCode, 429, 'every provider throttled: the last one’s 429');
    assert.equal(res.headers['retry-after'], '7');
    assert.equal(body.error.request_id, res.headers['x-request-id']);
    const rec = await recordFor(String(res.headers['x-request-id']));
    assert.equal(rec.error_code, 'TP_ERR_AI_PROVIDER_REJECTED');
  });

  test('streams fall back before the first byte only: a cut after chunks went out ends the stream with an error event', async () => {
    for (const f of [fakes.openai!, fakes.openai2!]) f.reset();
    fakes.openai!.script({ kind: 'error', status: 503 });
    const ok = await openaiAt('/fallback/v1').chat.completions.create({ model: 'x', stream: true, messages: [{ role: 'user', content: 'alpha beta' }] });
    let text = '';
    for await (const ch of ok) text += ch.choices[0]?.delta.content ?? '';
    assert.equal(text, 'echo: alpha beta', 'a 503 before the stream began fell back');

    fakes.openai!.script({ kind: 'cut', afterChunks: 2 });
    const res = await request(base('/fallback/v1/chat/completions'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ stream: true, messages: [{ role: 'user', content: 'a b c d e f' }] }),
    });
    assert.equal(res.statusCode, 200);
    const raw = await res.body.text();
    assert.match(raw, /"content":"echo:/);
    assert.match(raw, /data: \{"error":\{/, 'the interruption is told in the stream');
    assert.doesNotMatch(raw, /\[DONE\]/);
    assert.equal(fakes.openai2!.requests.length, 1, 'no second provider after the first byte');
    const rec = await recordFor(String(res.headers['x-request-id']));
    assert.equal(rec.error_code, 'TP_ERR_AI_STREAM_INTERRUPTED');
  });

  test('native passthrough: the Anthropic SDK talks to Anthropic through the gateway (plain and streamed), usage recorded', async () => {
    const client = new Anthropic({ apiKey: 'client-key', baseURL: base('/claude'), maxRetries: 0 });
    const m = await client.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 100, messages: [{ role: 'user', content: 'native hello' }] });
    assert.equal(m.content[0]!.type === 'text' ? m.content[0]!.text : '', 'echo: native hello');
    assert.equal(fakes.anthropic!.requests.at(-1)!.headers['x-api-key'], PROVIDER_KEY);
    const stream = client.messages.stream({ model: 'claude-3-5-haiku-latest', max_tokens: 100, messages: [{ role: 'user', content: 'native stream' }] });
    const final = await stream.finalMessage();
    assert.equal(final.content[0]!.type === 'text' ? final.content[0]!.text : '', 'echo: native stream');
    assert.equal(final.usage.output_tokens, 3);
  });

  test('native passthrough for Gemini: the @google/genai SDK through the gateway', async () => {
    const ai = new GoogleGenAI({ apiKey: 'client-key', httpOptions: { baseUrl: base('/gemini') } });
    const r = await ai.models.generateContent({ model: 'gemini-2.0-flash', contents: 'native gemini' });
    assert.equal(r.text, 'echo: native gemini');
    assert.equal(fakes.gemini!.requests.at(-1)!.headers['x-goog-api-key'], PROVIDER_KEY);
  });

  test('a prompt template published as a REST endpoint: variables in, JSON out; missing variables are a 400 with field paths', async () => {
    fakes.anthropic!.reset();
    const res = await request(base('/summarize'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'the quick brown fox' }) });
    const body = (await res.body.json()) as { output: string; usage: { prompt_tokens: number; completion_tokens: number } };
    assert.equal(res.statusCode, 200);
    assert.equal(body.output, 'echo: Summarize: the quick brown fox');
    const sent = fakes.anthropic!.requests[0]!;
    assert.equal(sent.body.system, 'You summarize text in ten words.');
    assert.equal(sent.body.temperature, 0.2);
    assert.equal(sent.body.max_tokens, 200);
    assert.equal(body.usage.prompt_tokens, wordCount('You summarize text in ten words. Summarize: the quick brown fox'));
    const bad = await request(base('/summarize'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ words: 'five' }) });
    const err = (await bad.body.json()) as { error: { code: string; fields: Array<{ path: string }> } };
    assert.equal(bad.statusCode, 400);
    assert.equal(err.error.code, 'TP_ERR_VALIDATION');
    assert.deepEqual(err.error.fields.map((f) => f.path), ['/variables/text']);
  });

  test('exact-match cache: the same request is answered from the cache (no provider call, no tokens billed); another one is not', async () => {
    fakes.openai2!.reset();
    const client = openaiAt('/cached/v1');
    const ask = (content: string) => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] }).withResponse();
    const a = await ask('cache me');
    const b = await ask('cache me');
    const c = await ask('not me');
    assert.equal(a.response.headers.get('x-turnpike-cache'), 'MISS');
    assert.equal(b.response.headers.get('x-turnpike-cache'), 'HIT');
    assert.deepEqual(b.data, a.data);
    assert.equal(c.response.headers.get('x-turnpike-cache'), 'MISS');
    assert.equal(fakes.openai2!.requests.length, 2);
    const rec = await recordFor(b.response.headers.get('x-request-id')!);
    assert.equal(rec.ai_prompt_tokens ?? 0, 0);
    assert.equal(rec.ai_cost_usd ?? 0, 0);
    const e1 = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['x y'] });
    assert.equal(e1.data.length, 1);
  });

  test('errors in OpenAI’s shape: unknown model 404, bad JSON 400, wrong method 405, unknown endpoint 404; /models lists the models', async () => {
    await assert.rejects(
      openaiAt('/openai/v1').chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
      (e: unknown) => e instanceof OpenAI.NotFoundError && (e.error as { code?: string }).code === 'model_not_found',
    );
    const bad = await request(base('/openai/v1/chat/completions'), { method: 'POST', body: '{nope' });
    assert.equal(bad.statusCode, 400);
    assert.equal(((await bad.body.json()) as { error: { type: string } }).error.type, 'invalid_request_error');
    const noMessages = await request(base('/openai/v1/chat/completions'), { method: 'POST', body: JSON.stringify({ model: 'fast' }) });
    assert.equal(noMessages.statusCode, 400);
    assert.equal(((await noMessages.body.json()) as { error: { param: string } }).error.param, 'messages');
    const get = await request(base('/openai/v1/chat/completions'));
    assert.equal(get.statusCode, 405);
    await get.body.dump();
    const other = await request(base('/openai/v1/nothing-here'), { method: 'POST', body: '{}' });
    assert.equal(other.statusCode, 404);
    await other.body.dump();
    const models = await openaiAt('/openai/v1').models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      ['gpt-4o-mini', 'fast'],
    );
  });

  test('the overhead metric counts AI calls', async () => {
    const res = await request(`http://127.0.0.1:${gw.statusPort}/metrics`);
    const text = await res.body.text();
    const m = /turnpike_ai_overhead_seconds_count (\d+)/.exec(text);
    assert.ok(m && Number(m[1]) > 5, 'overhead observed');
  });

  test('a service pinned to template version 1 keeps answering with it while an unpinned one follows version 2; a version the node lacks is a 503', async () => {
    const tmpl = randomUUID();
    const pinnedSvc = randomUUID();
    const currentSvc = randomUUID();
    const content = (version: number, greeting: string) => ({
      version,
      provider_id: ids.anthropic,
      model: 'claude-3-5-haiku-latest',
      messages: [{ role: 'user', content: `${greeting} {{ name }}` }],
      variables: [{ name: 'name', required: true }],
      parameters: { max_tokens: 50 },
    });
    // As the control plane publishes a template: the current version's fields and number, and `versions`
    // holding the current version and every version a service pins.
    const publish = async (current: ReturnType<typeof content>, versions: Array<ReturnType<typeof content>>) =>
      await put('prompt_templates', { id: tmpl, name: 'greet', description: '', ...current, versions_count: current.version, versions });
    const applied = async () => {
      const want = rev;
      await waitFor(`revision ${want} applied`, async () => (gw.snapshot().revision >= want ? true : null), 5_000);
    };
    const ask = async (path: string) => {
      const res = await request(base(path), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Ada' }) });
      return { status: res.statusCode, body: (await res.body.json()) as { output?: string; error?: { code: string } } };
    };
    const v1 = content(1, 'Hello');
    const v2 = content(2, 'Goodbye');
    await publish(v1, [v1]);
    await service(pinnedSvc, 'greet-pinned', { provider_ids: [ids.anthropic], prompt_template_id: tmpl, prompt_template_version: 1 });
    await route(pinnedSvc, '/greet-v1');
    await service(currentSvc, 'greet-current', { provider_ids: [ids.anthropic], prompt_template_id: tmpl });
    await route(currentSvc, '/greet');
    await applied();
    assert.equal((await ask('/greet-v1')).body.output, 'echo: Hello Ada');
    assert.equal((await ask('/greet')).body.output, 'echo: Hello Ada');

    await publish(v2, [v1, v2]);
    await applied();
    const unpinned = await ask('/greet');
    assert.equal(unpinned.status, 200);
    assert.equal(unpinned.body.output, 'echo: Goodbye Ada', 'the unpinned service follows the current version');
    const pinned = await ask('/greet-v1');
    assert.equal(pinned.status, 200);
    assert.equal(pinned.body.output, 'echo: Hello Ada', 'the pinned service keeps version 1');

    await service(pinnedSvc, 'greet-pinned', { provider_ids: [ids.anthropic], prompt_template_id: tmpl, prompt_template_version: 3 });
    await applied();
    const missing = await ask('/greet-v1');
    assert.equal(missing.status, 503);
    assert.equal(missing.body.error?.code, 'TP_ERR_AI_PROVIDER_UNAVAILABLE');
  });

  test('cached prompt tokens: recorded and billed at the cached price, plain over OpenAI and streamed over Anthropic', async () => {
    const oa = randomUUID();
    const an = randomUUID();
    const oaSvc = randomUUID();
    const anSvc = randomUUID();
    // gpt-4o's and claude-sonnet-4-5's list prices: cached input at half and a tenth of the input price.
    await provider(oa, 'openai-priced', 'openai', fakes.openai!.baseUrl, [], {
      models: [{ name: 'gpt-4o', input_cost_per_mtok: 2.5, output_cost_per_mtok: 10, cached_input_cost_per_mtok: 1.25 }],
    });
    await provider(an, 'claude-priced', 'anthropic', fakes.anthropic!.baseUrl, [], {
      models: [{ name: 'claude-sonnet-4-5', input_cost_per_mtok: 3, output_cost_per_mtok: 15, cached_input_cost_per_mtok: 0.3 }],
    });
    await service(oaSvc, 'openai-priced', { provider_ids: [oa] });
    await route(oaSvc, '/priced-openai');
    await service(anSvc, 'claude-priced', { provider_ids: [an] });
    await route(anSvc, '/priced-claude');
    const want = rev;
    await waitFor(`revision ${want} applied`, async () => (gw.snapshot().revision >= want ? true : null), 5_000);

    // OpenAI reports cached tokens inside prompt_tokens (prompt_tokens_details.cached_tokens).
    fakes.openai!.script({ kind: 'ok', promptTokens: 1117, completionTokens: 46, cachedTokens: 1024 });
    const { data, response } = await openaiAt('/priced-openai/v1')
      .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'a long shared prefix' }] })
      .withResponse();
    assert.equal(data.usage!.prompt_tokens_details?.cached_tokens, 1024);
    const rec = await recordFor(response.headers.get('x-request-id')!);
    assert.deepEqual([rec.ai_model, rec.ai_prompt_tokens, rec.ai_completion_tokens, rec.ai_cached_tokens], ['gpt-4o', 1117, 46, 1024]);
    // (93 × 2.5 + 1024 × 1.25 + 46 × 10) / 1e6; at the full input price it would be 0.0032525.
    assert.equal(rec.ai_cost_usd, 0.0019725);

    // None cached: the field is there and 0, the cost all at the input price.
    fakes.openai!.script({ kind: 'ok', promptTokens: 1117, completionTokens: 46 });
    const plain = await openaiAt('/priced-openai/v1').chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }).withResponse();
    const plainRec = await recordFor(plain.response.headers.get('x-request-id')!);
    assert.equal(plainRec.ai_cached_tokens, 0);
    assert.equal(plainRec.ai_cost_usd, 0.0032525);

    // Anthropic reports them beside input_tokens (cache_read_input_tokens, in message_start); the stream is
    // translated to OpenAI chunks and the usage chunk carries the cached count.
    fakes.anthropic!.script({ kind: 'ok', promptTokens: 2000, completionTokens: 5, cachedTokens: 1500 });
    const { data: stream, response: sres } = await openaiAt('/priced-claude/v1')
      .chat.completions.create({ model: 'claude-sonnet-4-5', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi again claude' }] })
      .withResponse();
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const ch of stream) if (ch.usage) usage = ch.usage;
    assert.deepEqual([usage?.prompt_tokens, usage?.completion_tokens, usage?.prompt_tokens_details?.cached_tokens], [2000, 5, 1500]);
    const srec = await recordFor(sres.headers.get('x-request-id')!);
    assert.deepEqual([srec.ai_provider, srec.ai_prompt_tokens, srec.ai_completion_tokens, srec.ai_cached_tokens], ['claude-priced', 2000, 5, 1500]);
    // (500 × 3 + 1500 × 0.3 + 5 × 15) / 1e6
    assert.equal(srec.ai_cost_usd, 0.002025);
  });
});
