import { test } from 'node:test';
import assert from 'node:assert/strict';
import type Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { ProviderStreamError, type AnswerContext, type ProviderTarget, type StreamTranslator } from '../adapter.js';
import { AiRequestError } from '../request-error.js';
import { encodeSseData } from '../sse.js';
import type { ChatCompletionChunk, ChatRequest } from '../wire.js';
import { anthropicAdapter as a } from './anthropic.js';

const ctx: AnswerContext = { model: 'claude-sonnet', created: 1_700_000_000, fallbackId: 'chatcmpl-gw1' };
const target: ProviderTarget = { type: 'anthropic', baseUrl: 'https://api.anthropic.com', apiKey: 'sk-ant-test', apiVersion: null, headers: { 'anthropic-beta': 'prompt-caching-2024-07-31' }, model: 'claude-sonnet-4-5-20250929' };

function body(req: Partial<ChatRequest>): Record<string, unknown> {
  return JSON.parse(a.chatRequest({ model: 'claude-sonnet', messages: [], ...req }, target).body!);
}

function run(t: StreamTranslator, bytes: Buffer, split: 'whole' | 'bytes'): ChatCompletionChunk[] {
  const out: ChatCompletionChunk[] = [];
  if (split === 'whole') out.push(...t.push(bytes));
  else for (let i = 0; i < bytes.length; i++) out.push(...t.push(bytes.subarray(i, i + 1)));
  return [...out, ...t.end()];
}

const sse = (events: Array<[string, unknown]>): Buffer => Buffer.from(events.map(([e, d]) => `event: ${e}\ndata: ${JSON.stringify(d)}\n\n`).join(''));

test('the call: URL, credential and version headers, the deployment model, max_tokens defaulted', () => {
  const call = a.chatRequest({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Hello' }] }, target);
  assert.equal(call.url, 'https://api.anthropic.com/v1/messages');
  assert.equal(call.headers['x-api-key'], 'sk-ant-test');
  assert.equal(call.headers['anthropic-version'], '2023-06-01');
  assert.equal(call.headers['anthropic-beta'], 'prompt-caching-2024-07-31');
  assert.equal(call.headers['content-type'], 'application/json');
  assert.equal(call.headers.authorization, undefined);
  assert.deepEqual(JSON.parse(call.body!), { model: 'claude-sonnet-4-5-20250929', max_tokens: 4096, messages: [{ role: 'user', content: 'Hello' }] });
  assert.deepEqual(a.nativeHeaders(target), { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' });
  assert.equal(body({ max_tokens: 100 }).max_tokens, 100);
  assert.equal(body({ max_tokens: 100, max_completion_tokens: 200 }).max_tokens, 200);
});

test('system and developer messages become the system prompt, in order; parameters map', () => {
  const b = body({
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
      { role: 'user', content: 'Hi' },
    ],
    stop: 'END',
    temperature: 0.5,
    top_p: 0.9,
    user: 'u-42',
    stream: true,
    seed: 7, // no Anthropic equivalent: dropped
  });
  // Typed with the SDK's request type, so a misspelt Anthropic field fails to compile. The SDK in use
  // (1.10) no longer lists the sampling parameters, which the adapter still passes for the models that take them.
  const expected: Anthropic.MessageCreateParams & { temperature?: number; top_p?: number } = {
    model: 'claude-sonnet-4-5-20250929',
    max_tokens: 4096,
    messages: [{ role: 'user', content: 'Hi' }],
    system: [
      { type: 'text', text: 'You are terse.' },
      { type: 'text', text: 'Answer in French.' },
    ],
    stop_sequences: ['END'],
    temperature: 0.5,
    top_p: 0.9,
    metadata: { user_id: 'u-42' },
    stream: true,
  };
  assert.deepEqual(b, expected);
  assert.equal(body({ messages: [{ role: 'system', content: 'One.' }, { role: 'user', content: 'x' }] }).system, 'One.');
  assert.deepEqual(body({ messages: [{ role: 'user', content: 'x' }], stop: ['a', 'b'] }).stop_sequences, ['a', 'b']);
});

test('consecutive same-role messages merge; tool calls and results become tool_use and tool_result blocks', () => {
  const b = body({
    messages: [
      { role: 'user', content: 'What is the weather in Paris and London?' },
      { role: 'user', content: [{ type: 'text', text: 'Use Celsius.' }] },
      {
        role: 'assistant',
        content: 'Let me check.',
        tool_calls: [
          { id: 'toolu_01A', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'toolu_01B', type: 'function', function: { name: 'get_weather', arguments: '{"city":"London"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_01A', content: '15 degrees' },
      { role: 'tool', tool_call_id: 'toolu_01B', content: [{ type: 'text', text: '12 degrees' }] },
      { role: 'user', content: 'Thanks' },
      { role: 'assistant', content: '', tool_calls: [{ id: 'toolu_01C', type: 'function', function: { name: 'noop', arguments: '' } }] },
    ],
  });
  assert.deepEqual(b.messages, [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'What is the weather in Paris and London?' },
        { type: 'text', text: 'Use Celsius.' },
      ],
    },
    {
      role: 'assistant',
      content: [
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'toolu_01B', name: 'get_weather', input: { city: 'London' } },
      ],
    },
    {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'toolu_01A', content: '15 degrees' },
        { type: 'tool_result', tool_use_id: 'toolu_01B', content: '12 degrees' },
        { type: 'text', text: 'Thanks' },
      ],
    },
    { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01C', name: 'noop', input: {} }] },
  ]);
});

test('tool call arguments that are not a JSON object are the client error AiRequestError (400)', () => {
  for (const args of ['{"city":', '[1,2]']) {
    assert.throws(
      () => body({ messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: args } }] }] }),
      (e: unknown) => e instanceof AiRequestError && e.status === 400 && e.body.error.param === 'messages[0].tool_calls[0].function.arguments' && e.body.error.type === 'invalid_request_error',
    );
  }
  assert.throws(() => body({ messages: [{ role: 'user', content: 'x' }], n: 2 }), (e: unknown) => e instanceof AiRequestError && e.body.error.param === 'n');
  assert.throws(() => body({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'x', format: 'wav' } }] }] }), AiRequestError);
});

test('images: data URLs become base64 sources, http(s) URLs url sources', () => {
  const b = body({
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Compare these.' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'image_url', image_url: { url: 'https://upload.wikimedia.org/a.jpg', detail: 'high' } },
        ],
      },
    ],
  });
  const expected: Anthropic.MessageParam[] = [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'Compare these.' },
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
        { type: 'image', source: { type: 'url', url: 'https://upload.wikimedia.org/a.jpg' } },
      ],
    },
  ];
  assert.deepEqual(b.messages, expected);
  assert.throws(() => body({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x/a.png' } }] }] }), AiRequestError);
});

test('tools and tool_choice map; parallel_tool_calls:false disables parallel tool use', () => {
  const tools: ChatRequest['tools'] = [{ type: 'function', function: { name: 'get_weather', description: 'Get the weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
  const b = body({ messages: [{ role: 'user', content: 'x' }], tools });
  const expectedTools: Anthropic.Tool[] = [{ name: 'get_weather', description: 'Get the weather', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];
  assert.deepEqual(b.tools, expectedTools);
  assert.equal(b.tool_choice, undefined);
  const choice = (tc: ChatRequest['tool_choice'], parallel?: boolean): unknown => body({ messages: [{ role: 'user', content: 'x' }], tools, tool_choice: tc, ...(parallel === undefined ? {} : { parallel_tool_calls: parallel }) }).tool_choice;
  assert.deepEqual(choice('none'), { type: 'none' });
  assert.deepEqual(choice('auto'), { type: 'auto' });
  assert.deepEqual(choice('required'), { type: 'any' });
  assert.deepEqual(choice({ type: 'function', function: { name: 'get_weather' } }), { type: 'tool', name: 'get_weather' });
  const noParallel: Anthropic.ToolChoice = { type: 'any', disable_parallel_tool_use: true };
  assert.deepEqual(choice('required', false), noParallel);
  assert.deepEqual(choice(undefined, false), { type: 'auto', disable_parallel_tool_use: true });
  assert.deepEqual(body({ messages: [], tools: [{ type: 'function', function: { name: 'f' } }] }).tools, [{ name: 'f', input_schema: { type: 'object', properties: {} } }]);
});

test('JSON mode is emulated with an instruction appended to the system prompt', () => {
  const j = body({ messages: [{ role: 'system', content: 'Be helpful.' }, { role: 'user', content: 'x' }], response_format: { type: 'json_object' } });
  const sys = j.system as Array<{ text: string }>;
  assert.equal(sys[0]!.text, 'Be helpful.');
  assert.match(sys[1]!.text, /^Respond with a single JSON object only/);
  const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] };
  const s = body({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'a', schema } } });
  assert.match(s.system as string, /Respond with a single JSON object only/);
  assert.ok((s.system as string).endsWith(JSON.stringify(schema)));
  assert.equal(body({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'text' } }).system, undefined);
});

test('a message with text and tool use becomes a completion; stop reasons and usage map', () => {
  const msg: Anthropic.Message = {
    id: 'msg_01Aq9w938a90dw8q',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5-20250929',
    content: [
      { type: 'text', text: "I'll check ", citations: null },
      { type: 'text', text: 'the weather.', citations: null },
      { type: 'tool_use', id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', input: { location: 'San Francisco, CA' } },
    ],
    stop_reason: 'tool_use',
    stop_sequence: null,
    usage: { input_tokens: 2095, output_tokens: 503, cache_creation_input_tokens: 100, cache_read_input_tokens: 1000, server_tool_use: null, service_tier: 'standard' } as Anthropic.Usage,
  } as Anthropic.Message;
  const r = a.chatResponse(JSON.stringify(msg), ctx);
  assert.deepEqual(r.completion, {
    id: 'msg_01Aq9w938a90dw8q',
    object: 'chat.completion',
    created: ctx.created,
    model: 'claude-sonnet',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: "I'll check the weather.",
          refusal: null,
          tool_calls: [{ id: 'toolu_01A09q90qw90lq917835lq9', type: 'function', function: { name: 'get_weather', arguments: '{"location":"San Francisco, CA"}' } }],
        },
        finish_reason: 'tool_calls',
        logprobs: null,
      },
    ],
    usage: { prompt_tokens: 3195, completion_tokens: 503, total_tokens: 3698, prompt_tokens_details: { cached_tokens: 1000 } },
  });
  assert.deepEqual(r.usage, { promptTokens: 3195, completionTokens: 503, cachedTokens: 1000 });
  const reasons: Array<[string, string]> = [
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
  ];
  for (const [stop, finish] of reasons) {
    const c = a.chatResponse(JSON.stringify({ id: 'm', type: 'message', role: 'assistant', content: [], stop_reason: stop, usage: { input_tokens: 1, output_tokens: 0 } }), ctx).completion;
    assert.equal(c.choices[0]!.finish_reason, finish, stop);
    assert.equal(c.choices[0]!.message.content, '');
  }
  assert.throws(() => a.chatResponse('{"type":"message"}', ctx), ProviderStreamError);
});

// The tool-use stream of Anthropic's streaming reference (text block, then a tool_use block with input_json_delta).
const TOOL_STREAM: Array<[string, unknown]> = [
  ['message_start', { type: 'message_start', message: { id: 'msg_014p7gG3wDgGV9EUtLvnow3U', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929', stop_sequence: null, usage: { input_tokens: 472, output_tokens: 2, cache_read_input_tokens: 100, cache_creation_input_tokens: 0 }, content: [], stop_reason: null } }],
  ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
  ['ping', { type: 'ping' }],
  ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Okay, let' } }],
  ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: "'s check the weather for San Francisco, CA: ☀️" } }],
  ['content_block_stop', { type: 'content_block_stop', index: 0 }],
  ['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', input: {} } }],
  ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '' } }],
  ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"location":' } }],
  ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: ' "San Francisco, CA"}' } }],
  ['content_block_stop', { type: 'content_block_stop', index: 1 }],
  ['message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 89 } }],
  ['message_stop', { type: 'message_stop' }],
];

test('a recorded tool-use stream fed whole and byte by byte gives the same OpenAI chunks', () => {
  const bytes = sse(TOOL_STREAM);
  const t = a.chatStream(ctx);
  const whole = run(t, bytes, 'whole');
  assert.deepEqual(run(a.chatStream(ctx), bytes, 'bytes'), whole);
  const id = 'msg_014p7gG3wDgGV9EUtLvnow3U';
  const c = (delta: object, finish: string | null = null): ChatCompletionChunk => ({ id, object: 'chat.completion.chunk', created: ctx.created, model: 'claude-sonnet', choices: [{ index: 0, delta, finish_reason: finish }] }) as ChatCompletionChunk;
  assert.deepEqual(whole, [
    c({ role: 'assistant', content: '' }),
    c({ content: 'Okay, let' }),
    c({ content: "'s check the weather for San Francisco, CA: ☀️" }),
    c({ tool_calls: [{ index: 0, id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
    c({ tool_calls: [{ index: 0, function: { arguments: '{"location":' } }] }),
    c({ tool_calls: [{ index: 0, function: { arguments: ' "San Francisco, CA"}' } }] }),
    c({}, 'tool_calls'),
    { id, object: 'chat.completion.chunk', created: ctx.created, model: 'claude-sonnet', choices: [], usage: { prompt_tokens: 572, completion_tokens: 89, total_tokens: 661, prompt_tokens_details: { cached_tokens: 100 } } },
  ]);
  assert.deepEqual(t.usage(), { promptTokens: 572, completionTokens: 89, cachedTokens: 100 });
});

test('CRLF framing and a thinking block: thinking is dropped, the text streams', () => {
  const events: Array<[string, unknown]> = [
    TOOL_STREAM[0]!,
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Let me think.' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'EqQBCgIYAhIM' } }],
    ['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: '42' } }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: 30 } }],
    ['message_stop', { type: 'message_stop' }],
  ];
  const bytes = Buffer.from(sse(events).toString().replace(/\n/g, '\r\n'));
  const out = run(a.chatStream(ctx), bytes, 'bytes');
  assert.deepEqual(out.map((c) => c.choices[0]?.delta.content ?? null), ['', '42', null, null]);
  assert.equal(out[2]!.choices[0]!.finish_reason, 'length');
});

test('an error event mid-stream is a ProviderStreamError: overloaded is 503 and retryable', () => {
  const t = a.chatStream(ctx);
  assert.equal(t.push(sse(TOOL_STREAM.slice(0, 4))).length, 2);
  assert.throws(
    () => t.push(Buffer.from('event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n')),
    (e: unknown) => e instanceof ProviderStreamError && e.error.status === 503 && e.error.retryable && e.error.body.error.message === 'Overloaded' && e.error.body.error.code === 'overloaded_error',
  );
  assert.deepEqual(t.usage(), { promptTokens: 572, completionTokens: 2, cachedTokens: 100 }, 'input tokens are known once message_start arrived');
});

test('a stream that ends without message_stop is a 502 ProviderStreamError', () => {
  const t = a.chatStream(ctx);
  t.push(sse(TOOL_STREAM.slice(0, -1)));
  assert.throws(() => t.end(), (e: unknown) => e instanceof ProviderStreamError && e.error.status === 502);
  assert.throws(() => a.chatStream(ctx).push(sse([TOOL_STREAM[3]!])), ProviderStreamError, 'deltas before message_start');
});

test('error mapping table: Anthropic error types to OpenAI statuses', () => {
  const cases: Array<[number, string, number, boolean]> = [
    [400, 'invalid_request_error', 400, false],
    [401, 'authentication_error', 401, false],
    [403, 'permission_error', 403, false],
    [404, 'not_found_error', 404, false],
    [413, 'request_too_large', 413, false],
    [429, 'rate_limit_error', 429, true],
    [500, 'api_error', 502, true],
    [529, 'overloaded_error', 503, true],
    [504, 'timeout_error', 504, true],
    [402, 'billing_error', 502, true],
  ];
  for (const [http, type, status, retryable] of cases) {
    const e = a.error(http, JSON.stringify({ type: 'error', error: { type, message: `msg ${type}` }, request_id: 'req_011CSHoEeqs5C35K2UUqR7Fy' }), http === 429 ? { 'retry-after': '30' } : {});
    assert.equal(e.status, status, type);
    assert.equal(e.retryable, retryable, type);
    assert.deepEqual(e.body.error, { message: `msg ${type}`, type: e.body.error.type, param: null, code: type });
    assert.equal(e.retryAfterMs, http === 429 ? 30_000 : null, type);
  }
  assert.equal(a.error(400, JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'x' } }), {}).body.error.type, 'invalid_request_error');
  const html = a.error(502, '<html>Bad Gateway</html>', {});
  assert.equal(html.status, 502);
  assert.equal(html.retryable, true);
  assert.match(html.body.error.message, /^Anthropic answered HTTP 502: <html>/);
});

test('no embeddings; native usage from a message and sniffed from a stream', () => {
  assert.equal(a.embeddingsRequest({ model: 'x', input: 'y' }, target), null);
  assert.deepEqual(a.nativeUsage(JSON.stringify({ id: 'm', usage: { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 4 } })), { promptTokens: 14, completionTokens: 5, cachedTokens: 4 });
  const s = a.nativeUsageSniffer();
  const bytes = sse(TOOL_STREAM);
  for (let i = 0; i < bytes.length; i += 5) s.push(bytes.subarray(i, i + 5));
  assert.deepEqual(s.usage(), { promptTokens: 572, completionTokens: 89, cachedTokens: 100 });
});

/** What the official OpenAI SDK's stream helper assembles from the translated chunks, as a gateway client would see it. */
async function sdkAssembled(chunks: ChatCompletionChunk[]): Promise<OpenAI.ChatCompletion> {
  const body = chunks.map((c) => encodeSseData(JSON.stringify(c))).join('') + 'data: [DONE]\n\n';
  const client = new OpenAI({ apiKey: 'k', baseURL: 'http://gateway.invalid/v1', fetch: async () => new Response(body, { headers: { 'content-type': 'text/event-stream' } }) });
  return client.chat.completions.stream({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'x' }], stream_options: { include_usage: true } }).finalChatCompletion();
}

test('the OpenAI SDK assembles the translated stream into the completion the non-streamed translation gives', async () => {
  const streamed = await sdkAssembled(run(a.chatStream(ctx), sse(TOOL_STREAM), 'whole'));
  const message: Anthropic.Message = {
    id: 'msg_014p7gG3wDgGV9EUtLvnow3U',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5-20250929',
    content: [
      { type: 'text', text: "Okay, let's check the weather for San Francisco, CA: ☀️", citations: null },
      { type: 'tool_use', id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', input: { location: 'San Francisco, CA' } },
    ],
    stop_reason: 'tool_use',
    stop_sequence: null,
    usage: { input_tokens: 472, output_tokens: 89, cache_read_input_tokens: 100, cache_creation_input_tokens: 0 },
  } as Anthropic.Message;
  const direct = a.chatResponse(JSON.stringify(message), ctx).completion;
  assert.equal(streamed.id, direct.id);
  assert.equal(streamed.choices[0]!.message.content, direct.choices[0]!.message.content);
  assert.equal(streamed.choices[0]!.finish_reason, direct.choices[0]!.finish_reason);
  // Arguments compared as JSON: the stream carries Anthropic's text ('{"location": …}'), the message its parsed input.
  const calls = (tcs: Array<{ id: string; type: string; function?: { name: string; arguments: string } }>): unknown[] =>
    tcs.map((t) => ({ id: t.id, type: t.type, name: t.function?.name, args: JSON.parse(t.function?.arguments ?? 'null') }));
  assert.deepEqual(calls(streamed.choices[0]!.message.tool_calls!), calls(direct.choices[0]!.message.tool_calls!));
  assert.deepEqual(streamed.usage, direct.usage);
});
