// Fidelity of the fake LLM providers (test/fixtures/ai-providers.ts): each official SDK is pointed
// straight at its fake and must parse answers, streams, tool calls, embeddings and errors exactly as it
// parses the real provider's. The gateway's AI tests rely on these fakes, so they are proven here first.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { AzureOpenAI } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { ApiError, GoogleGenAI } from '@google/genai';
import { fakeEmbedding, startFakeAiProvider, type FakeAiProvider } from './fixtures/ai-providers.js';

const KEY = 'sk-test-0123456789';
const weatherArgs = { city: 'Paris', unit: 'celsius', days: 3 };

/** Drains an async iterable, returning what arrived and the error that ended it, if any. */
async function drain<T>(it: AsyncIterable<T>): Promise<{ items: T[]; error: unknown }> {
  const items: T[] = [];
  try {
    for await (const x of it) items.push(x);
    return { items, error: undefined };
  } catch (error) {
    return { items, error };
  }
}

describe('fake OpenAI provider through the openai SDK', { timeout: 20_000 }, () => {
  let fake: FakeAiProvider;
  let client: OpenAI;
  before(async () => {
    fake = await startFakeAiProvider('openai', { apiKey: KEY });
    client = new OpenAI({ apiKey: KEY, baseURL: fake.baseUrl, maxRetries: 0 });
  });
  after(() => fake.close());

  test('non-stream chat echoes the last user message with word-count usage and is recorded', async () => {
    fake.reset();
    const r = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'first question' },
        { role: 'assistant', content: 'first answer' },
        { role: 'user', content: [{ type: 'text', text: 'hello there world' }] },
      ],
    });
    assert.equal(r.object, 'chat.completion');
    assert.match(r.id, /^chatcmpl-/);
    assert.equal(r.choices[0]!.message.content, 'echo: hello there world');
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    assert.deepEqual([r.usage!.prompt_tokens, r.usage!.completion_tokens, r.usage!.total_tokens], [9, 4, 13]);
    assert.equal(fake.requests.length, 1);
    const rec = fake.requests[0]!;
    assert.equal(rec.method, 'POST');
    assert.equal(rec.path, '/v1/chat/completions');
    assert.equal(rec.headers.authorization, `Bearer ${KEY}`);
    assert.equal(rec.body.model, 'gpt-4o');
    assert.equal(rec.body.messages.length, 4);
  });

  test('stream sends one chunk per word, then finish_reason, then a usage chunk with no choices, then [DONE]', async () => {
    fake.reset();
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'one two three four' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const { items, error } = await drain(stream);
    assert.equal(error, undefined);
    const deltas = items.flatMap((c) => (c.choices[0]?.delta.content ? [c.choices[0].delta.content] : []));
    assert.deepEqual(deltas, ['echo:', ' one', ' two', ' three', ' four']);
    assert.equal(items[0]!.choices[0]!.delta.role, 'assistant');
    assert.equal(items.at(-2)!.choices[0]!.finish_reason, 'stop');
    const last = items.at(-1)!;
    assert.deepEqual(last.choices, []);
    assert.deepEqual([last.usage!.prompt_tokens, last.usage!.completion_tokens], [4, 5]);
    assert.ok(items.slice(0, -1).every((c) => c.usage === null), 'usage is null on every chunk but the last');
  });

  test('tool call: non-stream tool_calls and stream argument fragments that reassemble', async () => {
    fake.reset();
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }];
    fake.script({ kind: 'ok', toolCall: { name: 'get_weather', arguments: weatherArgs } }, { kind: 'ok', toolCall: { name: 'get_weather', arguments: weatherArgs } });
    const r = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'weather?' }], tools });
    const call = r.choices[0]!.message.tool_calls![0]!;
    assert.equal(r.choices[0]!.finish_reason, 'tool_calls');
    assert.equal(r.choices[0]!.message.content, null);
    assert.ok(call.type === 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), weatherArgs);

    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'weather?' }], tools, stream: true });
    const { items } = await drain(stream);
    const frags = items.flatMap((c) => c.choices[0]?.delta.tool_calls?.map((t) => t.function?.arguments ?? '') ?? []).filter((s) => s !== '');
    assert.ok(frags.length >= 2, `arguments arrive in ${frags.length} fragments`);
    assert.deepEqual(JSON.parse(frags.join('')), weatherArgs);
    assert.equal(items[0]!.choices[0]!.delta.tool_calls![0]!.function!.name, 'get_weather');
    assert.equal(items.at(-1)!.choices[0]!.finish_reason, 'tool_calls');
  });

  test('429 becomes OpenAI.RateLimitError with code, type and retry-after', async () => {
    fake.reset();
    fake.script({ kind: 'error', status: 429, retryAfterS: 7 });
    const err = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.RateLimitError, String(err));
    assert.equal(err.status, 429);
    assert.equal(err.code, 'rate_limit_exceeded');
    assert.equal(err.type, 'requests');
    assert.equal(err.headers?.get('retry-after'), '7');
  });

  test('500 becomes InternalServerError and the queue empties back to ok', async () => {
    fake.reset();
    fake.script({ kind: 'error', status: 500 });
    const err = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.InternalServerError, String(err));
    assert.equal(err.type, 'server_error');
    const ok = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(ok.choices[0]!.message.content, 'echo: x');
  });

  test('wrong and missing API key become AuthenticationError (invalid_api_key)', async () => {
    const bad = new OpenAI({ apiKey: 'sk-wrong-key-9999', baseURL: fake.baseUrl, maxRetries: 0 });
    const err = await bad.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.AuthenticationError, String(err));
    assert.equal(err.code, 'invalid_api_key');
    assert.match(err.message, /Incorrect API key provided: sk-\*+9999/);
  });

  test('embeddings: SDK default (base64) and float both decode to the deterministic vectors; models list', async () => {
    fake.reset();
    const a = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha beta', 'gamma'], dimensions: 8 });
    assert.equal(fake.requests[0]!.body.encoding_format, 'base64', 'the SDK asks for base64 by default');
    assert.deepEqual(
      a.data.map((d) => d.embedding),
      [fakeEmbedding('alpha beta', 8), fakeEmbedding('gamma', 8)],
    );
    assert.deepEqual(a.usage, { prompt_tokens: 3, total_tokens: 3 });
    const f = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'alpha beta', encoding_format: 'float' });
    assert.equal(f.data[0]!.embedding.length, 1536);
    assert.deepEqual(f.data[0]!.embedding.slice(0, 8), fakeEmbedding('alpha beta', 1536).slice(0, 8));
    const models = [];
    for await (const m of client.models.list()) models.push(m.id);
    assert.ok(models.includes('gpt-4o'));
  });

  test('cut: the stream stops after N content chunks without finish or [DONE]', async () => {
    fake.reset();
    fake.script({ kind: 'cut', afterChunks: 2 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'a b c d e f' }], stream: true });
    const { items, error } = await drain(stream);
    const deltas = items.flatMap((c) => (c.choices[0]?.delta.content ? [c.choices[0].delta.content] : []));
    assert.deepEqual(deltas, ['echo:', ' a']);
    assert.ok(items.every((c) => c.choices[0]?.finish_reason == null), 'no finish_reason arrives');
    assert.ok(error !== undefined, 'the SDK reports the broken stream');
  });

  test('cut on a non-stream call: half a body then a reset, which the SDK reports as an error', async () => {
    fake.reset();
    fake.script({ kind: 'cut', afterChunks: 0 });
    const err = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    assert.ok(err instanceof Error && !(err instanceof OpenAI.APIError && err.status !== undefined), String(err));
    assert.equal(fake.requests.length, 1);
  });

  test('streamError: an in-stream error object becomes an APIError after the first chunks', async () => {
    fake.reset();
    fake.script({ kind: 'streamError', afterChunks: 1 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'a b c' }], stream: true });
    const { items, error } = await drain(stream);
    assert.ok(error instanceof OpenAI.APIError, String(error));
    assert.equal(items.filter((c) => c.choices[0]?.delta.content).length, 1);
  });

  test('hang and delayMs: the SDK times out on a hang, a delay is only a delay', async () => {
    fake.reset();
    fake.script({ kind: 'hang' }, { kind: 'ok', delayMs: 150 });
    const quick = new OpenAI({ apiKey: KEY, baseURL: fake.baseUrl, maxRetries: 0, timeout: 200 });
    const err = await quick.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.APIConnectionTimeoutError, String(err));
    const t0 = Date.now();
    const ok = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    assert.ok(Date.now() - t0 >= 140);
    assert.equal(ok.choices[0]!.message.content, 'echo: x');
  });

  test('overrides: text, token counts and cached tokens; max_tokens truncates with finish_reason length', async () => {
    fake.reset();
    fake.script({ kind: 'ok', text: 'fixed answer', promptTokens: 100, completionTokens: 20, cachedTokens: 64 });
    const r = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(r.choices[0]!.message.content, 'fixed answer');
    assert.deepEqual([r.usage!.prompt_tokens, r.usage!.completion_tokens, r.usage!.prompt_tokens_details!.cached_tokens], [100, 20, 64]);
    const t = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'a b c d e' }], max_completion_tokens: 3 });
    assert.equal(t.choices[0]!.message.content, 'echo: a b');
    assert.equal(t.choices[0]!.finish_reason, 'length');
  });
});

describe('fake Azure OpenAI provider through AzureOpenAI', { timeout: 20_000 }, () => {
  let fake: FakeAiProvider;
  let client: AzureOpenAI;
  before(async () => {
    fake = await startFakeAiProvider('azure-openai', { apiKey: KEY });
    client = new AzureOpenAI({ endpoint: fake.baseUrl, apiKey: KEY, apiVersion: '2024-10-21', deployment: 'gpt4o-prod', maxRetries: 0 });
  });
  after(() => fake.close());

  test('non-stream chat on the deployment path with api-key and api-version', async () => {
    fake.reset();
    const r = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi azure' }] });
    assert.equal(r.choices[0]!.message.content, 'echo: hi azure');
    assert.equal(r.usage!.completion_tokens, 3);
    const rec = fake.requests[0]!;
    assert.equal(rec.path, '/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21');
    assert.equal(rec.headers['api-key'], KEY);
    assert.equal(rec.headers.authorization, undefined);
  });

  test('stream: the prompt-filter chunk first, then word chunks and usage', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x y' }], stream: true, stream_options: { include_usage: true } });
    const { items, error } = await drain(stream);
    assert.equal(error, undefined);
    assert.deepEqual(items[0]!.choices, []);
    assert.equal(items.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).join(''), 'echo: x y');
    assert.equal(items.at(-1)!.usage!.completion_tokens, 3);
  });

  test('embeddings on the deployment path', async () => {
    fake.reset();
    const r = await client.embeddings.create({ model: 'emb', input: 'vector me', dimensions: 4 });
    assert.deepEqual(r.data[0]!.embedding, fakeEmbedding('vector me', 4));
    assert.equal(fake.requests[0]!.path, '/openai/deployments/gpt4o-prod/embeddings?api-version=2024-10-21');
  });

  test("429 with Azure's {code,message} body becomes RateLimitError; wrong api-key becomes AuthenticationError", async () => {
    fake.script({ kind: 'error', status: 429, retryAfterS: 6 });
    const err = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.RateLimitError, String(err));
    assert.equal(err.code, '429');
    assert.match(err.message, /retry after 6 seconds/);
    assert.equal(err.headers?.get('retry-after-ms'), '6000');
    const bad = new AzureOpenAI({ endpoint: fake.baseUrl, apiKey: 'nope', apiVersion: '2024-10-21', deployment: 'd', maxRetries: 0 });
    const auth = await bad.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    assert.ok(auth instanceof OpenAI.AuthenticationError, String(auth));
  });
});

describe('fake Anthropic provider through @anthropic-ai/sdk', { timeout: 20_000 }, () => {
  let fake: FakeAiProvider;
  let client: Anthropic;
  before(async () => {
    fake = await startFakeAiProvider('anthropic', { apiKey: KEY });
    client = new Anthropic({ apiKey: KEY, baseURL: fake.baseUrl, maxRetries: 0 });
  });
  after(() => fake.close());

  test('non-stream message: text block, end_turn, usage with cache fields; headers recorded', async () => {
    fake.reset();
    fake.script({ kind: 'ok', cachedTokens: 2 });
    const m = await client.messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      system: 'you are terse',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hello claude' }] }],
    });
    assert.match(m.id, /^msg_/);
    assert.equal(m.type, 'message');
    assert.deepEqual(m.content, [{ type: 'text', text: 'echo: hello claude' }]);
    assert.equal(m.stop_reason, 'end_turn');
    // 5 prompt words, 2 of them cache reads: Anthropic's input_tokens excludes cache reads.
    assert.deepEqual([m.usage.input_tokens, m.usage.cache_read_input_tokens, m.usage.cache_creation_input_tokens, m.usage.output_tokens], [3, 2, 0, 3]);
    const rec = fake.requests[0]!;
    assert.equal(rec.path, '/v1/messages');
    // The 1.x SDK sends the API key as a bearer token; the fake takes it or x-api-key.
    assert.equal(rec.headers.authorization, `Bearer ${KEY}`);
    assert.ok(rec.headers['anthropic-version']);
  });

  test('stream: the exact event sequence with one text_delta per word and usage in message_delta', async () => {
    const stream = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'a b c' }], stream: true });
    const { items, error } = await drain(stream);
    assert.equal(error, undefined);
    // ping is consumed by the SDK; everything else arrives in order.
    assert.deepEqual(
      items.map((e) => e.type),
      ['message_start', 'content_block_start', ...Array(4).fill('content_block_delta'), 'content_block_stop', 'message_delta', 'message_stop'],
    );
    const text = items.flatMap((e) => (e.type === 'content_block_delta' && e.delta.type === 'text_delta' ? [e.delta.text] : [])).join('');
    assert.equal(text, 'echo: a b c');
    const start = items[0]!;
    assert.ok(start.type === 'message_start');
    assert.equal(start.message.usage.input_tokens, 3);
    const delta = items.at(-2)!;
    assert.ok(delta.type === 'message_delta');
    assert.equal(delta.delta.stop_reason, 'end_turn');
    assert.equal(delta.usage.output_tokens, 4);
  });

  test('tool_use: non-stream block and stream input_json_delta fragments through the SDK message stream', async () => {
    fake.script({ kind: 'ok', toolCall: { name: 'get_weather', arguments: weatherArgs } }, { kind: 'ok', toolCall: { name: 'get_weather', arguments: weatherArgs } });
    const tools = [{ name: 'get_weather', input_schema: { type: 'object' as const, properties: {} } }];
    const m = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 100, tools, messages: [{ role: 'user', content: 'weather?' }] });
    assert.equal(m.stop_reason, 'tool_use');
    const block = m.content[0]!;
    assert.ok(block.type === 'tool_use');
    assert.match(block.id, /^toolu_/);
    assert.deepEqual(block.input, weatherArgs);

    const s = client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 100, tools, messages: [{ role: 'user', content: 'weather?' }] });
    const partials: string[] = [];
    s.on('inputJson', (partial) => partials.push(partial));
    const final = await s.finalMessage();
    assert.ok(partials.filter((p) => p !== '').length >= 2, 'input arrives in 2+ fragments');
    const tb = final.content[0]!;
    assert.ok(tb.type === 'tool_use');
    assert.deepEqual(tb.input, weatherArgs);
    assert.equal(final.stop_reason, 'tool_use');
  });

  test('429 → RateLimitError (rate_limit_error, retry-after); 529 → OverloadedError; 400 → BadRequestError', async () => {
    fake.script({ kind: 'error', status: 429, retryAfterS: 3 }, { kind: 'error', status: 529 }, { kind: 'error', status: 400, message: 'max_tokens: too big' });
    const call = () => client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    const rl = await call();
    assert.ok(rl instanceof Anthropic.RateLimitError, String(rl));
    assert.equal(rl.type, 'rate_limit_error');
    assert.equal(rl.headers?.get('retry-after'), '3');
    assert.match(String(rl.requestID), /^req_/);
    const ov = await call();
    assert.ok(ov instanceof Anthropic.OverloadedError, String(ov));
    assert.equal(ov.type, 'overloaded_error');
    const br = await call();
    assert.ok(br instanceof Anthropic.BadRequestError, String(br));
    assert.equal(br.apiMessage, 'max_tokens: too big');
  });

  test('wrong API key → AuthenticationError; x-api-key without anthropic-version → 400 invalid_request_error', async () => {
    const bad = new Anthropic({ apiKey: 'wrong', baseURL: fake.baseUrl, maxRetries: 0 });
    const err = await bad.messages.create({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    assert.ok(err instanceof Anthropic.AuthenticationError, String(err));
    assert.equal(err.type, 'authentication_error');
    const res = await fetch(`${fake.baseUrl}/v1/messages`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 400);
    assert.deepEqual(((await res.json()) as { error: unknown }).error, { type: 'invalid_request_error', message: 'anthropic-version: header is required' });
  });

  test('streamError: event: error mid-stream becomes an APIError of type overloaded_error', async () => {
    fake.script({ kind: 'streamError', afterChunks: 2 });
    const stream = await client.messages.create({ model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'a b c' }], stream: true });
    const { items, error } = await drain(stream);
    assert.ok(error instanceof Anthropic.APIError, String(error));
    assert.equal(error.type, 'overloaded_error');
    assert.equal(items.filter((e) => e.type === 'content_block_delta').length, 2);
    assert.ok(!items.some((e) => e.type === 'message_stop'));
  });

  test('cut: the stream ends after N deltas with no message_delta or message_stop', async () => {
    fake.script({ kind: 'cut', afterChunks: 1 });
    const stream = await client.messages.create({ model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'a b c' }], stream: true });
    const { items, error } = await drain(stream);
    assert.equal(items.filter((e) => e.type === 'content_block_delta').length, 1);
    assert.ok(!items.some((e) => e.type === 'message_delta' || e.type === 'message_stop'));
    assert.ok(error !== undefined, 'the SDK reports the broken stream');
  });
});

describe('fake Gemini provider through @google/genai', { timeout: 20_000 }, () => {
  let fake: FakeAiProvider;
  let ai: GoogleGenAI;
  before(async () => {
    fake = await startFakeAiProvider('gemini', { apiKey: KEY });
    ai = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: fake.baseUrl } });
  });
  after(() => fake.close());

  test('generateContent: echo text, STOP, usageMetadata; x-goog-api-key recorded', async () => {
    fake.reset();
    const r = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'hello gemini', config: { systemInstruction: 'be nice' } });
    assert.equal(r.text, 'echo: hello gemini');
    assert.equal(r.candidates![0]!.finishReason, 'STOP');
    assert.deepEqual([r.usageMetadata!.promptTokenCount, r.usageMetadata!.candidatesTokenCount, r.usageMetadata!.totalTokenCount], [4, 3, 7]);
    const rec = fake.requests[0]!;
    assert.equal(rec.path, '/v1/models/gemini-2.5-flash:generateContent');
    assert.equal(rec.headers['x-goog-api-key'], KEY);
    assert.deepEqual(rec.body.systemInstruction.parts, [{ text: 'be nice' }]);
  });

  test('streamGenerateContent?alt=sse: one chunk per word, finishReason and full usage in the last', async () => {
    fake.reset();
    const stream = await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'one two three' });
    const { items, error } = await drain(stream);
    assert.equal(error, undefined);
    assert.equal(fake.requests[0]!.path, '/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    assert.deepEqual(items.map((c) => c.text), ['echo:', ' one', ' two', ' three']);
    const last = items.at(-1)!;
    assert.equal(last.candidates![0]!.finishReason, 'STOP');
    assert.equal(last.usageMetadata!.candidatesTokenCount, 4);
    assert.equal(last.usageMetadata!.promptTokenCount, 3);
  });

  test('function call: functionCall part, non-stream and stream', async () => {
    fake.script({ kind: 'ok', toolCall: { name: 'get_weather', arguments: weatherArgs } }, { kind: 'ok', toolCall: { name: 'get_weather', arguments: weatherArgs } });
    const r = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'weather?' });
    assert.deepEqual(r.functionCalls, [{ name: 'get_weather', args: weatherArgs }]);
    const { items } = await drain(await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'weather?' }));
    assert.deepEqual(items.flatMap((c) => c.functionCalls ?? []), [{ name: 'get_weather', args: weatherArgs }]);
    assert.equal(items.at(-1)!.candidates![0]!.finishReason, 'STOP');
  });

  test('429 → ApiError status 429 RESOURCE_EXHAUSTED; wrong key → ApiError 400 API_KEY_INVALID', async () => {
    fake.script({ kind: 'error', status: 429, retryAfterS: 5 });
    const err = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'x' }).catch((e: unknown) => e);
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.status, 429);
    assert.match(err.message, /RESOURCE_EXHAUSTED/);
    assert.match(err.message, /"retryDelay":"5s"/);
    const bad = new GoogleGenAI({ apiKey: 'wrong', httpOptions: { baseUrl: fake.baseUrl } });
    const auth = await bad.models.generateContent({ model: 'gemini-2.5-flash', contents: 'x' }).catch((e: unknown) => e);
    assert.ok(auth instanceof ApiError, String(auth));
    assert.equal(auth.status, 400);
    assert.match(auth.message, /API_KEY_INVALID/);
  });

  test('embedContent (batchEmbedContents under the SDK) returns the deterministic vectors', async () => {
    fake.reset();
    const r = await ai.models.embedContent({ model: 'text-embedding-004', contents: ['alpha', 'beta gamma'], config: { outputDimensionality: 6 } });
    assert.equal(fake.requests[0]!.path, '/v1/models/text-embedding-004:batchEmbedContents');
    assert.deepEqual(
      r.embeddings!.map((e) => e.values),
      [fakeEmbedding('alpha', 6), fakeEmbedding('beta gamma', 6)],
    );
    const one = await fetch(`${fake.baseUrl}/v1beta/models/text-embedding-004:embedContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ content: { parts: [{ text: 'alpha' }] } }),
    });
    assert.deepEqual(((await one.json()) as { embedding: { values: number[] } }).embedding.values, fakeEmbedding('alpha', 768));
  });

  test('cut and streamError: the stream ends early without finishReason, or with ApiError', async () => {
    fake.reset();
    fake.script({ kind: 'cut', afterChunks: 2 }, { kind: 'streamError', afterChunks: 1 });
    const cut = await drain(await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'a b c d' }));
    assert.deepEqual(cut.items.map((c) => c.text), ['echo:', ' a']);
    assert.ok(cut.items.every((c) => !c.candidates?.[0]?.finishReason));
    assert.ok(cut.error !== undefined, 'the SDK reports the broken stream');
    assert.equal(fake.requests.length, 1, 'no continuation retry: the fake sends no continuationToken');
    const se = await drain(await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'a b c d' }));
    assert.equal(se.items.length, 1);
    assert.ok(se.error instanceof ApiError, String(se.error));
    assert.equal(se.error.status, 503);
  });
});

describe('raw SSE framing the SDKs hide', { timeout: 10_000 }, () => {
  test('OpenAI ends with data: [DONE], Anthropic pings after the first block start, Gemini frames with CRLF CRLF', async () => {
    const post = async (url: string, body: unknown, headers: Record<string, string> = {}): Promise<string> => {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      assert.equal(r.status, 200);
      assert.match(String(r.headers.get('content-type')), /^text\/event-stream/);
      return r.text();
    };
    const oa = await startFakeAiProvider('openai');
    const an = await startFakeAiProvider('anthropic');
    const ge = await startFakeAiProvider('gemini');
    try {
      const o = await post(`${oa.baseUrl}/chat/completions`, { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
      assert.ok(o.startsWith('data: {') && o.endsWith('data: [DONE]\n\n'));
      assert.ok(!o.includes('"usage"'), 'no usage field at all without stream_options.include_usage');
      const a = await post(`${an.baseUrl}/v1/messages`, { model: 'm', max_tokens: 9, stream: true, messages: [{ role: 'user', content: 'hi' }] }, { 'anthropic-version': '2023-06-01' });
      assert.deepEqual(
        [...a.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]),
        ['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'],
      );
      const g = await post(`${ge.baseUrl}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse`, { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] });
      assert.deepEqual(g.split('\r\n\r\n').map((f) => f.slice(0, 7)), ['data: {', 'data: {', '']);
    } finally {
      await Promise.all([oa.close(), an.close(), ge.close()]);
    }
  });
});
