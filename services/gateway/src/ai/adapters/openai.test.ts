import { test } from 'node:test';
import assert from 'node:assert/strict';
import type OpenAI from 'openai';
import { ProviderStreamError, type AnswerContext, type ProviderTarget, type StreamTranslator } from '../adapter.js';
import type { ChatCompletionChunk, ChatRequest } from '../wire.js';
import { openAiAdapter as a } from './openai.js';

const ctx: AnswerContext = { model: 'gpt-4o-mini', created: 1_700_000_000, fallbackId: 'chatcmpl-gw1' };
const target = (over: Partial<ProviderTarget> = {}): ProviderTarget => ({
  type: 'openai',
  baseUrl: 'https://api.openai.com/v1',
  apiKey: 'sk-test',
  apiVersion: null,
  headers: { 'openai-organization': 'org-1' },
  model: 'gpt-4o-mini-2024-07-18',
  ...over,
});

function run(t: StreamTranslator, bytes: Buffer, split: 'whole' | 'bytes'): ChatCompletionChunk[] {
  const out: ChatCompletionChunk[] = [];
  if (split === 'whole') out.push(...t.push(bytes));
  else for (let i = 0; i < bytes.length; i++) out.push(...t.push(bytes.subarray(i, i + 1)));
  return [...out, ...t.end()];
}

test('chat URLs and credentials per provider type', () => {
  const req: ChatRequest = { model: 'alias', messages: [{ role: 'user', content: 'hi' }] };
  const cases: Array<[Partial<ProviderTarget>, string, Record<string, string>]> = [
    [{}, 'https://api.openai.com/v1/chat/completions', { authorization: 'Bearer sk-test' }],
    [{ type: 'mistral', baseUrl: 'https://api.mistral.ai/v1' }, 'https://api.mistral.ai/v1/chat/completions', { authorization: 'Bearer sk-test' }],
    [{ type: 'openai-compatible', baseUrl: 'http://vllm:8000/v1', apiKey: null }, 'http://vllm:8000/v1/chat/completions', {}],
    [{ type: 'ollama', baseUrl: 'http://host:11434', apiKey: null }, 'http://host:11434/v1/chat/completions', {}],
    [{ type: 'ollama', baseUrl: 'http://host:11434/v1', apiKey: null }, 'http://host:11434/v1/chat/completions', {}],
    [
      { type: 'azure-openai', baseUrl: 'https://res.openai.azure.com', apiVersion: '2024-10-21', model: 'my gpt' },
      'https://res.openai.azure.com/openai/deployments/my%20gpt/chat/completions?api-version=2024-10-21',
      { 'api-key': 'sk-test' },
    ],
  ];
  for (const [over, url, auth] of cases) {
    const call = a.chatRequest(req, target(over));
    assert.equal(call.method, 'POST');
    assert.equal(call.url, url);
    assert.equal(call.headers['content-type'], 'application/json');
    assert.equal(call.headers['openai-organization'], 'org-1');
    for (const k of ['authorization', 'api-key']) assert.equal(call.headers[k], auth[k], `${over.type ?? 'openai'} ${k}`);
    assert.deepEqual(a.nativeHeaders(target(over)), auth);
  }
  const emb = a.embeddingsRequest({ model: 'e', input: 'x' }, target({ type: 'azure-openai', baseUrl: 'https://res.openai.azure.com', apiVersion: '2024-10-21', model: 'emb' }));
  assert.equal(emb?.url, 'https://res.openai.azure.com/openai/deployments/emb/embeddings?api-version=2024-10-21');
  assert.equal(a.embeddingsRequest({ model: 'e', input: 'x' }, target())?.url, 'https://api.openai.com/v1/embeddings');
});

test('the body is the client request with the deployment model; streams always ask for usage', () => {
  const req: ChatRequest = {
    model: 'alias',
    messages: [{ role: 'user', content: 'hi' }],
    temperature: 0.2,
    reasoning_effort: 'low', // a field newer than the gateway travels untouched
    stream: true,
    stream_options: { include_usage: false, include_obfuscation: false } as ChatRequest['stream_options'],
  };
  const body = JSON.parse(a.chatRequest(req, target()).body!);
  assert.deepEqual(body, { ...req, model: 'gpt-4o-mini-2024-07-18', stream_options: { include_usage: true, include_obfuscation: false } });
  assert.equal(req.model, 'alias', 'the client request is not mutated');
  const plain = JSON.parse(a.chatRequest({ model: 'x', messages: [] }, target()).body!);
  assert.equal(plain.stream_options, undefined);
  const mistral = JSON.parse(a.chatRequest(req, target({ type: 'mistral', baseUrl: 'https://api.mistral.ai/v1', model: 'mistral-large-latest' })).body!);
  assert.equal('stream_options' in mistral, false, 'Mistral refuses stream_options and sends usage anyway');
  assert.equal(mistral.stream, true);
});

test('a completion passes through; usage with cached tokens; model and id filled only when absent', () => {
  const completion: OpenAI.ChatCompletion = {
    id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
    object: 'chat.completion',
    created: 1741570283,
    model: 'gpt-4o-2024-08-06',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: null,
          refusal: null,
          tool_calls: [{ id: 'call_abc', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }],
        },
        logprobs: null,
        finish_reason: 'tool_calls',
      },
    ],
    usage: { prompt_tokens: 1117, completion_tokens: 46, total_tokens: 1163, prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 } },
    system_fingerprint: 'fp_fc9f1d7035',
  };
  const r = a.chatResponse(JSON.stringify(completion), ctx);
  assert.deepEqual(r.completion, completion);
  assert.deepEqual(r.usage, { promptTokens: 1117, completionTokens: 46, cachedTokens: 1024 });
  const bare = a.chatResponse(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] }), ctx);
  assert.equal(bare.completion.model, 'gpt-4o-mini');
  assert.equal(bare.completion.id, 'chatcmpl-gw1');
  assert.deepEqual(bare.usage, { promptTokens: 0, completionTokens: 0, cachedTokens: 0 });
  assert.throws(() => a.chatResponse('<html>oops</html>', ctx), (e: unknown) => e instanceof ProviderStreamError && e.error.status === 502);
});

// As api.openai.com streams with stream_options.include_usage (CRLF-free, one chunk per event).
const STREAM = [
  '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}',
  '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Bonjour"},"logprobs":null,"finish_reason":null}],"usage":null}',
  '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" 👋"},"logprobs":null,"finish_reason":null}],"usage":null}',
  '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}',
  '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}',
]
  .map((d) => `data: ${d}\n\n`)
  .join('')
  .concat('data: [DONE]\n\n');

test('a recorded stream fed whole and byte by byte gives the same chunks, ending with the usage chunk', () => {
  const t1 = a.chatStream(ctx);
  const whole = run(t1, Buffer.from(STREAM), 'whole');
  const t2 = a.chatStream(ctx);
  assert.deepEqual(run(t2, Buffer.from(STREAM), 'bytes'), whole);
  assert.equal(whole.length, 5);
  assert.equal(whole.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'Bonjour 👋');
  assert.equal(whole[0]!.choices[0]!.delta.role, 'assistant');
  assert.ok(whole.slice(0, 4).every((c) => !('usage' in c)), 'usage:null is dropped from content chunks');
  assert.deepEqual(whole[4]!.choices, []);
  assert.equal(whole[4]!.usage?.total_tokens, 12);
  assert.deepEqual(t1.usage(), { promptTokens: 9, completionTokens: 3, cachedTokens: 0 });
});

test('tool-call deltas stream through unchanged', () => {
  const chunks = [
    '{"id":"c2","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_DdmO9pD3xa9XTPNJ32zg2hcA","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}',
    '{"id":"c2","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"location\\":"}}]},"finish_reason":null}]}',
    '{"id":"c2","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\\"Paris\\"}"}}]},"finish_reason":null}]}',
    '{"id":"c2","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}',
  ];
  const out = run(a.chatStream(ctx), Buffer.from(chunks.map((c) => `data: ${c}\r\n\r\n`).join('') + 'data: [DONE]\r\n\r\n'), 'bytes');
  assert.deepEqual(out, chunks.map((c) => JSON.parse(c)));
  assert.equal(out.map((c) => c.choices[0]!.delta.tool_calls?.[0]?.function?.arguments ?? '').join(''), '{"location":"Paris"}');
});

test('usage a compatible server puts on its last content chunk becomes a usage-only chunk', () => {
  const s =
    'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"llama3.1:8b","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}\n\n' +
    'data: [DONE]\n\n';
  const t = a.chatStream(ctx);
  const out = run(t, Buffer.from(s), 'whole');
  assert.equal(out.length, 2);
  assert.equal('usage' in out[0]!, false);
  assert.deepEqual(out[1], { id: 'x', object: 'chat.completion.chunk', created: ctx.created, model: ctx.model, choices: [], usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6, prompt_tokens_details: { cached_tokens: 0 } } });
  assert.deepEqual(t.usage(), { promptTokens: 5, completionTokens: 1, cachedTokens: 0 });
});

test('a stream cut before [DONE] is a 502 ProviderStreamError, after the chunks that did arrive', () => {
  const cut = STREAM.slice(0, STREAM.indexOf('data: [DONE]'));
  const t = a.chatStream(ctx);
  assert.equal(t.push(Buffer.from(cut)).length, 5);
  assert.throws(() => t.end(), (e: unknown) => e instanceof ProviderStreamError && e.error.status === 502 && e.error.retryable);
});

test('an error event inside the stream is a ProviderStreamError with the provider message', () => {
  const t = a.chatStream(ctx);
  t.push(Buffer.from(STREAM.split('\n\n')[0] + '\n\n'));
  assert.throws(
    () => t.push(Buffer.from('data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}\n\n')),
    (e: unknown) => e instanceof ProviderStreamError && e.error.status === 502 && e.error.body.error.message.startsWith('The server had an error'),
  );
  assert.throws(() => a.chatStream(ctx).push(Buffer.from('data: not json\n\n')), ProviderStreamError);
});

test('error mapping: OpenAI bodies pass through, others are wrapped; statuses and retry hints', () => {
  const openAi429 = JSON.stringify({ error: { message: 'Rate limit reached for gpt-4o-mini', type: 'requests', param: null, code: 'rate_limit_exceeded' } });
  const cases: Array<[number, string, Record<string, string>, { status: number; retryable: boolean; retryAfterMs: number | null; type: string; code: string | null; message: RegExp }]> = [
    [400, JSON.stringify({ error: { message: "Invalid value for 'temperature'", type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' } }), {}, { status: 400, retryable: false, retryAfterMs: null, type: 'invalid_request_error', code: 'invalid_value', message: /temperature/ }],
    [401, JSON.stringify({ error: { message: 'Incorrect API key provided', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } }), {}, { status: 401, retryable: false, retryAfterMs: null, type: 'invalid_request_error', code: 'invalid_api_key', message: /API key/ }],
    [429, openAi429, { 'retry-after-ms': '1500', 'retry-after': '2' }, { status: 429, retryable: true, retryAfterMs: 1500, type: 'requests', code: 'rate_limit_exceeded', message: /Rate limit/ }],
    [429, openAi429, { 'retry-after': '2' }, { status: 429, retryable: true, retryAfterMs: 2000, type: 'requests', code: 'rate_limit_exceeded', message: /Rate limit/ }],
    [404, JSON.stringify({ error: "model 'llama9' not found" }), {}, { status: 404, retryable: false, retryAfterMs: null, type: 'invalid_request_error', code: null, message: /llama9/ }],
    [400, JSON.stringify({ object: 'error', message: 'max_tokens too large', type: 'BadRequestError', param: null, code: 400 }), {}, { status: 400, retryable: false, retryAfterMs: null, type: 'BadRequestError', code: '400', message: /max_tokens/ }],
    [
      422,
      JSON.stringify({ object: 'error', message: { detail: [{ type: 'extra_forbidden', loc: ['body', 'foo'], msg: 'Extra inputs are not permitted', input: 1 }] }, type: 'invalid_request_error', param: null, code: null }),
      {},
      { status: 422, retryable: false, retryAfterMs: null, type: 'invalid_request_error', code: null, message: /^\{"detail":\[\{"type":"extra_forbidden"/ },
    ],
    [500, '<html><body>Internal Server Error</body></html>', {}, { status: 502, retryable: true, retryAfterMs: null, type: 'server_error', code: null, message: /HTTP 500: <html>/ }],
    [503, JSON.stringify({ error: { message: 'The engine is currently overloaded', type: 'server_error', param: null, code: null } }), {}, { status: 503, retryable: true, retryAfterMs: null, type: 'server_error', code: null, message: /overloaded/ }],
    [504, '', {}, { status: 504, retryable: true, retryAfterMs: null, type: 'server_error', code: null, message: /HTTP 504$/ }],
    [405, 'Method Not Allowed', {}, { status: 502, retryable: false, retryAfterMs: null, type: 'server_error', code: null, message: /405/ }],
  ];
  for (const [status, body, headers, want] of cases) {
    const e = a.error(status, body, headers);
    const label = `${status} ${body.slice(0, 30)}`;
    assert.equal(e.status, want.status, label);
    assert.equal(e.retryable, want.retryable, label);
    assert.equal(e.retryAfterMs, want.retryAfterMs, label);
    assert.equal(e.body.error.type, want.type, label);
    assert.equal(e.body.error.code, want.code, label);
    assert.match(e.body.error.message, want.message, label);
  }
  assert.equal(a.error(400, JSON.stringify({ error: { message: 'x', type: 'invalid_request_error', param: 'temperature', code: null } }), {}).body.error.param, 'temperature');
});

test('embeddings: the request carries the deployment model; usage is prompt tokens only', () => {
  const call = a.embeddingsRequest({ model: 'alias', input: ['a', 'b'], dimensions: 256, encoding_format: 'float' }, target({ model: 'text-embedding-3-small' }))!;
  assert.deepEqual(JSON.parse(call.body!), { model: 'text-embedding-3-small', input: ['a', 'b'], dimensions: 256, encoding_format: 'float' });
  const resp: OpenAI.CreateEmbeddingResponse = {
    object: 'list',
    data: [
      { object: 'embedding', index: 0, embedding: [0.0023064255, -0.009327292] },
      { object: 'embedding', index: 1, embedding: [0.1, 0.2] },
    ],
    model: 'text-embedding-3-small',
    usage: { prompt_tokens: 8, total_tokens: 8 },
  };
  const r = a.embeddingsResponse(JSON.stringify(resp), ctx);
  assert.deepEqual(r.response, resp);
  assert.deepEqual(r.usage, { promptTokens: 8, completionTokens: 0, cachedTokens: 0 });
});

test('native passthrough: usage from a JSON answer and sniffed from a stream', () => {
  assert.deepEqual(a.nativeUsage(JSON.stringify({ id: 'x', usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7, prompt_tokens_details: { cached_tokens: 2 } } })), { promptTokens: 3, completionTokens: 4, cachedTokens: 2 });
  assert.equal(a.nativeUsage('{"id":"x"}'), null);
  const s = a.nativeUsageSniffer();
  const bytes = Buffer.from(STREAM);
  for (let i = 0; i < bytes.length; i += 7) s.push(bytes.subarray(i, i + 7));
  assert.deepEqual(s.usage(), { promptTokens: 9, completionTokens: 3, cachedTokens: 0 });
});
