// Anthropic's Messages API (POST /v1/messages) behind the OpenAI shapes: system prompts hoisted, roles made
// to alternate, tools and tool results as content blocks, JSON mode emulated in the system prompt, and the
// event stream (message_start … message_stop) turned into OpenAI chunks as events arrive.
import { ProviderStreamError, type AnswerContext, type ProviderAdapter, type ProviderError, type ProviderTarget, type StreamTranslator, type UpstreamCall, type UsageSniffer } from '../adapter.js';
import { AiRequestError } from '../request-error.js';
import { SseParser, type SseEvent } from '../sse.js';
import type { ChatCompletion, ChatCompletionChunk, ChatMessage, ChatRequest, FinishReason, NormalizedUsage, ToolCall } from '../wire.js';
import { chunk, completionUsage, usageChunk } from './chunk-builder.js';
import { imageSource, partsOf, textOf } from './message-content.js';
import { classifyStatus, count, errorTypeFor, invalidAnswer, isObject, opaqueError, openAiError, parseObject, retryAfterMs } from './provider-error.js';

const NAME = 'Anthropic';
export const ANTHROPIC_VERSION = '2023-06-01';
/** Anthropic requires max_tokens; OpenAI clients often send none. */
export const DEFAULT_MAX_TOKENS = 4096;

type Block = Record<string, unknown> & { type: string };
interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: string | Block[];
}

/** Anthropic has no JSON mode: the instruction appended to the system prompt for `response_format`. */
export function jsonModeInstruction(format: ChatRequest['response_format']): string | null {
  if (!format || format.type === 'text') return null;
  const base = 'Respond with a single JSON object only: no text, explanation or Markdown code fence before or after it.';
  if (format.type === 'json_schema' && format.json_schema?.schema) {
    return `${base} The object must conform to this JSON Schema:\n${JSON.stringify(format.json_schema.schema)}`;
  }
  return base;
}

function userBlocks(m: ChatMessage, i: number): Block[] {
  return partsOf(m.content).map((p, j): Block => {
    const param = `messages[${i}].content[${j}]`;
    if (p.type === 'text') return { type: 'text', text: String((p as { text?: unknown }).text ?? '') };
    if (p.type === 'image_url') {
      const src = imageSource(p, param);
      return src.kind === 'inline'
        ? { type: 'image', source: { type: 'base64', media_type: src.mediaType, data: src.data } }
        : { type: 'image', source: { type: 'url', url: src.url } };
    }
    throw new AiRequestError(`Anthropic does not accept content parts of type ${JSON.stringify(p.type)}`, param, 'unsupported_content');
  });
}

function assistantBlocks(m: ChatMessage, i: number): Block[] {
  const blocks: Block[] = [];
  partsOf(m.content).forEach((p, j) => {
    const text = p.type === 'text' ? (p as { text?: unknown }).text : p.type === 'refusal' ? (p as { refusal?: unknown }).refusal : undefined;
    if (typeof text !== 'string') throw new AiRequestError(`assistant content parts must be text, not ${JSON.stringify(p.type)}`, `messages[${i}].content[${j}]`, 'unsupported_content');
    blocks.push({ type: 'text', text });
  });
  (m.tool_calls ?? []).forEach((tc, j) => {
    const param = `messages[${i}].tool_calls[${j}].function.arguments`;
    let input: unknown = {};
    const args = tc.function?.arguments ?? '';
    if (args.trim() !== '') {
      try {
        input = JSON.parse(args);
      } catch {
        throw new AiRequestError('tool call arguments are not valid JSON', param, 'invalid_tool_arguments');
      }
    }
    if (!isObject(input)) throw new AiRequestError('tool call arguments must be a JSON object', param, 'invalid_tool_arguments');
    blocks.push({ type: 'tool_use', id: tc.id, name: tc.function.name, input });
  });
  return blocks;
}

function toolResultBlock(m: ChatMessage, i: number): Block {
  if (typeof m.tool_call_id !== 'string' || m.tool_call_id === '') throw new AiRequestError('tool messages need tool_call_id', `messages[${i}].tool_call_id`, 'missing_tool_call_id');
  return { type: 'tool_result', tool_use_id: m.tool_call_id, content: textOf(m.content, `messages[${i}].content`, NAME) };
}

/** Messages in Anthropic's shape: system text apart, consecutive same-role messages merged into one. */
export function translateMessages(messages: readonly ChatMessage[]): { system: string[]; messages: AnthropicMessage[] } {
  const system: string[] = [];
  const out: Array<{ role: 'user' | 'assistant'; blocks: Block[] }> = [];
  messages.forEach((m, i) => {
    let role: 'user' | 'assistant';
    let blocks: Block[];
    switch (m.role) {
      case 'system':
      case 'developer': {
        // Anthropic has one system prompt: system messages anywhere in the conversation join it, in order.
        const t = textOf(m.content, `messages[${i}].content`, NAME);
        if (t !== '') system.push(t);
        return;
      }
      case 'user':
        role = 'user';
        blocks = userBlocks(m, i);
        break;
      case 'assistant':
        role = 'assistant';
        blocks = assistantBlocks(m, i);
        break;
      case 'tool':
        role = 'user';
        blocks = [toolResultBlock(m, i)];
        break;
      default:
        throw new AiRequestError(`unknown message role ${JSON.stringify(m.role)}`, `messages[${i}].role`, 'invalid_role');
    }
    // Anthropic refuses empty text blocks; an assistant turn with only tool calls has content ''.
    blocks = blocks.filter((b) => b.type !== 'text' || b.text !== '');
    const last = out[out.length - 1];
    if (last && last.role === role) last.blocks.push(...blocks);
    else out.push({ role, blocks });
  });
  return {
    system,
    messages: out.map(({ role, blocks }) => {
      // tool_result blocks must open the user turn that answers the tool_use turn.
      if (role === 'user') blocks = [...blocks.filter((b) => b.type === 'tool_result'), ...blocks.filter((b) => b.type !== 'tool_result')];
      const only = blocks.length === 1 ? blocks[0] : undefined;
      return { role, content: only && only.type === 'text' ? (only.text as string) : blocks };
    }),
  };
}

function toolChoice(req: ChatRequest): Record<string, unknown> | undefined {
  const tc = req.tool_choice;
  let choice: Record<string, unknown> | undefined;
  if (tc === 'none') choice = { type: 'none' };
  else if (tc === 'auto') choice = { type: 'auto' };
  else if (tc === 'required') choice = { type: 'any' };
  else if (tc && typeof tc === 'object') choice = { type: 'tool', name: tc.function.name };
  if (req.parallel_tool_calls === false && choice?.type !== 'none') choice = { ...(choice ?? { type: 'auto' }), disable_parallel_tool_use: true };
  return choice;
}

/** The Messages API body for an OpenAI chat request. */
export function anthropicBody(req: ChatRequest, model: string): Record<string, unknown> {
  if (req.n !== undefined && req.n !== null && req.n !== 1) throw new AiRequestError('Anthropic returns one choice: n must be 1', 'n', 'unsupported_parameter');
  const { system, messages } = translateMessages(req.messages);
  const json = jsonModeInstruction(req.response_format);
  if (json) system.push(json);
  const body: Record<string, unknown> = { model, max_tokens: req.max_completion_tokens ?? req.max_tokens ?? DEFAULT_MAX_TOKENS, messages };
  if (system.length === 1) body.system = system[0];
  else if (system.length > 1) body.system = system.map((text) => ({ type: 'text', text }));
  if (req.stop !== undefined && req.stop !== null) body.stop_sequences = typeof req.stop === 'string' ? [req.stop] : req.stop;
  if (req.temperature !== undefined && req.temperature !== null) body.temperature = req.temperature;
  if (req.top_p !== undefined && req.top_p !== null) body.top_p = req.top_p;
  if (req.tools && req.tools.length > 0) {
    body.tools = req.tools.map((t, i) => {
      if (t.type !== 'function') throw new AiRequestError(`Anthropic accepts function tools only, not ${JSON.stringify(t.type)}`, `tools[${i}].type`, 'unsupported_tool');
      const tool: Record<string, unknown> = { name: t.function.name };
      if (t.function.description !== undefined) tool.description = t.function.description;
      tool.input_schema = t.function.parameters ?? { type: 'object', properties: {} };
      return tool;
    });
  }
  const choice = toolChoice(req);
  if (choice) body.tool_choice = choice;
  if (typeof req.user === 'string' && req.user !== '') body.metadata = { user_id: req.user };
  if (req.stream) body.stream = true;
  return body;
}

export function finishReason(stopReason: unknown): FinishReason | null {
  switch (stopReason) {
    case null:
    case undefined:
      return null;
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'stop'; // end_turn, stop_sequence, pause_turn
  }
}

/** Anthropic's usage: cache reads and writes are prompt tokens too (billed apart, counted in the prompt here). */
function anthropicUsage(u: unknown): NormalizedUsage | null {
  if (!isObject(u)) return null;
  const cached = count(u.cache_read_input_tokens);
  return { promptTokens: count(u.input_tokens) + cached + count(u.cache_creation_input_tokens), completionTokens: count(u.output_tokens), cachedTokens: cached };
}

/** message_delta carries cumulative counts: output_tokens always, input and cache counts on newer API versions. */
function mergeUsage(prev: Record<string, unknown>, next: unknown): Record<string, unknown> {
  if (!isObject(next)) return prev;
  const merged = { ...prev };
  for (const [k, v] of Object.entries(next)) if (typeof v === 'number') merged[k] = v;
  return merged;
}

const ERROR_STATUS: Readonly<Record<string, { status: number; retryable: boolean; type: string }>> = {
  invalid_request_error: { status: 400, retryable: false, type: 'invalid_request_error' },
  authentication_error: { status: 401, retryable: false, type: 'authentication_error' },
  permission_error: { status: 403, retryable: false, type: 'permission_error' },
  not_found_error: { status: 404, retryable: false, type: 'invalid_request_error' },
  request_too_large: { status: 413, retryable: false, type: 'invalid_request_error' },
  // The gateway's Anthropic account cannot pay: not the client's doing, and another provider may answer.
  billing_error: { status: 502, retryable: true, type: 'server_error' },
  conflict_error: { status: 502, retryable: true, type: 'server_error' },
  rate_limit_error: { status: 429, retryable: true, type: 'rate_limit_error' },
  api_error: { status: 502, retryable: true, type: 'server_error' },
  overloaded_error: { status: 503, retryable: true, type: 'server_error' },
  timeout_error: { status: 504, retryable: true, type: 'server_error' },
};

/** `{type:'error', error:{type, message}}` as an OpenAI error; the Anthropic type becomes `code`. */
function mapError(obj: Record<string, unknown> | null, httpStatus: number, headers: Readonly<Record<string, string>>): ProviderError | null {
  const e = obj && isObject(obj.error) ? obj.error : null;
  if (!e || typeof e.message !== 'string') return null;
  const atype = typeof e.type === 'string' ? e.type : '';
  const known = ERROR_STATUS[atype];
  const c = known ?? { ...classifyStatus(httpStatus), type: errorTypeFor(classifyStatus(httpStatus).status) };
  return { status: c.status, body: openAiError(e.message, c.type, null, atype || null), retryable: c.retryable, retryAfterMs: retryAfterMs(headers) };
}

class AnthropicStream implements StreamTranslator {
  private readonly sse = new SseParser();
  private id: string;
  private started = false;
  private stopped = false;
  private stopReason: unknown = null;
  private rawUsage: Record<string, unknown> | null = null;
  /** content block index → OpenAI tool call index (tool_use blocks only). */
  private readonly toolIndex = new Map<number, number>();
  private tools = 0;

  constructor(private readonly ctx: AnswerContext) {
    this.id = ctx.fallbackId;
  }

  push(bytes: Buffer): ChatCompletionChunk[] {
    return this.take(this.sse.push(bytes));
  }

  end(): ChatCompletionChunk[] {
    const out = this.take(this.sse.end());
    if (!this.stopped) throw invalidAnswer(NAME, 'the stream ended before message_stop');
    return out;
  }

  usage(): NormalizedUsage | null {
    return anthropicUsage(this.rawUsage);
  }

  private take(events: SseEvent[]): ChatCompletionChunk[] {
    const out: ChatCompletionChunk[] = [];
    for (const ev of events) {
      if (this.stopped) break;
      const data = parseObject(ev.data);
      if (!data) throw invalidAnswer(NAME, 'a stream event that is not a JSON object');
      const type = typeof data.type === 'string' ? data.type : ev.event;
      this.event(type, data, out);
    }
    return out;
  }

  private event(type: string | null, data: Record<string, unknown>, out: ChatCompletionChunk[]): void {
    const ctx = this.ctx;
    switch (type) {
      case 'message_start': {
        const msg = isObject(data.message) ? data.message : {};
        if (typeof msg.id === 'string' && msg.id !== '') this.id = msg.id;
        this.rawUsage = mergeUsage(this.rawUsage ?? {}, msg.usage);
        this.started = true;
        out.push(chunk(ctx, this.id, 0, { role: 'assistant', content: '' }));
        return;
      }
      case 'content_block_start': {
        this.requireStart();
        const block = isObject(data.content_block) ? data.content_block : {};
        const index = typeof data.index === 'number' ? data.index : -1;
        if (block.type === 'text' && typeof block.text === 'string' && block.text !== '') out.push(chunk(ctx, this.id, 0, { content: block.text }));
        else if (block.type === 'tool_use') {
          const ti = this.tools++;
          this.toolIndex.set(index, ti);
          out.push(chunk(ctx, this.id, 0, { tool_calls: [{ index: ti, id: String(block.id ?? ''), type: 'function', function: { name: String(block.name ?? ''), arguments: '' } }] }));
        }
        return; // thinking and server tool blocks have no OpenAI equivalent
      }
      case 'content_block_delta': {
        this.requireStart();
        const delta = isObject(data.delta) ? data.delta : {};
        if (delta.type === 'text_delta' && typeof delta.text === 'string') {
          if (delta.text !== '') out.push(chunk(ctx, this.id, 0, { content: delta.text }));
        } else if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string') {
          const ti = this.toolIndex.get(typeof data.index === 'number' ? data.index : -1);
          if (ti !== undefined && delta.partial_json !== '') out.push(chunk(ctx, this.id, 0, { tool_calls: [{ index: ti, function: { arguments: delta.partial_json } }] }));
        }
        return; // thinking_delta, signature_delta, citations_delta: dropped
      }
      case 'message_delta': {
        this.requireStart();
        const delta = isObject(data.delta) ? data.delta : {};
        if (delta.stop_reason !== undefined) this.stopReason = delta.stop_reason;
        this.rawUsage = mergeUsage(this.rawUsage ?? {}, data.usage);
        return;
      }
      case 'message_stop': {
        this.requireStart();
        this.stopped = true;
        out.push(chunk(ctx, this.id, 0, {}, finishReason(this.stopReason) ?? 'stop'));
        out.push(usageChunk(ctx, this.id, anthropicUsage(this.rawUsage) ?? { promptTokens: 0, completionTokens: 0, cachedTokens: 0 }));
        return;
      }
      case 'error':
        throw new ProviderStreamError(mapError(data, 502, {}) ?? opaqueError(NAME, 502, JSON.stringify(data), {}));
      default:
        return; // ping, content_block_stop, and event types added after this adapter
    }
  }

  private requireStart(): void {
    if (!this.started) throw invalidAnswer(NAME, 'stream events before message_start');
  }
}

class AnthropicSniffer implements UsageSniffer {
  private readonly sse = new SseParser();
  private raw: Record<string, unknown> | null = null;
  push(bytes: Buffer): void {
    for (const ev of this.sse.push(bytes)) {
      if (ev.event !== 'message_start' && ev.event !== 'message_delta') continue;
      const data = parseObject(ev.data);
      if (!data) continue;
      const u = ev.event === 'message_start' ? (isObject(data.message) ? data.message.usage : undefined) : data.usage;
      this.raw = mergeUsage(this.raw ?? {}, u);
    }
  }
  usage(): NormalizedUsage | null {
    return anthropicUsage(this.raw);
  }
}

export const anthropicAdapter: ProviderAdapter = {
  types: ['anthropic'],

  chatRequest(req: ChatRequest, target: ProviderTarget): UpstreamCall {
    return {
      method: 'POST',
      url: `${target.baseUrl}/v1/messages`,
      headers: { ...target.headers, ...anthropicAdapter.nativeHeaders(target), 'content-type': 'application/json', accept: req.stream ? 'text/event-stream' : 'application/json' },
      body: JSON.stringify(anthropicBody(req, target.model)),
    };
  },

  chatResponse(body: string, ctx: AnswerContext) {
    const msg = parseObject(body);
    if (!msg || !Array.isArray(msg.content)) throw invalidAnswer(NAME, 'not a message object');
    let text = '';
    const toolCalls: ToolCall[] = [];
    for (const b of msg.content as unknown[]) {
      if (!isObject(b)) continue;
      if (b.type === 'text' && typeof b.text === 'string') text += b.text;
      else if (b.type === 'tool_use') toolCalls.push({ id: String(b.id ?? ''), type: 'function', function: { name: String(b.name ?? ''), arguments: JSON.stringify(b.input ?? {}) } });
    }
    const usage = anthropicUsage(msg.usage) ?? { promptTokens: 0, completionTokens: 0, cachedTokens: 0 };
    const message: ChatCompletion['choices'][number]['message'] = { role: 'assistant', content: text === '' && toolCalls.length > 0 ? null : text, refusal: null };
    if (toolCalls.length > 0) message.tool_calls = toolCalls;
    const completion: ChatCompletion = {
      id: typeof msg.id === 'string' && msg.id !== '' ? msg.id : ctx.fallbackId,
      object: 'chat.completion',
      created: ctx.created,
      model: ctx.model,
      choices: [{ index: 0, message, finish_reason: finishReason(msg.stop_reason) ?? 'stop', logprobs: null }],
      usage: completionUsage(usage),
    };
    return { completion, usage };
  },

  chatStream(ctx: AnswerContext): StreamTranslator {
    return new AnthropicStream(ctx);
  },

  embeddingsRequest(): null {
    return null; // Anthropic has no embeddings API
  },

  embeddingsResponse(): never {
    throw invalidAnswer(NAME, 'Anthropic has no embeddings API');
  },

  error(status: number, body: string, headers: Readonly<Record<string, string>>): ProviderError {
    return mapError(parseObject(body), status, headers) ?? opaqueError(NAME, status, body, headers);
  },

  nativeHeaders(target: ProviderTarget): Record<string, string> {
    const h: Record<string, string> = { 'anthropic-version': ANTHROPIC_VERSION };
    if (target.apiKey !== null) h['x-api-key'] = target.apiKey;
    return h;
  },

  nativeUsage(body: string): NormalizedUsage | null {
    return anthropicUsage(parseObject(body)?.usage);
  },

  nativeUsageSniffer(): UsageSniffer {
    return new AnthropicSniffer();
  },
};
