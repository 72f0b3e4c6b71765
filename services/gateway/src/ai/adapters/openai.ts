// OpenAI's API and the providers that speak it (Azure OpenAI, Mistral, Ollama, vLLM and other
// OpenAI-compatible servers): requests pass through with the deployment's model; answers are already in the
// gateway's shape, so the work is URLs, credentials, forcing usage into streams, and checking what comes back.
import type { AiProviderType } from '@turnpike/common';
import { ProviderStreamError, type AnswerContext, type ProviderAdapter, type ProviderError, type ProviderTarget, type StreamTranslator, type UpstreamCall, type UsageSniffer } from '../adapter.js';
import { SseParser } from '../sse.js';
import { usageChunk } from './chunk-builder.js';
import type { ChatCompletion, ChatCompletionChunk, ChatRequest, EmbeddingsRequest, EmbeddingsResponse, NormalizedUsage } from '../wire.js';
import { classifyStatus, count, errorTypeFor, invalidAnswer, isObject, opaqueError, openAiError, parseObject, retryAfterMs } from './provider-error.js';

const NAME = 'The provider';

function endpoint(target: ProviderTarget, op: 'chat/completions' | 'embeddings'): string {
  switch (target.type) {
    case 'azure-openai':
      return `${target.baseUrl}/openai/deployments/${encodeURIComponent(target.model)}/${op}?api-version=${encodeURIComponent(target.apiVersion ?? '')}`;
    case 'ollama':
      // Ollama's base_url is the server root; its OpenAI-compatible API lives under /v1.
      return `${target.baseUrl.replace(/\/v1\/?$/, '')}/v1/${op}`;
    default:
      return `${target.baseUrl}/${op}`;
  }
}

function authHeaders(target: ProviderTarget): Record<string, string> {
  if (target.apiKey === null) return {};
  return target.type === 'azure-openai' ? { 'api-key': target.apiKey } : { authorization: `Bearer ${target.apiKey}` };
}

function call(target: ProviderTarget, op: 'chat/completions' | 'embeddings', body: unknown, accept: string): UpstreamCall {
  return {
    method: 'POST',
    url: endpoint(target, op),
    headers: { ...target.headers, ...authHeaders(target), 'content-type': 'application/json', accept },
    body: JSON.stringify(body),
  };
}

/** OpenAI's `usage` object (chat or embeddings) read into the gateway's counts. */
export function openAiUsage(u: unknown): NormalizedUsage | null {
  if (!isObject(u)) return null;
  const details = isObject(u.prompt_tokens_details) ? u.prompt_tokens_details : {};
  return { promptTokens: count(u.prompt_tokens), completionTokens: count(u.completion_tokens), cachedTokens: count(details.cached_tokens) };
}

const ZERO: NormalizedUsage = { promptTokens: 0, completionTokens: 0, cachedTokens: 0 };

/**
 * Chunks pass through as the provider sent them; missing ids and models are filled in. `usage: null` on
 * content chunks (OpenAI adds it because the gateway forces include_usage) is dropped, and usage that a
 * compatible server attaches to a content chunk is moved to a usage-only chunk, so every adapter's stream
 * ends the same way.
 */
class OpenAiStream implements StreamTranslator {
  private readonly sse = new SseParser();
  private done = false;
  private used: NormalizedUsage | null = null;
  private usageSent = false;
  private id: string;

  constructor(private readonly ctx: AnswerContext) {
    this.id = ctx.fallbackId;
  }

  push(bytes: Buffer): ChatCompletionChunk[] {
    return this.take(this.sse.push(bytes));
  }

  end(): ChatCompletionChunk[] {
    const out = this.take(this.sse.end());
    if (!this.done) throw invalidAnswer(NAME, 'the stream ended before [DONE]');
    return out;
  }

  usage(): NormalizedUsage | null {
    return this.used;
  }

  private take(events: ReturnType<SseParser['push']>): ChatCompletionChunk[] {
    const out: ChatCompletionChunk[] = [];
    for (const ev of events) {
      if (this.done) break;
      if (ev.data === '[DONE]') {
        this.done = true;
        if (this.used && !this.usageSent) {
          this.usageSent = true;
          out.push(usageChunk(this.ctx, this.id, this.used));
        }
        break;
      }
      const obj = parseObject(ev.data);
      if (!obj) throw invalidAnswer(NAME, 'a stream event that is not a JSON object');
      // vLLM, LiteLLM and OpenAI itself report failures after the 200 as an error event.
      if (ev.event === 'error' || isObject(obj.error)) throw new ProviderStreamError(mapErrorJson(obj, 502, {}) ?? opaque502(ev.data));
      if (!Array.isArray(obj.choices)) throw invalidAnswer(NAME, 'a stream chunk without choices');
      const c = obj as unknown as ChatCompletionChunk;
      if (typeof c.id === 'string' && c.id !== '') this.id = c.id;
      else c.id = this.id;
      if (typeof c.model !== 'string' || c.model === '') c.model = this.ctx.model;
      if (typeof c.created !== 'number') c.created = this.ctx.created;
      c.object = 'chat.completion.chunk';
      const u = openAiUsage(c.usage);
      if (u) this.used = u;
      if (c.choices.length === 0) {
        if (u) {
          this.usageSent = true;
          out.push(c);
        }
        continue; // an empty chunk without usage says nothing
      }
      delete c.usage;
      out.push(c);
    }
    return out;
  }
}

function opaque502(text: string): ProviderError {
  return opaqueError(NAME, 502, text, {});
}

/**
 * An OpenAI-style error JSON: `{error:{message,type,param,code}}`, or the variants compatible servers send
 * (`{error:"text"}` from Ollama, `{object:"error",message,type,code}` from vLLM). null if none of those.
 */
function mapErrorJson(obj: Record<string, unknown>, httpStatus: number, headers: Readonly<Record<string, string>>): ProviderError | null {
  let e: Record<string, unknown>;
  if (isObject(obj.error)) e = obj.error;
  else if (typeof obj.error === 'string') e = { message: obj.error };
  else if (obj.message !== undefined && obj.message !== null) e = obj;
  else return null;
  // Mistral's validation errors put pydantic's `{detail:[…]}` object in `message`.
  const message = typeof e.message === 'string' ? e.message : e.message !== undefined && e.message !== null ? JSON.stringify(e.message) : null;
  if (message === null) return null;
  const c = classifyStatus(httpStatus);
  const type = typeof e.type === 'string' && e.type !== '' ? e.type : errorTypeFor(c.status);
  const param = typeof e.param === 'string' ? e.param : null;
  const code = typeof e.code === 'string' ? e.code : typeof e.code === 'number' ? String(e.code) : null;
  return { status: c.status, body: openAiError(message, type, param, code), retryable: c.retryable, retryAfterMs: retryAfterMs(headers) };
}

class OpenAiSniffer implements UsageSniffer {
  private readonly sse = new SseParser();
  private used: NormalizedUsage | null = null;
  push(bytes: Buffer): void {
    for (const ev of this.sse.push(bytes)) {
      if (!ev.data.includes('"usage"')) continue; // skip parsing the many content chunks
      const u = openAiUsage(parseObject(ev.data)?.usage);
      if (u) this.used = u;
    }
  }
  usage(): NormalizedUsage | null {
    return this.used;
  }
}

export const openAiAdapter: ProviderAdapter = {
  types: ['openai', 'azure-openai', 'mistral', 'ollama', 'openai-compatible'] satisfies AiProviderType[],

  chatRequest(req: ChatRequest, target: ProviderTarget): UpstreamCall {
    const body: ChatRequest = { ...req, model: target.model };
    // Mistral refuses stream_options (422 extra_forbidden) and always puts usage on its last chunk.
    if (target.type === 'mistral') delete body.stream_options;
    else if (req.stream) body.stream_options = { ...(req.stream_options ?? {}), include_usage: true };
    return call(target, 'chat/completions', body, req.stream ? 'text/event-stream' : 'application/json');
  },

  chatResponse(body: string, ctx: AnswerContext) {
    const obj = parseObject(body);
    if (!obj || !Array.isArray(obj.choices)) throw invalidAnswer(NAME, 'not a chat.completion object');
    const completion = obj as unknown as ChatCompletion;
    if (typeof completion.model !== 'string' || completion.model === '') completion.model = ctx.model;
    if (typeof completion.id !== 'string' || completion.id === '') completion.id = ctx.fallbackId;
    if (typeof completion.created !== 'number') completion.created = ctx.created;
    completion.object = 'chat.completion';
    return { completion, usage: openAiUsage(completion.usage) ?? ZERO };
  },

  chatStream(ctx: AnswerContext): StreamTranslator {
    return new OpenAiStream(ctx);
  },

  embeddingsRequest(req: EmbeddingsRequest, target: ProviderTarget): UpstreamCall {
    return call(target, 'embeddings', { ...req, model: target.model }, 'application/json');
  },

  embeddingsResponse(body: string, ctx: AnswerContext) {
    const obj = parseObject(body);
    if (!obj || !Array.isArray(obj.data)) throw invalidAnswer(NAME, 'not an embeddings list');
    const response = obj as unknown as EmbeddingsResponse;
    if (typeof response.model !== 'string' || response.model === '') response.model = ctx.model;
    const usage = openAiUsage(response.usage) ?? ZERO;
    response.usage = { prompt_tokens: usage.promptTokens, total_tokens: usage.promptTokens };
    return { response, usage: { promptTokens: usage.promptTokens, completionTokens: 0, cachedTokens: 0 } };
  },

  error(status: number, body: string, headers: Readonly<Record<string, string>>): ProviderError {
    const obj = parseObject(body);
    return (obj && mapErrorJson(obj, status, headers)) ?? opaqueError(NAME, status, body, headers);
  },

  nativeHeaders(target: ProviderTarget): Record<string, string> {
    return authHeaders(target);
  },

  nativeUsage(body: string): NormalizedUsage | null {
    return openAiUsage(parseObject(body)?.usage);
  },

  nativeUsageSniffer(): UsageSniffer {
    return new OpenAiSniffer();
  },
};
