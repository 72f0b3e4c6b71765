import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FinishReason, type GenerateContentResponse } from '@google/genai';
import OpenAI from 'openai';
import { ProviderStreamError, type AnswerContext, type ProviderTarget, type StreamTranslator } from '../adapter.js';
import { AiRequestError } from '../request-error.js';
import { encodeSseData } from '../sse.js';
import type { ChatCompletionChunk, ChatRequest } from '../wire.js';
import { geminiAdapter as a, guessImageMime } from './gemini.js';

const ctx: AnswerContext = { model: 'flash', created: 1_700_000_000, fallbackId: 'chatcmpl-gw1' };
const target: ProviderTarget = { type: 'gemini', baseUrl: 'https://generativelanguage.googleapis.com', apiKey: 'AIza-test', apiVersion: null, headers: {}, model: 'gemini-2.5-flash' };

function body(req: Partial<ChatRequest>): Record<string, unknown> {
  return JSON.parse(a.chatRequest({ model: 'flash', messages: [], ...req }, target).body!);
}

function run(t: StreamTranslator, bytes: Buffer, split: 'whole' | 'bytes'): ChatCompletionChunk[] {
  const out: ChatCompletionChunk[] = [];
  if (split === 'whole') out.push(...t.push(bytes));
  else for (let i = 0; i < bytes.length; i++) out.push(...t.push(bytes.subarray(i, i + 1)));
  return [...out, ...t.end()];
}

// Gemini frames alt=sse events with CRLF line breaks.
const sse = (chunks: unknown[]): Buffer => Buffer.from(chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`).join(''));

test('the calls: generateContent, streamGenerateContent?alt=sse, batchEmbedContents, x-goog-api-key', () => {
  const plain = a.chatRequest({ model: 'flash', messages: [{ role: 'user', content: 'hi' }] }, target);
  assert.equal(plain.url, 'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent');
  assert.equal(plain.headers['x-goog-api-key'], 'AIza-test');
  assert.equal(plain.headers['content-type'], 'application/json');
  const stream = a.chatRequest({ model: 'flash', messages: [{ role: 'user', content: 'hi' }], stream: true }, { ...target, model: 'models/gemini-2.0-flash' });
  assert.equal(stream.url, 'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse');
  assert.equal(JSON.parse(stream.body!).stream, undefined, 'the stream is chosen by the URL, not the body');
  assert.deepEqual(a.nativeHeaders(target), { 'x-goog-api-key': 'AIza-test' });
});

test('system prompt, role alternation, images and generation config', () => {
  const b = body({
    messages: [
      { role: 'system', content: 'You are a cat.' },
      { role: 'developer', content: 'Your name is Neko.' },
      { role: 'user', content: 'Hello' },
      { role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'data:image/webp;base64,UklGRg==' } }, { type: 'image_url', image_url: { url: 'https://example.com/cat.PNG?x=1' } }] },
      { role: 'assistant', content: 'Meow.' },
    ],
    temperature: 0.7,
    top_p: 0.95,
    max_tokens: 800,
    stop: ['\n\n'],
    n: 2,
    seed: 3,
  });
  assert.deepEqual(b, {
    contents: [
      { role: 'user', parts: [{ text: 'Hello' }, { text: 'What is this?' }, { inlineData: { mimeType: 'image/webp', data: 'UklGRg==' } }, { fileData: { mimeType: 'image/png', fileUri: 'https://example.com/cat.PNG?x=1' } }] },
      { role: 'model', parts: [{ text: 'Meow.' }] },
    ],
    systemInstruction: { parts: [{ text: 'You are a cat.' }, { text: 'Your name is Neko.' }] },
    generationConfig: { temperature: 0.7, topP: 0.95, maxOutputTokens: 800, stopSequences: ['\n\n'], candidateCount: 2, seed: 3 },
  });
  assert.equal(guessImageMime('https://x/y/photo'), 'image/jpeg');
  assert.equal(guessImageMime('https://x/y/a.gif'), 'image/gif');
});

test('tools, tool_choice, tool calls and function responses named from the earlier call', () => {
  const tools: ChatRequest['tools'] = [{ type: 'function', function: { name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const b = body({
    messages: [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_0_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }, { id: 'call_x', type: 'function', function: { name: 'get_time', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'call_0_0', content: '{"temp_c":15}' },
      { role: 'tool', tool_call_id: 'call_x', content: '10:00' },
    ],
    tools,
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
  });
  assert.deepEqual(b.contents, [
    { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
    // No signature came with this history: the first call gets Google's documented placeholder.
    { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: 'skip_thought_signature_validator' }, { functionCall: { name: 'get_time', args: {} } }] },
    {
      role: 'user',
      parts: [{ functionResponse: { name: 'get_weather', response: { content: { temp_c: 15 } } } }, { functionResponse: { name: 'get_time', response: { content: { result: '10:00' } } } }],
    },
  ]);
  assert.deepEqual(b.tools, [{ functionDeclarations: [{ name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } } } }] }]);
  assert.deepEqual(b.toolConfig, { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } });
  const mode = (tc: ChatRequest['tool_choice']): unknown => (body({ messages: [{ role: 'user', content: 'x' }], tools, tool_choice: tc }).toolConfig as { functionCallingConfig: { mode: string } }).functionCallingConfig.mode;
  assert.equal(mode('none'), 'NONE');
  assert.equal(mode('auto'), 'AUTO');
  assert.equal(mode('required'), 'ANY');
  assert.throws(() => body({ messages: [{ role: 'tool', tool_call_id: 'nope', content: 'x' }] }), (e: unknown) => e instanceof AiRequestError && e.body.error.param === 'messages[0].tool_call_id');
  assert.throws(() => body({ messages: [{ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: 'nope' } }] }] }), AiRequestError);
});

test('JSON mode and structured output use responseMimeType and responseSchema', () => {
  assert.deepEqual(body({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_object' } }).generationConfig, { responseMimeType: 'application/json' });
  const schema = { type: 'object', properties: { answer: { type: 'string' } } };
  assert.deepEqual(body({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'a', schema } } }).generationConfig, { responseMimeType: 'application/json', responseSchema: schema });
  assert.equal(body({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'text' } }).generationConfig, undefined);
});

test('a response becomes a completion: text joined, function calls, finish reasons, usage with thoughts', () => {
  // The SDK's class minus its getters: the wire fields.
  const resp: Pick<GenerateContentResponse, 'candidates' | 'usageMetadata' | 'modelVersion' | 'responseId'> = {
    candidates: [
      {
        content: { parts: [{ text: 'thinking…', thought: true }, { text: 'Checking ' }, { text: 'now.' }, { functionCall: { name: 'get_weather', args: { city: 'Paris' } } }], role: 'model' },
        finishReason: FinishReason.STOP,
        index: 0,
      },
    ],
    usageMetadata: { promptTokenCount: 120, candidatesTokenCount: 30, thoughtsTokenCount: 12, cachedContentTokenCount: 64, totalTokenCount: 162 },
    modelVersion: 'gemini-2.5-flash',
    responseId: 'mAitaLmkHPPlz7IPvtfUqQ4',
  };
  const r = a.chatResponse(JSON.stringify(resp), ctx);
  assert.deepEqual(r.completion, {
    id: 'mAitaLmkHPPlz7IPvtfUqQ4',
    object: 'chat.completion',
    created: ctx.created,
    model: 'flash',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: 'Checking now.', refusal: null, tool_calls: [{ id: 'call_0_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        finish_reason: 'tool_calls',
        logprobs: null,
      },
    ],
    usage: { prompt_tokens: 120, completion_tokens: 42, total_tokens: 162, prompt_tokens_details: { cached_tokens: 64 } },
  });
  assert.deepEqual(r.usage, { promptTokens: 120, completionTokens: 42, cachedTokens: 64 });
  const reasons: Array<[string, string]> = [
    ['STOP', 'stop'],
    ['MAX_TOKENS', 'length'],
    ['SAFETY', 'content_filter'],
    ['RECITATION', 'content_filter'],
    ['BLOCKLIST', 'content_filter'],
    ['PROHIBITED_CONTENT', 'content_filter'],
    ['SPII', 'content_filter'],
  ];
  for (const [reason, finish] of reasons) {
    const c = a.chatResponse(JSON.stringify({ candidates: [{ content: { parts: [{ text: 'x' }], role: 'model' }, finishReason: reason, index: 0 }] }), ctx).completion;
    assert.equal(c.choices[0]!.finish_reason, finish, reason);
  }
  const two = a.chatResponse(JSON.stringify({ candidates: [{ content: { parts: [{ text: 'a' }] }, finishReason: 'STOP', index: 0 }, { content: { parts: [{ text: 'b' }] }, finishReason: 'MAX_TOKENS', index: 1 }] }), ctx).completion;
  assert.deepEqual(two.choices.map((c) => [c.index, c.message.content, c.finish_reason]), [[0, 'a', 'stop'], [1, 'b', 'length']]);
  const blocked = a.chatResponse(JSON.stringify({ promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 8, totalTokenCount: 8 } }), ctx);
  assert.deepEqual(blocked.completion.choices, [{ index: 0, message: { role: 'assistant', content: null, refusal: null }, finish_reason: 'content_filter', logprobs: null }]);
  assert.deepEqual(blocked.usage, { promptTokens: 8, completionTokens: 0, cachedTokens: 0 });
  assert.throws(() => a.chatResponse('{"foo":1}', ctx), ProviderStreamError);
});

// streamGenerateContent?alt=sse as Gemini sends it: usageMetadata on every chunk, finishReason on the last, no end marker.
const STREAM = [
  { candidates: [{ content: { parts: [{ text: 'The quick' }], role: 'model' }, index: 0 }], usageMetadata: { promptTokenCount: 8, totalTokenCount: 8 }, modelVersion: 'gemini-2.5-flash', responseId: 'resp-1' },
  { candidates: [{ content: { parts: [{ text: ' brown 🦊' }], role: 'model' }, index: 0 }], usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 4, totalTokenCount: 12 }, modelVersion: 'gemini-2.5-flash', responseId: 'resp-1' },
  { candidates: [{ content: { parts: [{ text: ' fox.' }], role: 'model' }, finishReason: 'STOP', index: 0 }], usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 6, thoughtsTokenCount: 20, totalTokenCount: 34 }, modelVersion: 'gemini-2.5-flash', responseId: 'resp-1' },
];

test('a recorded stream fed whole and byte by byte gives the same chunks; finish and usage come at EOF', () => {
  const t = a.chatStream(ctx);
  const whole = run(t, sse(STREAM), 'whole');
  assert.deepEqual(run(a.chatStream(ctx), sse(STREAM), 'bytes'), whole);
  const c = (delta: object, finish: string | null = null): ChatCompletionChunk => ({ id: 'resp-1', object: 'chat.completion.chunk', created: ctx.created, model: 'flash', choices: [{ index: 0, delta, finish_reason: finish }] }) as ChatCompletionChunk;
  assert.deepEqual(whole, [
    c({ role: 'assistant', content: '' }),
    c({ content: 'The quick' }),
    c({ content: ' brown 🦊' }),
    c({ content: ' fox.' }),
    c({}, 'stop'),
    { id: 'resp-1', object: 'chat.completion.chunk', created: ctx.created, model: 'flash', choices: [], usage: { prompt_tokens: 8, completion_tokens: 26, total_tokens: 34, prompt_tokens_details: { cached_tokens: 0 } } },
  ]);
  assert.deepEqual(t.usage(), { promptTokens: 8, completionTokens: 26, cachedTokens: 0 });
  // The content arrives as it streams, not at EOF.
  const live = a.chatStream(ctx);
  assert.equal(live.push(sse(STREAM.slice(0, 1))).length, 2);
});

test('function calls stream as whole tool-call deltas with generated ids; finish is tool_calls', () => {
  const chunks = [
    { candidates: [{ content: { parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }, { functionCall: { name: 'get_weather', args: { city: 'Rome' } } }], role: 'model' }, finishReason: 'STOP', index: 0 }], usageMetadata: { promptTokenCount: 50, candidatesTokenCount: 10, totalTokenCount: 60 } },
  ];
  const out = run(a.chatStream(ctx), sse(chunks), 'bytes');
  assert.deepEqual(out[1]!.choices[0]!.delta.tool_calls, [
    { index: 0, id: 'call_0_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
    { index: 1, id: 'call_0_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
  ]);
  assert.equal(out[2]!.choices[0]!.finish_reason, 'tool_calls');
  assert.equal(out[3]!.usage?.total_tokens, 60);
});

test('an error chunk mid-stream is a ProviderStreamError; a stream without finishReason is cut short', () => {
  const t = a.chatStream(ctx);
  t.push(sse(STREAM.slice(0, 1)));
  assert.throws(
    () => t.push(sse([{ error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' } }])),
    (e: unknown) => e instanceof ProviderStreamError && e.error.status === 503 && e.error.retryable && e.error.body.error.code === 'UNAVAILABLE',
  );
  const cut = a.chatStream(ctx);
  cut.push(sse(STREAM.slice(0, 2)));
  assert.throws(() => cut.end(), (e: unknown) => e instanceof ProviderStreamError && e.error.status === 502);
  const torn = a.chatStream(ctx);
  const bytes = sse(STREAM);
  torn.push(bytes.subarray(0, bytes.length - 30));
  assert.throws(() => torn.end(), ProviderStreamError, 'a last event cut mid-JSON');
});

test('error mapping table: google.rpc statuses to OpenAI statuses, retry delay from RetryInfo', () => {
  const cases: Array<[number, string, number, boolean]> = [
    [400, 'INVALID_ARGUMENT', 400, false],
    [401, 'UNAUTHENTICATED', 401, false],
    [403, 'PERMISSION_DENIED', 403, false],
    [404, 'NOT_FOUND', 404, false],
    [429, 'RESOURCE_EXHAUSTED', 429, true],
    [500, 'INTERNAL', 502, true],
    [503, 'UNAVAILABLE', 503, true],
    [504, 'DEADLINE_EXCEEDED', 504, true],
  ];
  for (const [http, status, want, retryable] of cases) {
    const e = a.error(http, JSON.stringify({ error: { code: http, message: `m ${status}`, status } }), {});
    assert.equal(e.status, want, status);
    assert.equal(e.retryable, retryable, status);
    assert.deepEqual(e.body.error, { message: `m ${status}`, type: e.body.error.type, param: null, code: status });
  }
  const quota = {
    error: {
      code: 429,
      message: 'You exceeded your current quota, please check your plan and billing details.',
      status: 'RESOURCE_EXHAUSTED',
      details: [
        { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests' }] },
        { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '17s' },
      ],
    },
  };
  const q = a.error(429, JSON.stringify(quota), {});
  assert.equal(q.retryAfterMs, 17_000);
  assert.equal(q.body.error.type, 'rate_limit_error');
  assert.equal(a.error(429, JSON.stringify(quota), { 'retry-after': '3' }).retryAfterMs, 3000, 'a header wins over the body');
  assert.equal(a.error(400, JSON.stringify([{ error: { code: 400, message: 'API key not valid.', status: 'INVALID_ARGUMENT' } }]), {}).status, 400);
  const opaque = a.error(500, 'upstream connect error', {});
  assert.equal(opaque.status, 502);
  assert.match(opaque.body.error.message, /^Gemini answered HTTP 500/);
});

test('embeddings: batchEmbedContents request and response; Gemini reports no tokens', () => {
  const call = a.embeddingsRequest({ model: 'emb', input: ['hello', 'world'], dimensions: 768 }, { ...target, model: 'gemini-embedding-001' })!;
  assert.equal(call.url, 'https://generativelanguage.googleapis.com/v1beta/models/gemini-embedding-001:batchEmbedContents');
  assert.deepEqual(JSON.parse(call.body!), {
    requests: [
      { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'hello' }] }, outputDimensionality: 768 },
      { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'world' }] }, outputDimensionality: 768 },
    ],
  });
  assert.deepEqual(JSON.parse(a.embeddingsRequest({ model: 'emb', input: 'one' }, target)!.body!).requests, [{ model: 'models/gemini-2.5-flash', content: { parts: [{ text: 'one' }] } }]);
  assert.throws(() => a.embeddingsRequest({ model: 'emb', input: [1, 2, 3] }, target), AiRequestError);
  const r = a.embeddingsResponse(JSON.stringify({ embeddings: [{ values: [0.1, -0.2] }, { values: [0.3, 0.4] }] }), ctx);
  assert.deepEqual(r.response, {
    object: 'list',
    data: [
      { object: 'embedding', index: 0, embedding: [0.1, -0.2] },
      { object: 'embedding', index: 1, embedding: [0.3, 0.4] },
    ],
    model: 'flash',
    usage: { prompt_tokens: 0, total_tokens: 0 },
  });
  assert.deepEqual(r.usage, { promptTokens: 0, completionTokens: 0, cachedTokens: 0 });
});

test('native passthrough: usage from a response, a JSON-array stream, and sniffed from an SSE stream', () => {
  assert.deepEqual(a.nativeUsage(JSON.stringify(STREAM[2])), { promptTokens: 8, completionTokens: 26, cachedTokens: 0 });
  assert.deepEqual(a.nativeUsage(JSON.stringify(STREAM)), { promptTokens: 8, completionTokens: 26, cachedTokens: 0 });
  const s = a.nativeUsageSniffer();
  const bytes = sse(STREAM);
  for (let i = 0; i < bytes.length; i += 3) s.push(bytes.subarray(i, i + 3));
  assert.deepEqual(s.usage(), { promptTokens: 8, completionTokens: 26, cachedTokens: 0 });
});

test('thought signatures of function calls travel out in extra_content.google and back into the next request', () => {
  const resp = {
    candidates: [{ content: { role: 'model', parts: [{ functionCall: { name: 'check_flight', args: { flight: 'AA100' } }, thoughtSignature: 'CpcBAdHtim9+q4rstmC' }] }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 },
  };
  const call = a.chatResponse(JSON.stringify(resp), ctx).completion.choices[0]!.message.tool_calls![0]!;
  assert.deepEqual(call, { id: 'call_0_0', type: 'function', function: { name: 'check_flight', arguments: '{"flight":"AA100"}' }, extra_content: { google: { thought_signature: 'CpcBAdHtim9+q4rstmC' } } });
  const streamed = run(a.chatStream(ctx), sse([resp]), 'whole');
  assert.deepEqual(streamed[1]!.choices[0]!.delta.tool_calls![0], { index: 0, ...call });
  const next = body({ messages: [{ role: 'user', content: 'Status of AA100?' }, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: 'call_0_0', content: '{"status":"delayed"}' }] });
  assert.deepEqual((next.contents as Array<{ parts: unknown[] }>)[1]!.parts, [{ functionCall: { name: 'check_flight', args: { flight: 'AA100' } }, thoughtSignature: 'CpcBAdHtim9+q4rstmC' }]);
});

/** What the official OpenAI SDK's stream helper assembles from the translated chunks, as a gateway client would see it. */
async function sdkAssembled(chunks: ChatCompletionChunk[]): Promise<OpenAI.ChatCompletion> {
  const body = chunks.map((c) => encodeSseData(JSON.stringify(c))).join('') + 'data: [DONE]\n\n';
  const client = new OpenAI({ apiKey: 'k', baseURL: 'http://gateway.invalid/v1', fetch: async () => new Response(body, { headers: { 'content-type': 'text/event-stream' } }) });
  return client.chat.completions.stream({ model: 'flash', messages: [{ role: 'user', content: 'x' }], stream_options: { include_usage: true } }).finalChatCompletion();
}

test('the OpenAI SDK assembles the translated stream into the completion the non-streamed translation gives', async () => {
  const chunks = [
    ...STREAM.slice(0, 2),
    { candidates: [{ content: { parts: [{ text: ' fox.' }, { functionCall: { name: 'log', args: { n: 1 } } }], role: 'model' }, finishReason: 'STOP', index: 0 }], usageMetadata: STREAM[2]!.usageMetadata, responseId: 'resp-1' },
  ];
  const streamed = await sdkAssembled(run(a.chatStream(ctx), sse(chunks), 'bytes'));
  const whole = { candidates: [{ content: { parts: [{ text: 'The quick brown 🦊 fox.' }, { functionCall: { name: 'log', args: { n: 1 } } }], role: 'model' }, finishReason: 'STOP', index: 0 }], usageMetadata: STREAM[2]!.usageMetadata, responseId: 'resp-1' };
  const direct = a.chatResponse(JSON.stringify(whole), ctx).completion;
  assert.equal(streamed.id, 'resp-1');
  assert.equal(streamed.choices[0]!.message.content, direct.choices[0]!.message.content);
  assert.equal(streamed.choices[0]!.finish_reason, 'tool_calls');
  assert.deepEqual(streamed.choices[0]!.message.tool_calls!.map((t) => ({ id: t.id, type: t.type, function: (t as OpenAI.ChatCompletionMessageFunctionToolCall).function })), direct.choices[0]!.message.tool_calls);
  assert.deepEqual(streamed.usage, direct.usage);
});
