// Google's Gemini API (generateContent, streamGenerateContent?alt=sse, batchEmbedContents) behind the
// OpenAI shapes. Gemini streams whole GenerateContentResponse objects and ends at EOF with no end marker,
// so the finish and usage chunks are written when the stream ends.
import { ProviderStreamError, type AnswerContext, type ProviderAdapter, type ProviderError, type ProviderTarget, type StreamTranslator, type UpstreamCall, type UsageSniffer } from '../adapter.js';
import { AiRequestError } from '../request-error.js';
import { SseParser, type SseEvent } from '../sse.js';
import type { ChatCompletion, ChatCompletionChunk, ChatMessage, ChatRequest, EmbeddingsRequest, EmbeddingsResponse, FinishReason, NormalizedUsage, ToolCall, ToolCallDelta } from '../wire.js';
import { chunk, completionUsage, usageChunk } from './chunk-builder.js';
import { imageSource, partsOf, textOf } from './message-content.js';
import { classifyStatus, count, errorTypeFor, invalidAnswer, isObject, opaqueError, openAiError, parseObject, retryAfterMs } from './provider-error.js';

const NAME = 'Gemini';
const ZERO: NormalizedUsage = { promptTokens: 0, completionTokens: 0, cachedTokens: 0 };

type Part = Record<string, unknown>;
interface Content {
  role: 'user' | 'model';
  parts: Part[];
}

const MIME_BY_EXT: Readonly<Record<string, string>> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
};

/** fileData needs a mimeType; an image URL only hints at it through its extension. */
export function guessImageMime(url: string): string {
  let path = url;
  try {
    path = new URL(url).pathname;
  } catch {
    // keep the raw text
  }
  const ext = /\.([a-z0-9]+)$/i.exec(path)?.[1]?.toLowerCase();
  return (ext && MIME_BY_EXT[ext]) ?? 'image/jpeg';
}

/** The model path segment: `models/` prefixes are accepted and each path segment is escaped. */
function modelPath(model: string): string {
  const m = model.startsWith('models/') ? model.slice('models/'.length) : model;
  return m.split('/').map(encodeURIComponent).join('/');
}

function userParts(m: ChatMessage, i: number): Part[] {
  return partsOf(m.content).map((p, j): Part => {
    const param = `messages[${i}].content[${j}]`;
    if (p.type === 'text') return { text: String((p as { text?: unknown }).text ?? '') };
    if (p.type === 'image_url') {
      const src = imageSource(p, param);
      return src.kind === 'inline' ? { inlineData: { mimeType: src.mediaType, data: src.data } } : { fileData: { mimeType: guessImageMime(src.url), fileUri: src.url } };
    }
    throw new AiRequestError(`Gemini does not accept content parts of type ${JSON.stringify(p.type)} here`, param, 'unsupported_content');
  });
}

function modelParts(m: ChatMessage, i: number): Part[] {
  const parts: Part[] = [];
  const text = textOf(m.content, `messages[${i}].content`, NAME);
  if (text !== '') parts.push({ text });
  (m.tool_calls ?? []).forEach((tc, j) => {
    const param = `messages[${i}].tool_calls[${j}].function.arguments`;
    let args: unknown = {};
    if ((tc.function?.arguments ?? '').trim() !== '') {
      try {
        args = JSON.parse(tc.function.arguments);
      } catch {
        throw new AiRequestError('tool call arguments are not valid JSON', param, 'invalid_tool_arguments');
      }
    }
    if (!isObject(args)) throw new AiRequestError('tool call arguments must be a JSON object', param, 'invalid_tool_arguments');
    const part: Part = { functionCall: { name: tc.function.name, args } };
    // Gemini 3 refuses a function call in the history without the thought signature it came with. It
    // travels in the tool call as Google's own OpenAI-compatible API returns it; a history without one
    // (another model's, or a client that dropped it) gets the placeholder Google documents for that case.
    const sig = signatureOf(tc);
    if (sig !== null) part.thoughtSignature = sig;
    else if (j === 0) part.thoughtSignature = SKIP_SIGNATURE;
    parts.push(part);
  });
  return parts;
}

/** https://ai.google.dev/gemini-api/docs/thought-signatures: for function calls whose signature is unknown. */
const SKIP_SIGNATURE = 'skip_thought_signature_validator';

/** Where a tool call carries Gemini's thought signature (`extra_content.google.thought_signature`, as in Google's OpenAI-compatible API). */
type SignedToolCall = { extra_content?: { google?: { thought_signature?: string } } };

function signatureOf(tc: ToolCall): string | null {
  const sig = (tc as ToolCall & SignedToolCall).extra_content?.google?.thought_signature;
  return typeof sig === 'string' && sig !== '' ? sig : null;
}

function signed<T extends object>(call: T, signature: string | null): T {
  return signature === null ? call : { ...call, extra_content: { google: { thought_signature: signature } } };
}

/** Gemini names the function a result answers, not the call: the name comes from the assistant turn that made the call. */
function functionResponsePart(m: ChatMessage, i: number, callNames: ReadonlyMap<string, string>): Part {
  const name = typeof m.tool_call_id === 'string' ? callNames.get(m.tool_call_id) : undefined;
  if (name === undefined) throw new AiRequestError('tool message answers no tool call of an earlier assistant message', `messages[${i}].tool_call_id`, 'unknown_tool_call_id');
  const text = textOf(m.content, `messages[${i}].content`, NAME);
  let content: unknown;
  try {
    content = JSON.parse(text);
  } catch {
    content = { result: text };
  }
  return { functionResponse: { name, response: { content } } };
}

export function translateContents(messages: readonly ChatMessage[]): { system: string[]; contents: Content[] } {
  const system: string[] = [];
  const contents: Content[] = [];
  const callNames = new Map<string, string>();
  messages.forEach((m, i) => {
    let role: 'user' | 'model';
    let parts: Part[];
    switch (m.role) {
      case 'system':
      case 'developer': {
        const t = textOf(m.content, `messages[${i}].content`, NAME);
        if (t !== '') system.push(t);
        return;
      }
      case 'user':
        role = 'user';
        parts = userParts(m, i);
        break;
      case 'assistant':
        role = 'model';
        for (const tc of m.tool_calls ?? []) callNames.set(tc.id, tc.function.name);
        parts = modelParts(m, i);
        break;
      case 'tool':
        role = 'user';
        parts = [functionResponsePart(m, i, callNames)];
        break;
      default:
        throw new AiRequestError(`unknown message role ${JSON.stringify(m.role)}`, `messages[${i}].role`, 'invalid_role');
    }
    parts = parts.filter((p) => p.text !== '');
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    if (last && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  });
  return { system, contents };
}

function toolConfig(tc: ChatRequest['tool_choice']): Record<string, unknown> | undefined {
  if (tc === undefined || tc === null) return undefined;
  if (tc === 'none') return { functionCallingConfig: { mode: 'NONE' } };
  if (tc === 'auto') return { functionCallingConfig: { mode: 'AUTO' } };
  if (tc === 'required') return { functionCallingConfig: { mode: 'ANY' } };
  return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [tc.function.name] } };
}

/** The generateContent body for an OpenAI chat request. */
export function geminiBody(req: ChatRequest): Record<string, unknown> {
  const { system, contents } = translateContents(req.messages);
  const body: Record<string, unknown> = { contents };
  if (system.length > 0) body.systemInstruction = { parts: system.map((text) => ({ text })) };
  if (req.tools && req.tools.length > 0) {
    const functionDeclarations = req.tools.map((t, i) => {
      if (t.type !== 'function') throw new AiRequestError(`Gemini accepts function tools only, not ${JSON.stringify(t.type)}`, `tools[${i}].type`, 'unsupported_tool');
      const d: Record<string, unknown> = { name: t.function.name };
      if (t.function.description !== undefined) d.description = t.function.description;
      if (t.function.parameters !== undefined) d.parameters = t.function.parameters;
      return d;
    });
    body.tools = [{ functionDeclarations }];
  }
  const tc = toolConfig(req.tool_choice);
  if (tc) body.toolConfig = tc;
  const g: Record<string, unknown> = {};
  const set = (k: string, v: unknown): void => {
    if (v !== undefined && v !== null) g[k] = v;
  };
  set('temperature', req.temperature);
  set('topP', req.top_p);
  set('maxOutputTokens', req.max_completion_tokens ?? req.max_tokens);
  if (req.stop !== undefined && req.stop !== null) g.stopSequences = typeof req.stop === 'string' ? [req.stop] : req.stop;
  set('candidateCount', req.n);
  set('seed', req.seed);
  set('presencePenalty', req.presence_penalty);
  set('frequencyPenalty', req.frequency_penalty);
  const rf = req.response_format;
  if (rf && rf.type !== 'text') {
    g.responseMimeType = 'application/json';
    if (rf.type === 'json_schema' && rf.json_schema?.schema) g.responseSchema = rf.json_schema.schema;
  }
  if (Object.keys(g).length > 0) body.generationConfig = g;
  return body;
}

export function finishReason(reason: unknown, hasToolCalls: boolean): FinishReason | null {
  switch (reason) {
    case undefined:
    case null:
    case 'FINISH_REASON_UNSPECIFIED':
      return null;
    case 'MAX_TOKENS':
      return 'length';
    case 'SAFETY':
    case 'RECITATION':
    case 'BLOCKLIST':
    case 'PROHIBITED_CONTENT':
    case 'SPII':
    case 'IMAGE_SAFETY':
    case 'IMAGE_PROHIBITED_CONTENT':
    case 'IMAGE_RECITATION':
      return 'content_filter';
    default:
      return hasToolCalls ? 'tool_calls' : 'stop'; // STOP, OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL, TOO_MANY_TOOL_CALLS…
  }
}

/** usageMetadata: thinking tokens are output tokens (billed as such); tool-use prompt tokens are prompt tokens. */
function geminiUsage(m: unknown): NormalizedUsage | null {
  if (!isObject(m)) return null;
  return {
    promptTokens: count(m.promptTokenCount) + count(m.toolUsePromptTokenCount),
    completionTokens: count(m.candidatesTokenCount) + count(m.thoughtsTokenCount),
    cachedTokens: count(m.cachedContentTokenCount),
  };
}

interface CandidateParts {
  text: string;
  calls: Array<{ name: string; args: string; signature: string | null }>;
}

/** A candidate's visible text and function calls (thought summaries are not part of the answer). */
function readParts(candidate: Record<string, unknown>): CandidateParts {
  const out: CandidateParts = { text: '', calls: [] };
  const content = isObject(candidate.content) ? candidate.content : {};
  for (const p of Array.isArray(content.parts) ? (content.parts as unknown[]) : []) {
    if (!isObject(p) || p.thought === true) continue;
    if (typeof p.text === 'string') out.text += p.text;
    else if (isObject(p.functionCall)) {
      const signature = typeof p.thoughtSignature === 'string' && p.thoughtSignature !== '' ? p.thoughtSignature : null;
      out.calls.push({ name: String(p.functionCall.name ?? ''), args: JSON.stringify(p.functionCall.args ?? {}), signature });
    }
  }
  return out;
}

function candidatesOf(resp: Record<string, unknown>): Array<Record<string, unknown>> {
  return Array.isArray(resp.candidates) ? (resp.candidates as unknown[]).filter(isObject) : [];
}

function candidateIndex(c: Record<string, unknown>, i: number): number {
  return typeof c.index === 'number' ? c.index : i;
}

/** A prompt Gemini blocked outright comes back with no candidates and a promptFeedback.blockReason. */
function promptBlocked(resp: Record<string, unknown>): boolean {
  return isObject(resp.promptFeedback) && typeof resp.promptFeedback.blockReason === 'string';
}

const STATUS_MAP: Readonly<Record<string, { status: number; retryable: boolean }>> = {
  INVALID_ARGUMENT: { status: 400, retryable: false },
  FAILED_PRECONDITION: { status: 400, retryable: false },
  OUT_OF_RANGE: { status: 400, retryable: false },
  UNAUTHENTICATED: { status: 401, retryable: false },
  PERMISSION_DENIED: { status: 403, retryable: false },
  NOT_FOUND: { status: 404, retryable: false },
  RESOURCE_EXHAUSTED: { status: 429, retryable: true },
  CANCELLED: { status: 502, retryable: true },
  INTERNAL: { status: 502, retryable: true },
  UNKNOWN: { status: 502, retryable: true },
  UNAVAILABLE: { status: 503, retryable: true },
  DEADLINE_EXCEEDED: { status: 504, retryable: true },
};

/** `retryDelay: "17s"` of a google.rpc.RetryInfo detail, in ms. */
function retryDelayMs(details: unknown): number | null {
  if (!Array.isArray(details)) return null;
  for (const d of details) {
    if (!isObject(d) || typeof d['@type'] !== 'string' || !d['@type'].endsWith('google.rpc.RetryInfo')) continue;
    const m = typeof d.retryDelay === 'string' ? /^(\d+(?:\.\d+)?)s$/.exec(d.retryDelay) : null;
    if (m) return Math.round(Number(m[1]) * 1000);
  }
  return null;
}

/** `{error:{code,message,status}}` (an array of those from non-SSE stream endpoints) as an OpenAI error. */
function mapError(parsed: unknown, httpStatus: number, headers: Readonly<Record<string, string>>): ProviderError | null {
  const obj = Array.isArray(parsed) ? parsed[0] : parsed;
  const e = isObject(obj) && isObject(obj.error) ? obj.error : null;
  if (!e || typeof e.message !== 'string') return null;
  const gstatus = typeof e.status === 'string' ? e.status : '';
  // In a stream (httpStatus 0) the error's own code stands in for the HTTP status.
  const c = STATUS_MAP[gstatus] ?? classifyStatus(httpStatus >= 400 ? httpStatus : typeof e.code === 'number' && e.code >= 400 ? e.code : 502);
  return {
    status: c.status,
    body: openAiError(e.message, errorTypeFor(c.status), null, gstatus || null),
    retryable: c.retryable,
    retryAfterMs: retryAfterMs(headers) ?? retryDelayMs(e.details),
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

class GeminiStream implements StreamTranslator {
  private readonly sse = new SseParser();
  private id: string;
  private used: NormalizedUsage | null = null;
  /** Per candidate index: role sent, tool calls so far, and its finish reason once given. */
  private readonly cands = new Map<number, { calls: number; finish: FinishReason | null }>();
  private ended = false;

  constructor(private readonly ctx: AnswerContext) {
    this.id = ctx.fallbackId;
  }

  push(bytes: Buffer): ChatCompletionChunk[] {
    return this.take(this.sse.push(bytes));
  }

  end(): ChatCompletionChunk[] {
    const out = this.take(this.sse.end());
    if (this.ended) return out;
    this.ended = true;
    const finished = [...this.cands.entries()].filter(([, s]) => s.finish !== null);
    if (finished.length === 0) throw invalidAnswer(NAME, 'the stream ended before a finishReason');
    for (const [index, s] of finished.sort((a, b) => a[0] - b[0])) out.push(chunk(this.ctx, this.id, index, {}, s.finish));
    out.push(usageChunk(this.ctx, this.id, this.used ?? ZERO));
    return out;
  }

  usage(): NormalizedUsage | null {
    return this.used;
  }

  private state(index: number, out: ChatCompletionChunk[]): { calls: number; finish: FinishReason | null } {
    let s = this.cands.get(index);
    if (!s) {
      s = { calls: 0, finish: null };
      this.cands.set(index, s);
      out.push(chunk(this.ctx, this.id, index, { role: 'assistant', content: '' }));
    }
    return s;
  }

  private take(events: SseEvent[]): ChatCompletionChunk[] {
    const out: ChatCompletionChunk[] = [];
    for (const ev of events) {
      const resp = parseJson(ev.data);
      const err = mapError(resp, 0, {});
      if (err) throw new ProviderStreamError(err);
      if (!isObject(resp)) throw invalidAnswer(NAME, 'a stream event that is not a JSON object');
      if (typeof resp.responseId === 'string' && resp.responseId !== '') this.id = resp.responseId;
      const u = geminiUsage(resp.usageMetadata);
      if (u) this.used = u;
      const cands = candidatesOf(resp);
      if (cands.length === 0 && promptBlocked(resp)) this.state(0, out).finish = 'content_filter';
      cands.forEach((c, i) => {
        const index = candidateIndex(c, i);
        const s = this.state(index, out);
        const { text, calls } = readParts(c);
        if (text !== '') out.push(chunk(this.ctx, this.id, index, { content: text }));
        if (calls.length > 0) {
          // Gemini sends each function call whole: one delta carries id, name and all the arguments.
          const deltas: ToolCallDelta[] = calls.map((call) => {
            const n = s.calls++;
            return signed<ToolCallDelta>({ index: n, id: `call_${index}_${n}`, type: 'function', function: { name: call.name, arguments: call.args } }, call.signature);
          });
          out.push(chunk(this.ctx, this.id, index, { tool_calls: deltas }));
        }
        const f = finishReason(c.finishReason, s.calls > 0);
        if (f) s.finish = f;
      });
    }
    return out;
  }
}

class GeminiSniffer implements UsageSniffer {
  private readonly sse = new SseParser();
  private used: NormalizedUsage | null = null;
  push(bytes: Buffer): void {
    for (const ev of this.sse.push(bytes)) {
      if (!ev.data.includes('"usageMetadata"')) continue;
      const u = geminiUsage(parseObject(ev.data)?.usageMetadata);
      if (u) this.used = u;
    }
  }
  usage(): NormalizedUsage | null {
    return this.used;
  }
}

function headersFor(target: ProviderTarget, accept: string): Record<string, string> {
  return { ...target.headers, ...geminiAdapter.nativeHeaders(target), 'content-type': 'application/json', accept };
}

export const geminiAdapter: ProviderAdapter = {
  types: ['gemini'],

  chatRequest(req: ChatRequest, target: ProviderTarget): UpstreamCall {
    const op = req.stream ? 'streamGenerateContent?alt=sse' : 'generateContent';
    return {
      method: 'POST',
      url: `${target.baseUrl}/v1beta/models/${modelPath(target.model)}:${op}`,
      headers: headersFor(target, req.stream ? 'text/event-stream' : 'application/json'),
      body: JSON.stringify(geminiBody(req)),
    };
  },

  chatResponse(body: string, ctx: AnswerContext) {
    const resp = parseObject(body);
    if (!resp || (!Array.isArray(resp.candidates) && !promptBlocked(resp))) throw invalidAnswer(NAME, 'not a GenerateContentResponse');
    const choices: ChatCompletion['choices'] = candidatesOf(resp).map((c, i) => {
      const index = candidateIndex(c, i);
      const { text, calls } = readParts(c);
      const toolCalls: ToolCall[] = calls.map((call, n) => signed<ToolCall>({ id: `call_${index}_${n}`, type: 'function', function: { name: call.name, arguments: call.args } }, call.signature));
      const message: ChatCompletion['choices'][number]['message'] = { role: 'assistant', content: text === '' && toolCalls.length > 0 ? null : text, refusal: null };
      if (toolCalls.length > 0) message.tool_calls = toolCalls;
      return { index, message, finish_reason: finishReason(c.finishReason, toolCalls.length > 0) ?? 'stop', logprobs: null };
    });
    if (choices.length === 0) choices.push({ index: 0, message: { role: 'assistant', content: null, refusal: null }, finish_reason: 'content_filter', logprobs: null });
    const usage = geminiUsage(resp.usageMetadata) ?? ZERO;
    const completion: ChatCompletion = {
      id: typeof resp.responseId === 'string' && resp.responseId !== '' ? resp.responseId : ctx.fallbackId,
      object: 'chat.completion',
      created: ctx.created,
      model: ctx.model,
      choices,
      usage: completionUsage(usage),
    };
    return { completion, usage };
  },

  chatStream(ctx: AnswerContext): StreamTranslator {
    return new GeminiStream(ctx);
  },

  embeddingsRequest(req: EmbeddingsRequest, target: ProviderTarget): UpstreamCall {
    const inputs = typeof req.input === 'string' ? [req.input] : req.input;
    const texts = (inputs as unknown[]).map((t, i) => {
      if (typeof t !== 'string') throw new AiRequestError('Gemini embeds text only, not token arrays', `input[${i}]`, 'unsupported_input');
      return t;
    });
    const model = `models/${target.model.startsWith('models/') ? target.model.slice('models/'.length) : target.model}`;
    const requests = texts.map((text) => {
      const r: Record<string, unknown> = { model, content: { parts: [{ text }] } };
      if (req.dimensions !== undefined) r.outputDimensionality = req.dimensions;
      return r;
    });
    return {
      method: 'POST',
      url: `${target.baseUrl}/v1beta/models/${modelPath(target.model)}:batchEmbedContents`,
      headers: headersFor(target, 'application/json'),
      body: JSON.stringify({ requests }),
    };
  },

  embeddingsResponse(body: string, ctx: AnswerContext) {
    const resp = parseObject(body);
    if (!resp || !Array.isArray(resp.embeddings)) throw invalidAnswer(NAME, 'not a batchEmbedContents response');
    const data: EmbeddingsResponse['data'] = (resp.embeddings as unknown[]).map((e, index) => {
      const values = isObject(e) && Array.isArray(e.values) ? (e.values as unknown[]) : null;
      if (!values || !values.every((v) => typeof v === 'number')) throw invalidAnswer(NAME, `embedding ${index} has no values`);
      return { object: 'embedding', index, embedding: values as number[] };
    });
    // batchEmbedContents reports no token counts: the call is metered as 0 tokens (priced per call only).
    const response: EmbeddingsResponse = { object: 'list', data, model: ctx.model, usage: { prompt_tokens: 0, total_tokens: 0 } };
    return { response, usage: ZERO };
  },

  error(status: number, body: string, headers: Readonly<Record<string, string>>): ProviderError {
    return mapError(parseJson(body), status, headers) ?? opaqueError(NAME, status, body, headers);
  },

  nativeHeaders(target: ProviderTarget): Record<string, string> {
    return target.apiKey === null ? {} : { 'x-goog-api-key': target.apiKey };
  },

  nativeUsage(body: string): NormalizedUsage | null {
    const parsed = parseJson(body);
    // streamGenerateContent without alt=sse answers a JSON array of responses: the last one has the totals.
    const last = Array.isArray(parsed) ? parsed[parsed.length - 1] : parsed;
    return isObject(last) ? geminiUsage(last.usageMetadata) : null;
  },

  nativeUsageSniffer(): UsageSniffer {
    return new GeminiSniffer();
  },
};
