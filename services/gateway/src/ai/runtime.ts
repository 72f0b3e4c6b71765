// The AI gateway's request handling for a service with an `ai` integration: one OpenAI-compatible API
// (`POST …/chat/completions`, `POST …/embeddings`, `GET …/models`), native passthrough for Anthropic
// (`POST …/messages`) and Gemini (`POST …/models/<m>:generateContent`), and prompt templates published as
// REST endpoints. Picks providers (candidates.ts), translates (adapters/), retries and falls back on 429,
// 5xx and timeouts — for streams only before the first byte reaches the client — meters tokens and cost into
// the call record, and reports the time spent in the gateway (`X-Turnpike-Overhead-Ms`).
import { errorBody, TemplateRenderError, type ErrorCode, type FieldError } from '@turnpike/common';
import { ProviderStreamError, type AnswerContext, type ProviderAdapter, type ProviderError, type UpstreamCall } from './adapter.js';
import { acquire, candidatesFor, costOf, release, type Candidate, type CompiledAiIntegration } from './candidates.js';
import { Cancellation, ProviderClient, readErrorText, readText } from './provider-client.js';
import { AiResponseCache } from './response-cache.js';
import { AiRequestError } from './request-error.js';
import type { AiSink } from './sink.js';
import type { BudgetGate } from './budget-gate.js';
import type { Amount, Reservation } from './budget-ledger.js';
import type { BudgetSubject } from './budget-index.js';
import { encodeSseData } from './sse.js';
import type { AiTables, CompiledAiProvider } from './tables.js';
import type { ChatCompletionChunk, ChatMessage, ChatRequest, EmbeddingsRequest, NormalizedUsage, OpenAiErrorBody } from './wire.js';

/** One client request to an AI service, as the proxy hands it over (the body read whole). */
export interface AiCall {
  method: string;
  /** The request path (no query). */
  path: string;
  body: Buffer;
  serviceId: string;
  requestId: string;
  integration: CompiledAiIntegration;
  tables: AiTables;
  /** performance.now() when the request arrived. */
  t0: number;
  /** Whose budgets the call counts against. */
  who: BudgetSubject;
}

export interface AiRuntimeOptions {
  client?: ProviderClient;
  /** Bytes the exact-match cache may hold on this thread (TP_AI_CACHE_MAX_BYTES). */
  cacheMaxBytes?: number;
  /** Each answered call's gateway overhead in ms (the overhead metric). */
  observeOverhead?: (ms: number) => void;
  /** Longest wait a provider's Retry-After may impose before a retry of the same provider (else: next provider). */
  maxRetryWaitMs?: number;
  /**
   * The node's budget ledger (directly in the primary thread, relayed from a worker); null: none, and a
   * call that a budget counts is refused with 503 (a budget is a spending ceiling: no ledger, no spending).
   */
  budgets?: BudgetGate | null;
}

/** Success bodies are read up to this (a larger answer is a provider fault: 502). */
const ANSWER_MAX = 64 * 1024 * 1024;
const JSON_HEADERS = ['content-type', 'application/json'];
const SSE_HEADERS = ['content-type', 'text/event-stream; charset=utf-8', 'cache-control', 'no-cache'];
const DONE = Buffer.from('data: [DONE]\n\n');
/** Completion tokens reserved against budgets when a call sets no max_tokens. */
const DEFAULT_OUTPUT_ESTIMATE = 4096;

function positiveInt(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : null;
}

type Operation = 'chat' | 'embeddings' | 'models' | 'template' | 'anthropic-native' | 'gemini-native';

export class AiRuntime {
  readonly client: ProviderClient;
  readonly cache: AiResponseCache;
  readonly #observeOverhead: (ms: number) => void;
  readonly #maxRetryWaitMs: number;
  readonly budgets: BudgetGate | null;

  constructor(options: AiRuntimeOptions = {}) {
    this.budgets = options.budgets ?? null;
    this.client = options.client ?? new ProviderClient();
    this.cache = new AiResponseCache(options.cacheMaxBytes ?? 32 * 1024 * 1024);
    this.#observeOverhead = options.observeOverhead ?? (() => undefined);
    this.#maxRetryWaitMs = options.maxRetryWaitMs ?? 2_000;
  }

  /** Answers `call` through `sink`; never throws (a fault becomes a 500 answer). */
  handle(call: AiCall, sink: AiSink): void {
    const run = new CallRun(this, call, sink, this.#observeOverhead, this.#maxRetryWaitMs);
    run.start().catch((err: unknown) => run.internalError(err));
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

function operationOf(method: string, path: string, integration: CompiledAiIntegration): Operation | { status: number; code: ErrorCode; message: string } {
  if (integration.promptTemplateId !== null) {
    if (method !== 'POST') return { status: 405, code: 'TP_ERR_METHOD_NOT_ALLOWED', message: 'a prompt template endpoint takes POST with JSON variables' };
    return 'template';
  }
  if (path.endsWith('/chat/completions')) return method === 'POST' ? 'chat' : notAllowed('POST');
  if (path.endsWith('/embeddings')) return method === 'POST' ? 'embeddings' : notAllowed('POST');
  if (path.endsWith('/models')) return method === 'GET' ? 'models' : notAllowed('GET');
  if (path.endsWith('/messages')) return method === 'POST' ? 'anthropic-native' : notAllowed('POST');
  if (/\/models\/[^/]+:(generateContent|streamGenerateContent)$/.test(path)) return method === 'POST' ? 'gemini-native' : notAllowed('POST');
  return { status: 404, code: 'TP_ERR_ROUTE_NOT_FOUND', message: 'not an AI endpoint: use …/chat/completions, …/embeddings, …/models, …/messages or …/models/<model>:generateContent' };
}

function notAllowed(method: string): { status: number; code: ErrorCode; message: string } {
  return { status: 405, code: 'TP_ERR_METHOD_NOT_ALLOWED', message: `this AI endpoint takes ${method}` };
}

/** OpenAI's error `type` for a status the gateway answers itself. */
function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** A provider's error on a native endpoint: the mapped decision (retry or not) plus the body the native client expects. */
interface NativeProviderError extends ProviderError {
  nativeBody: string;
  nativeType: string;
}

class BadRequest extends Error {
  constructor(
    message: string,
    readonly param: string | null,
    readonly code: ErrorCode = 'TP_ERR_VALIDATION',
  ) {
    super(message);
  }
}

/** The state of one call: attempts, what was written, usage. */
class CallRun {
  readonly #abort = new Cancellation();
  /** The client saw the response head (no fallback from here on). */
  #headSent = false;
  #ended = false;
  /** Time spent waiting on providers (all attempts), for the overhead figure. */
  #providerMs = 0;
  #resume: (() => void) | null = null;
  /** The budget reservation held while the call runs (settled or released when it ends). */
  #reservation: Reservation | null = null;
  /** A provider was called (the reservation is then settled with what was metered, else released). */
  #contacted = false;
  #spent: Amount = { tokens: 0, costUsd: 0, requests: 1 };
  /** Gateway time up to the response head (X-Turnpike-Overhead-Ms); -1 until the head is written. */
  #headOverheadMs = -1;
  /** Gateway time translating and writing a stream's chunks after the head. */
  #streamMs = 0;
  /** A prompt-template call answers `{ output, model, usage }` instead of a chat.completion. */
  templateOutput = false;

  constructor(
    readonly rt: AiRuntime,
    readonly call: AiCall,
    readonly sink: AiSink,
    readonly observeOverhead: (ms: number) => void,
    readonly maxRetryWaitMs: number,
  ) {}

  async start(): Promise<void> {
    this.sink.onConnect(() => this.#abort.abort());
    const op = operationOf(this.call.method, this.call.path, this.call.integration);
    try {
      if (typeof op !== 'string') this.gatewayError(op.status, op.code, op.message, null);
      else await this.dispatch(op);
    } finally {
      // The metric: the head's figure plus what a stream cost after it (the header could not know that).
      if (this.#headOverheadMs >= 0) this.observeOverhead(this.#headOverheadMs + this.#streamMs);
      const r = this.#reservation;
      this.#reservation = null;
      if (r !== null) void (this.#contacted ? r.settle(this.#spent) : r.release()).catch(() => undefined);
    }
  }

  async dispatch(op: Operation): Promise<void> {
    try {
      switch (op) {
        case 'models':
          return this.models();
        case 'chat':
          return await this.chat(parseChat(this.json()), null);
        case 'embeddings':
          return await this.embeddings(parseEmbeddings(this.json()));
        case 'template':
          return await this.template();
        case 'anthropic-native':
          return await this.native('anthropic');
        case 'gemini-native':
          return await this.native('gemini');
      }
    } catch (err) {
      if (err instanceof BadRequest) return this.gatewayError(400, err.code, err.message, err.param);
      throw err;
    }
  }

  json(): Record<string, unknown> {
    let v: unknown;
    try {
      v = JSON.parse(this.call.body.toString('utf8'));
    } catch {
      throw new BadRequest('the request body is not valid JSON', null, 'TP_ERR_BAD_JSON');
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadRequest('the request body must be a JSON object', null);
    return v as Record<string, unknown>;
  }

  // ---- operations ----

  models(): void {
    const { integration, tables } = this.call;
    const data: Array<{ id: string; object: 'model'; created: number; owned_by: string }> = [];
    const seen = new Set<string>();
    const add = (id: string, owner: string): void => {
      if (seen.has(id)) return;
      seen.add(id);
      data.push({ id, object: 'model', created: 0, owned_by: owner });
    };
    if (integration.model !== null) add(integration.model, 'turnpike');
    else {
      for (const id of integration.providerIds) {
        const p = tables.providers.get(id);
        if (!p || p.unusable !== null) continue;
        for (const m of p.models) {
          add(m.name, p.name);
          for (const a of m.aliases ?? []) add(a, p.name);
        }
        if (p.models.length === 0 && p.defaultModel !== null) add(p.defaultModel, p.name);
      }
    }
    this.answerJson(200, { object: 'list', data }, null);
  }

  /** `template`: the prompt template's rendering (the messages then come from it, not from `req`). */
  async chat(req: ChatRequest, template: { providerId: string | null; model: string | null } | null): Promise<void> {
    const integration = this.call.integration;
    const requested = integration.model ?? (template?.model ?? null) ?? (req.model === '' ? null : req.model);
    const { candidates, unusable } = candidatesFor(integration, this.call.tables, requested);
    if (template?.providerId) {
      const i = candidates.findIndex((c) => c.provider.id === template.providerId);
      if (i > 0) candidates.unshift(...candidates.splice(i, 1));
    }
    if (candidates.length === 0) return this.noProvider(requested, unusable);
    const stream = req.stream === true;
    const clientWantsUsage = stream && req.stream_options?.include_usage === true;
    const cacheKey = !stream && integration.cacheTtlMs > 0 ? AiResponseCache.key(this.call.serviceId, 'chat', JSON.stringify({ ...req, model: requested })) : null;
    if (cacheKey !== null && this.cachedAnswer(cacheKey)) return;
    const maxOut = positiveInt(req.max_completion_tokens) ?? positiveInt(req.max_tokens) ?? DEFAULT_OUTPUT_ESTIMATE;
    if (!(await this.admit(candidates, this.call.body.length, maxOut))) return;

    let last: ProviderError | null = null;
    for (const c of candidates) {
      const adapter = c.provider.adapter!;
      for (let attempt = 0; attempt <= integration.retries; attempt++) {
        const ctx = this.answerContext(requested ?? c.modelName);
        const upstream = this.build(() => adapter.chatRequest({ ...req, model: c.modelName }, this.target(c)));
        const outcome = stream ? await this.streamAttempt(c, adapter, upstream, ctx, clientWantsUsage) : await this.completionAttempt(c, adapter, upstream, ctx, cacheKey);
        if (outcome === null) return; // answered (or the client left)
        last = outcome;
        if (!outcome.retryable) return this.providerError(outcome);
        if (attempt < integration.retries && !(await this.backoff(outcome, attempt))) break;
      }
    }
    return this.providerError(last!);
  }

  async embeddings(req: EmbeddingsRequest): Promise<void> {
    const integration = this.call.integration;
    const requested = integration.model ?? (req.model === '' ? null : req.model);
    const { candidates, unusable } = candidatesFor(integration, this.call.tables, requested, (p) => p.adapter?.embeddingsRequest !== undefined);
    if (candidates.length === 0) return this.noProvider(requested, unusable);
    const cacheKey = integration.cacheTtlMs > 0 ? AiResponseCache.key(this.call.serviceId, 'embeddings', JSON.stringify({ ...req, model: requested })) : null;
    if (cacheKey !== null && this.cachedAnswer(cacheKey)) return;
    if (!(await this.admit(candidates, this.call.body.length, 0))) return;
    let last: ProviderError | null = null;
    let supported = false;
    for (const c of candidates) {
      const adapter = c.provider.adapter!;
      const upstream = this.build(() => adapter.embeddingsRequest({ ...req, model: c.modelName }, this.target(c)));
      if (upstream === null) continue;
      supported = true;
      for (let attempt = 0; attempt <= integration.retries; attempt++) {
        const ctx = this.answerContext(requested ?? c.modelName);
        const outcome = await this.jsonAttempt(c, adapter, upstream, ctx, cacheKey, (text) => {
          const { response, usage } = adapter.embeddingsResponse(text, ctx);
          // Providers without base64 output (Gemini) answer floats: encoded here as OpenAI does (float32, little-endian).
          if (req.encoding_format === 'base64') {
            for (const d of response.data) if (Array.isArray(d.embedding)) d.embedding = Buffer.from(new Float32Array(d.embedding).buffer).toString('base64');
          }
          return { body: response, usage };
        });
        if (outcome === null) return;
        last = outcome;
        if (!outcome.retryable) return this.providerError(outcome);
        if (attempt < integration.retries && !(await this.backoff(outcome, attempt))) break;
      }
    }
    if (!supported) return this.gatewayError(400, 'TP_ERR_AI_MODEL_NOT_FOUND', `no provider of this service offers embeddings${requested ? ` for model ${requested}` : ''}`, 'model');
    return this.providerError(last!);
  }

  async template(): Promise<void> {
    const { integration, tables } = this.call;
    const versions = tables.templates.get(integration.promptTemplateId!);
    const pinned = integration.promptTemplateVersion;
    const t = pinned === null ? versions?.current : versions?.byVersion.get(pinned);
    if (t === undefined) {
      const what = pinned === null ? 'the prompt template' : `version ${pinned} of the prompt template`;
      return this.gatewayError(503, 'TP_ERR_AI_PROVIDER_UNAVAILABLE', `${what} of this service is not available on this node`, null);
    }
    const body = this.call.body.length === 0 ? {} : this.json();
    const variables = (typeof body.variables === 'object' && body.variables !== null && !Array.isArray(body.variables) ? body.variables : body) as Record<string, unknown>;
    let messages;
    try {
      messages = t.template.render(variables);
    } catch (err) {
      if (err instanceof TemplateRenderError) return this.restError(400, 'TP_ERR_VALIDATION', err.message, err.fields ?? []);
      throw err;
    }
    const p = t.parameters;
    const req: ChatRequest = {
      model: '',
      messages: messages.map((m): ChatMessage => ({ role: m.role, content: m.content })),
      ...(p.temperature !== undefined ? { temperature: p.temperature } : {}),
      ...(p.top_p !== undefined ? { top_p: p.top_p } : {}),
      ...(p.max_tokens !== undefined ? { max_tokens: p.max_tokens } : {}),
      ...(p.stop !== undefined ? { stop: p.stop } : {}),
    };
    this.templateOutput = true;
    return this.chat(req, { providerId: t.providerId, model: t.model });
  }

  /** Native passthrough: the provider's own API, body and answer untouched, usage read on the way. */
  async native(type: 'anthropic' | 'gemini'): Promise<void> {
    const integration = this.call.integration;
    let requested: string | null;
    let streamed: boolean;
    let suffix: string;
    let parsed: Record<string, unknown> | null = null;
    if (type === 'anthropic') {
      const body = (parsed = this.json());
      requested = integration.model ?? (typeof body.model === 'string' ? body.model : null);
      streamed = body.stream === true;
      suffix = '/v1/messages';
    } else {
      const m = /\/models\/([^/:]+):(generateContent|streamGenerateContent)$/.exec(this.call.path)!;
      requested = integration.model ?? decodeURIComponent(m[1]!);
      streamed = m[2] === 'streamGenerateContent';
      suffix = '';
    }
    const { candidates, unusable } = candidatesFor(integration, this.call.tables, requested, (p) => p.type === type);
    if (candidates.length === 0) return this.noProvider(requested, unusable);
    const maxOut =
      type === 'anthropic'
        ? positiveInt(parsed?.max_tokens)
        : positiveInt((this.geminiConfig() as { maxOutputTokens?: unknown } | null)?.maxOutputTokens);
    if (!(await this.admit(candidates, this.call.body.length, maxOut ?? DEFAULT_OUTPUT_ESTIMATE))) return;
    let last: ProviderError | null = null;
    for (const c of candidates) {
      const adapter = c.provider.adapter!;
      for (let attempt = 0; attempt <= integration.retries; attempt++) {
        const target = this.target(c);
        let url: string;
        let body: string;
        if (type === 'anthropic') {
          url = target.baseUrl + suffix;
          body = JSON.stringify({ ...parsed!, model: c.modelName });
        } else {
          url = `${target.baseUrl}/v1beta/models/${encodeURIComponent(c.modelName)}:${streamed ? 'streamGenerateContent?alt=sse' : 'generateContent'}`;
          body = this.call.body.toString('utf8');
        }
        const headers = { ...target.headers, ...adapter.nativeHeaders(target), 'content-type': 'application/json' };
        const outcome = await this.nativeAttempt(c, adapter, { method: 'POST', url, headers, body }, streamed);
        if (outcome === null) return;
        last = outcome;
        if (!outcome.retryable) return this.nativeError(outcome);
        if (attempt < integration.retries && !(await this.backoff(outcome, attempt))) break;
      }
    }
    return this.nativeError(last!);
  }

  /** A native Gemini request's generationConfig (null when absent or the body is not JSON: the provider judges it). */
  geminiConfig(): Record<string, unknown> | null {
    try {
      const v = JSON.parse(this.call.body.toString('utf8')) as { generationConfig?: unknown };
      return typeof v?.generationConfig === 'object' && v.generationConfig !== null ? (v.generationConfig as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }

  // ---- attempts: null = answered (or the client left); a ProviderError = this try failed ----

  /** A non-streamed chat completion. */
  async completionAttempt(c: Candidate, adapter: ProviderAdapter, upstream: UpstreamCall, ctx: AnswerContext, cacheKey: string | null): Promise<ProviderError | null> {
    return this.jsonAttempt(c, adapter, upstream, ctx, cacheKey, (text) => {
      const { completion, usage } = adapter.chatResponse(text, ctx);
      if (this.templateOutput) {
        const choice = completion.choices[0];
        return {
          body: {
            id: completion.id,
            output: choice?.message.content ?? '',
            finish_reason: choice?.finish_reason ?? null,
            model: completion.model,
            usage: { prompt_tokens: usage.promptTokens, completion_tokens: usage.completionTokens, total_tokens: usage.promptTokens + usage.completionTokens },
          },
          usage,
        };
      }
      return { body: completion, usage };
    });
  }

  /** Sends, reads the whole JSON answer, translates it with `translate` and answers the client. */
  async jsonAttempt(
    c: Candidate,
    adapter: ProviderAdapter,
    upstream: UpstreamCall,
    ctx: AnswerContext,
    cacheKey: string | null,
    translate: (text: string) => { body: unknown; usage: NormalizedUsage },
  ): Promise<ProviderError | null> {
    const t = performance.now();
    /** This attempt's provider time is in #providerMs (added before the answer is written, for its overhead figure). */
    let counted = false;
    acquire(c.provider.id);
    try {
      const sent = await this.send(upstream, c);
      if (sent.kind !== 'answer') return this.sendFailure(sent.kind, sent.kind === 'unreachable' ? sent.message : '', c);
      try {
        if (sent.status < 200 || sent.status >= 300) return adapter.error(sent.status, await readErrorText(sent.body), sent.headers);
        let text: string | null;
        try {
          text = await readText(sent.body, ANSWER_MAX);
        } catch {
          return this.#abort.aborted ? this.clientGone() : timeoutOrCut(c, 'the provider cut its answer short');
        }
        if (text === null) return badAnswer(c, 'the provider answer is too large');
        let out: { body: unknown; usage: NormalizedUsage };
        try {
          out = translate(text);
        } catch (err) {
          if (err instanceof ProviderStreamError) return err.error;
          return badAnswer(c, `the provider answer could not be read: ${(err as Error).message}`);
        }
        this.#providerMs += performance.now() - t;
        counted = true;
        this.meter(c, out.usage);
        const body = Buffer.from(JSON.stringify(out.body));
        if (cacheKey !== null) this.rt.cache.set(cacheKey, body, this.call.integration.cacheTtlMs, c.modelName, c.provider.name);
        this.answerBytes(200, JSON_HEADERS, body, cacheKey !== null ? ['x-turnpike-cache', 'MISS'] : null);
        return null;
      } finally {
        sent.done();
      }
    } finally {
      release(c.provider.id);
      if (!counted) this.#providerMs += performance.now() - t;
    }
  }

  /** Sends one attempt to a provider; from here on the call's budget reservation is settled, not released. */
  send(upstream: UpstreamCall, c: Candidate): ReturnType<ProviderClient['send']> {
    this.#contacted = true;
    return this.rt.client.send(upstream, c.provider.timeoutMs, this.#abort);
  }

  /** A streamed chat completion: provider events translated to OpenAI chunks as they come. */
  async streamAttempt(c: Candidate, adapter: ProviderAdapter, upstream: UpstreamCall, ctx: AnswerContext, clientWantsUsage: boolean): Promise<ProviderError | null> {
    const t = performance.now();
    acquire(c.provider.id);
    const sent = await this.send(upstream, c);
    if (sent.kind !== 'answer') {
      release(c.provider.id);
      this.#providerMs += performance.now() - t;
      return this.sendFailure(sent.kind, sent.kind === 'unreachable' ? sent.message : '', c);
    }
    if (sent.status < 200 || sent.status >= 300) {
      const text = await readErrorText(sent.body);
      sent.done();
      release(c.provider.id);
      this.#providerMs += performance.now() - t;
      return adapter.error(sent.status, text, sent.headers);
    }
    const translator = adapter.chatStream(ctx);
    const body = sent.body;
    return new Promise<ProviderError | null>((resolve) => {
      let settled = false;
      let firstByteAt = 0;
      const finish = (result: ProviderError | null): void => {
        if (settled) return;
        settled = true;
        sent.done();
        release(c.provider.id);
        body.removeAllListeners('data');
        body.removeAllListeners('end');
        body.removeAllListeners('error');
        if (!body.destroyed) body.destroy();
        if (!this.#headSent) this.#providerMs += performance.now() - t;
        resolve(result);
      };
      const emit = (chunks: ChatCompletionChunk[]): boolean => {
        let out = '';
        for (const ch of chunks) {
          if (!clientWantsUsage && ch.choices.length === 0 && ch.usage) continue;
          out += encodeSseData(JSON.stringify(ch));
        }
        if (out === '') return true;
        if (!this.#headSent) {
          firstByteAt = performance.now();
          this.#providerMs += firstByteAt - t;
          this.head(200, SSE_HEADERS, null);
        }
        return this.sink.onData(Buffer.from(out));
      };
      /** After the head went out, a provider failure can only be told in the stream, then the stream ends. */
      const failMidStream = (e: ProviderError, code: ErrorCode): void => {
        this.meter(c, translator.usage() ?? { promptTokens: 0, completionTokens: 0, cachedTokens: 0 });
        this.sink.setErrorCode(code);
        const err: OpenAiErrorBody = { error: { ...e.body.error } };
        this.sink.onData(Buffer.from(encodeSseData(JSON.stringify(err))));
        this.complete();
        finish(null);
      };
      const onFailure = (e: ProviderError, code: ErrorCode): void => {
        if (this.#headSent) return failMidStream(e, code);
        finish(e);
      };
      this.#resume = () => body.resume();
      body.on('data', (bytes: Buffer) => {
        const t1 = performance.now();
        let chunks: ChatCompletionChunk[];
        try {
          chunks = translator.push(bytes);
        } catch (err) {
          if (err instanceof ProviderStreamError) return onFailure(err.error, 'TP_ERR_AI_STREAM_INTERRUPTED');
          return onFailure(badAnswer(c, `the provider stream could not be read: ${(err as Error).message}`), 'TP_ERR_AI_STREAM_INTERRUPTED');
        }
        const sent = this.#headSent;
        if (!emit(chunks)) body.pause();
        // Translating and writing the chunks after the head is the gateway's time too (the metric counts it).
        if (sent) this.#streamMs += performance.now() - t1;
      });
      body.on('end', () => {
        if (settled) return;
        let chunks: ChatCompletionChunk[];
        try {
          chunks = translator.end();
        } catch (err) {
          if (err instanceof ProviderStreamError) return onFailure(err.error, 'TP_ERR_AI_STREAM_INTERRUPTED');
          return onFailure(badAnswer(c, (err as Error).message), 'TP_ERR_AI_STREAM_INTERRUPTED');
        }
        emit(chunks);
        if (!this.#headSent) this.head(200, SSE_HEADERS, null);
        this.meter(c, translator.usage() ?? { promptTokens: 0, completionTokens: 0, cachedTokens: 0 });
        this.sink.onData(DONE);
        this.complete();
        finish(null);
      });
      body.on('error', () => {
        if (settled) return;
        if (this.#abort.aborted) {
          this.meter(c, translator.usage() ?? { promptTokens: 0, completionTokens: 0, cachedTokens: 0 });
          finish(this.clientGone());
          return;
        }
        onFailure(timeoutOrCut(c, 'the provider stream broke off'), 'TP_ERR_AI_STREAM_INTERRUPTED');
      });
    });
  }

  /** Native passthrough: status, content type and body as the provider sent them. */
  async nativeAttempt(c: Candidate, adapter: ProviderAdapter, upstream: UpstreamCall, streamed: boolean): Promise<NativeProviderError | ProviderError | null> {
    const t = performance.now();
    acquire(c.provider.id);
    const sent = await this.send(upstream, c);
    if (sent.kind !== 'answer') {
      release(c.provider.id);
      this.#providerMs += performance.now() - t;
      return this.sendFailure(sent.kind, sent.kind === 'unreachable' ? sent.message : '', c);
    }
    const contentType = sent.headers['content-type'] ?? (streamed ? 'text/event-stream' : 'application/json');
    if (sent.status >= 400) {
      const text = await readErrorText(sent.body);
      sent.done();
      release(c.provider.id);
      this.#providerMs += performance.now() - t;
      const mapped = adapter.error(sent.status, text, sent.headers);
      // The native client expects the provider's own error body: keep it, with the mapped decision.
      return { ...mapped, status: sent.status, nativeBody: text, nativeType: contentType } satisfies NativeProviderError;
    }
    const sniffer = adapter.nativeUsageSniffer();
    const body = sent.body;
    return new Promise<ProviderError | null>((resolve) => {
      let settled = false;
      const chunks: Buffer[] = [];
      const finish = (r: ProviderError | null): void => {
        if (settled) return;
        settled = true;
        sent.done();
        release(c.provider.id);
        if (!body.destroyed) body.destroy();
        resolve(r);
      };
      const write = (bytes: Buffer): void => {
        if (!this.#headSent) {
          this.#providerMs += performance.now() - t;
          this.head(sent.status, ['content-type', contentType, ...(streamed ? ['cache-control', 'no-cache'] : [])], null);
        }
        if (!this.sink.onData(bytes)) body.pause();
      };
      this.#resume = () => body.resume();
      body.on('data', (bytes: Buffer) => {
        if (streamed) {
          sniffer.push(bytes);
          write(bytes);
        } else chunks.push(bytes);
      });
      body.on('end', () => {
        if (settled) return;
        let usage: NormalizedUsage | null;
        if (streamed) usage = sniffer.usage();
        else {
          const whole = Buffer.concat(chunks);
          usage = adapter.nativeUsage(whole.toString('utf8'));
          this.#providerMs += performance.now() - t;
          this.head(sent.status, ['content-type', contentType, 'content-length', String(whole.length)], null);
          this.sink.onData(whole);
        }
        if (!this.#headSent) this.head(sent.status, ['content-type', contentType], null);
        this.meter(c, usage ?? { promptTokens: 0, completionTokens: 0, cachedTokens: 0 });
        this.complete();
        finish(null);
      });
      body.on('error', () => {
        if (settled) return;
        if (this.#abort.aborted) return finish(this.clientGone());
        if (!this.#headSent) return finish(timeoutOrCut(c, 'the provider answer broke off'));
        this.meter(c, sniffer.usage() ?? { promptTokens: 0, completionTokens: 0, cachedTokens: 0 });
        this.sink.setErrorCode('TP_ERR_AI_STREAM_INTERRUPTED');
        this.cut();
        finish(null);
      });
    });
  }

  // ---- helpers ----

  target(c: Candidate): import('./adapter.js').ProviderTarget {
    const p: CompiledAiProvider = c.provider;
    return { type: p.type, baseUrl: p.baseUrl!, apiKey: p.apiKey, apiVersion: p.apiVersion, headers: p.headers, model: c.modelName };
  }

  /** Builds a provider request; an adapter refusing the input (AiRequestError) is the client's 400. */
  build<T>(f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (err instanceof AiRequestError) throw new BadRequest(err.body.error.message, err.body.error.param);
      throw err;
    }
  }

  answerContext(model: string): AnswerContext {
    return { model, created: Math.floor(Date.now() / 1000), fallbackId: `chatcmpl-${this.call.requestId}` };
  }

  meter(c: Candidate, usage: NormalizedUsage): void {
    const costUsd = costOf(c.model, usage.promptTokens, usage.completionTokens, usage.cachedTokens);
    this.#spent = { tokens: usage.promptTokens + usage.completionTokens, costUsd, requests: 1 };
    this.sink.recordAiUsage({ provider: c.provider.name, model: c.modelName, promptTokens: usage.promptTokens, completionTokens: usage.completionTokens, cachedTokens: usage.cachedTokens, costUsd });
  }

  /**
   * Reserves the call's largest possible spending in every budget that counts it (its API key's, consumer's
   * and tenant's): prompt tokens estimated from the body (about 4 bytes a token, an over-estimate for JSON),
   * `maxOut` completion tokens, at the dearest candidate's prices. False: refused and answered (429, or 503
   * when the ledger cannot decide). The reservation is settled with the metered usage when the call ends.
   */
  async admit(candidates: readonly Candidate[], promptBytes: number, maxOut: number): Promise<boolean> {
    const budgets = this.call.tables.budgets.budgetsFor(this.call.who);
    if (budgets.length === 0) return true;
    const gate = this.rt.budgets;
    if (gate === null) {
      this.gatewayError(503, 'TP_ERR_AI_BUDGET_UNAVAILABLE', 'an AI budget applies to this call but this node has no budget ledger', null);
      return false;
    }
    const prompt = Math.ceil(promptBytes / 4);
    let costUsd = 0;
    for (const c of candidates) costUsd = Math.max(costUsd, costOf(c.model, prompt, maxOut));
    const r = await gate.reserve(budgets, { tokens: prompt + maxOut, costUsd, requests: 1 });
    if (r.ok) {
      this.#reservation = r.reservation;
      return true;
    }
    if (r.unavailable) {
      this.gatewayError(503, 'TP_ERR_AI_BUDGET_UNAVAILABLE', 'the AI budget ledger cannot be reached; the call was not made', null);
      return false;
    }
    const b = r.budget;
    this.sink.setErrorCode('TP_ERR_AI_BUDGET_EXCEEDED');
    const body = {
      error: {
        message: `the ${b.period} AI budget ${b.id} of this ${b.scope.replace('_', ' ')} does not allow this call (spent or reserved)`,
        type: 'insufficient_quota',
        param: null,
        code: 'TP_ERR_AI_BUDGET_EXCEEDED',
        request_id: this.call.requestId,
      },
    };
    this.answerJson(429, body, ['retry-after', String(Math.max(1, Math.ceil(r.retryAfterS)))]);
    return false;
  }

  cachedAnswer(key: string): boolean {
    const hit = this.rt.cache.get(key);
    if (hit === undefined) return false;
    this.sink.recordAiUsage({ provider: hit.provider, model: hit.model, promptTokens: 0, completionTokens: 0, cachedTokens: 0, costUsd: 0 });
    this.answerBytes(200, JSON_HEADERS, hit.body, ['x-turnpike-cache', 'HIT']);
    return true;
  }

  /** A provider error after retries and fallbacks (or one not worth retrying), in OpenAI's shape. */
  providerError(e: ProviderError): void {
    const code: ErrorCode = e.status === 504 ? 'TP_ERR_AI_PROVIDER_TIMEOUT' : e.status >= 500 ? 'TP_ERR_AI_PROVIDER_ERROR' : 'TP_ERR_AI_PROVIDER_REJECTED';
    this.sink.setErrorCode(code);
    const extra = e.retryAfterMs !== null && (e.status === 429 || e.status === 503) ? ['retry-after', String(Math.max(1, Math.ceil(e.retryAfterMs / 1000)))] : null;
    this.answerJson(e.status, { error: { ...e.body.error, request_id: this.call.requestId } }, extra);
  }

  /** A native endpoint's failure: the provider's own error body when it sent one, else OpenAI's shape. */
  nativeError(e: NativeProviderError | ProviderError): void {
    if (!('nativeBody' in e)) return this.providerError(e);
    this.sink.setErrorCode(e.status >= 500 ? 'TP_ERR_AI_PROVIDER_ERROR' : 'TP_ERR_AI_PROVIDER_REJECTED');
    const extra = e.retryAfterMs !== null ? ['retry-after', String(Math.max(1, Math.ceil(e.retryAfterMs / 1000)))] : null;
    this.answerBytes(e.status, ['content-type', e.nativeType], Buffer.from(e.nativeBody), extra);
  }

  noProvider(requested: string | null, unusable: string[]): void {
    if (unusable.length > 0) {
      return this.gatewayError(503, 'TP_ERR_AI_PROVIDER_UNAVAILABLE', `no provider of this service can take the call on this node (${unusable.join('; ')})`, null);
    }
    const what = requested === null ? 'no provider of this service has a default model' : `the model ${JSON.stringify(requested)} is not offered by this service`;
    this.gatewayError(404, 'TP_ERR_AI_MODEL_NOT_FOUND', what, 'model', 'model_not_found');
  }

  sendFailure(kind: 'unreachable' | 'timeout' | 'aborted', message: string, c: Candidate): ProviderError | null {
    if (kind === 'aborted') return this.clientGone();
    if (kind === 'timeout') return timeoutOrCut(c, '');
    return {
      status: 502,
      retryable: true,
      retryAfterMs: null,
      body: { error: { message: `provider ${c.provider.name} is unreachable: ${message}`, type: 'api_error', param: null, code: 'TP_ERR_AI_PROVIDER_ERROR' } },
    };
  }

  /** The client went away: nothing more to answer. */
  clientGone(): null {
    if (!this.#ended) {
      this.#ended = true;
      this.sink.onError(new Error('client closed the connection'));
    }
    return null;
  }

  /** Waits before retrying the same provider; false: not worth it (a long Retry-After), try the next one. */
  async backoff(e: ProviderError, attempt: number): Promise<boolean> {
    const wait = e.retryAfterMs ?? Math.min(100 * 2 ** attempt, 1_000) * (0.5 + Math.random() / 2);
    if (wait > this.maxRetryWaitMs) return false;
    await new Promise((r) => setTimeout(r, wait));
    return !this.#abort.aborted;
  }

  // ---- writing ----

  head(status: number, headers: readonly string[], extra: readonly string[] | null): void {
    this.#headSent = true;
    const overhead = Math.max(0, performance.now() - this.call.t0 - this.#providerMs);
    this.#headOverheadMs = overhead;
    const pairs = [...headers, 'x-turnpike-overhead-ms', overhead.toFixed(3)];
    if (extra !== null) pairs.push(...extra);
    this.sink.onHeaders(status, pairs, () => this.#resume?.(), '');
  }

  answerBytes(status: number, headers: readonly string[], body: Buffer, extra: readonly string[] | null): void {
    if (this.#ended) return;
    this.head(status, [...headers, 'content-length', String(body.length)], extra);
    this.sink.onData(body);
    this.complete();
  }

  answerJson(status: number, value: unknown, extra: readonly string[] | null): void {
    this.answerBytes(status, JSON_HEADERS, Buffer.from(JSON.stringify(value)), extra);
  }

  /** An error the gateway itself answers on the OpenAI-compatible endpoints: OpenAI's shape, our code. */
  gatewayError(status: number, code: ErrorCode, message: string, param: string | null, openAiCode?: string): void {
    this.sink.setErrorCode(code);
    const body = { error: { message, type: errorType(status), param, code: openAiCode ?? code, request_id: this.call.requestId } };
    this.answerJson(status, body, null);
  }

  /** An error of a prompt-template REST endpoint: the gateway's usual error body (with field paths). */
  restError(status: number, code: ErrorCode, message: string, fields: FieldError[]): void {
    this.sink.setErrorCode(code);
    this.answerJson(status, errorBody(code, message, this.call.requestId, fields), null);
  }

  complete(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.sink.onComplete(null);
  }

  /** Headers went out and the answer cannot be finished: the connection is cut. */
  cut(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.sink.onError(new Error('the provider answer broke off'));
  }

  internalError(err: unknown): void {
    if (this.#ended) return;
    if (this.#headSent) return this.cut();
    this.gatewayError(500, 'TP_ERR_INTERNAL', `internal error in the AI gateway: ${(err as Error)?.message ?? String(err)}`, null);
  }
}

function timeoutOrCut(c: Candidate, message: string): ProviderError {
  const timeout = message === '';
  return {
    status: timeout ? 504 : 502,
    retryable: true,
    retryAfterMs: null,
    body: {
      error: {
        message: timeout ? `provider ${c.provider.name} did not answer within ${c.provider.timeoutMs} ms` : `provider ${c.provider.name}: ${message}`,
        type: 'api_error',
        param: null,
        code: timeout ? 'TP_ERR_AI_PROVIDER_TIMEOUT' : 'TP_ERR_AI_PROVIDER_ERROR',
      },
    },
  };
}

function badAnswer(c: Candidate, message: string): ProviderError {
  return { status: 502, retryable: true, retryAfterMs: null, body: { error: { message: `provider ${c.provider.name}: ${message}`, type: 'api_error', param: null, code: 'TP_ERR_AI_PROVIDER_ERROR' } } };
}

// ---- request checks: what the gateway needs to route and translate; the provider checks the rest ----

function parseChat(v: Record<string, unknown>): ChatRequest {
  if (v.model !== undefined && typeof v.model !== 'string') throw new BadRequest('model must be a string', 'model');
  if (!Array.isArray(v.messages) || v.messages.length === 0) throw new BadRequest('messages must be a non-empty array', 'messages');
  v.messages.forEach((m: unknown, i: number) => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new BadRequest(`messages[${i}] must be an object`, `messages[${i}]`);
    const role = (m as { role?: unknown }).role;
    if (role !== 'system' && role !== 'developer' && role !== 'user' && role !== 'assistant' && role !== 'tool') {
      throw new BadRequest(`messages[${i}].role must be one of system, developer, user, assistant, tool`, `messages[${i}].role`);
    }
    const content = (m as { content?: unknown }).content;
    if (content !== undefined && content !== null && typeof content !== 'string' && !Array.isArray(content)) {
      throw new BadRequest(`messages[${i}].content must be a string or an array of content parts`, `messages[${i}].content`);
    }
  });
  if (v.stream !== undefined && typeof v.stream !== 'boolean') throw new BadRequest('stream must be a boolean', 'stream');
  if (v.tools !== undefined && !Array.isArray(v.tools)) throw new BadRequest('tools must be an array', 'tools');
  return { ...(v as object), model: typeof v.model === 'string' ? v.model : '' } as ChatRequest;
}

function parseEmbeddings(v: Record<string, unknown>): EmbeddingsRequest {
  if (v.model !== undefined && typeof v.model !== 'string') throw new BadRequest('model must be a string', 'model');
  const input = v.input;
  const ok = typeof input === 'string' || (Array.isArray(input) && input.length > 0 && input.length <= 2048);
  if (!ok) throw new BadRequest('input must be a string or a non-empty array (at most 2048 items)', 'input');
  return { ...(v as object), model: typeof v.model === 'string' ? v.model : '' } as EmbeddingsRequest;
}

