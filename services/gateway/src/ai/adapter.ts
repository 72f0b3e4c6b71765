// What a provider adapter does: turn an OpenAI-shaped request (wire.ts) into the provider's HTTP request,
// and the provider's answer (JSON, SSE stream or error) back into OpenAI's shapes, with the tokens used.
// Adapters are pure translation: no sockets, no clocks, no config lookups. The runtime (runtime.ts) picks
// providers, sends the calls, retries, meters and writes the client's response.
import type { AiProviderType } from '@turnpike/common';
import type { ChatCompletion, ChatCompletionChunk, ChatRequest, EmbeddingsRequest, EmbeddingsResponse, NormalizedUsage, OpenAiErrorBody } from './wire.js';

/** One provider deployment as a call needs it: endpoint, opened credentials and the model to ask for. */
export interface ProviderTarget {
  type: AiProviderType;
  /** `effectiveBaseUrl` of the provider, without a trailing slash. */
  baseUrl: string;
  /** The opened API key, or null where the provider has none. */
  apiKey: string | null;
  /** azure-openai's `api-version`. */
  apiVersion: string | null;
  /** The provider's extra headers (never credentials). */
  headers: Readonly<Record<string, string>>;
  /** The model name as the provider spells it (aliases already resolved; azure: the deployment name). */
  model: string;
}

/** An HTTP request to send to the provider. Header names lower case; body JSON text (null for GET). */
export interface UpstreamCall {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body: string | null;
}

/** What the runtime passes to translations of answers: ids and times come from the gateway, not the adapter. */
export interface AnswerContext {
  /** The model name the client gets back (what it asked for, or the provider's reported model). */
  model: string;
  /** Unix seconds, for `created`. */
  created: number;
  /** Used as the completion id where the provider's answer has none. */
  fallbackId: string;
}

/**
 * A provider's error, in OpenAI's shape. `status` is what the client gets (the provider's own status for
 * 4xx it caused: 400/401/403/404/413/422/429; 502 for provider 5xx and nonsense). `retryable`: 408, 409,
 * 429, 5xx and overload errors, where a fallback provider or a retry may do better; never 400-class input
 * errors. `retryAfterMs`: from Retry-After / retry-after-ms / the body, when the provider said.
 */
export interface ProviderError {
  status: number;
  body: OpenAiErrorBody;
  retryable: boolean;
  retryAfterMs: number | null;
}

/** Thrown by a StreamTranslator when the provider reports an error inside the stream (Anthropic `event: error`, a Gemini error chunk). */
export class ProviderStreamError extends Error {
  constructor(readonly error: ProviderError) {
    super(error.body.error.message);
    this.name = 'ProviderStreamError';
  }
}

/**
 * Turns a provider's streamed answer into OpenAI chunks as bytes arrive (no buffering beyond an incomplete
 * line or event). Always emits the final usage-only chunk (`choices: []`, `usage` set) once the provider's
 * usage is known; the runtime drops it when the client did not ask for `stream_options.include_usage`.
 */
export interface StreamTranslator {
  /** Feed raw response bytes; returns the chunks they complete (possibly none). Throws ProviderStreamError. */
  push(bytes: Buffer): ChatCompletionChunk[];
  /** The stream ended: returns what is left. Throws ProviderStreamError if the provider's stream was cut short (no end event). */
  end(): ChatCompletionChunk[];
  /** The tokens used, once the provider has said (null before). */
  usage(): NormalizedUsage | null;
}

/** Reads usage from a provider's native stream without changing it (native passthrough routes). */
export interface UsageSniffer {
  push(bytes: Buffer): void;
  usage(): NormalizedUsage | null;
}

export interface ProviderAdapter {
  readonly types: readonly AiProviderType[];
  /**
   * The provider request for a chat completion. When `req.stream` is set the adapter asks the provider for
   * a stream and for usage in it (OpenAI-family: `stream_options.include_usage: true` whatever the client said).
   */
  chatRequest(req: ChatRequest, target: ProviderTarget): UpstreamCall;
  /** A non-streamed success body (JSON text) as an OpenAI chat.completion and the tokens used. Throws ProviderStreamError on a body that is not a valid answer. */
  chatResponse(body: string, ctx: AnswerContext): { completion: ChatCompletion; usage: NormalizedUsage };
  chatStream(ctx: AnswerContext): StreamTranslator;
  /** null: the provider has no embeddings API (the runtime answers 400 model_not_supported). */
  embeddingsRequest(req: EmbeddingsRequest, target: ProviderTarget): UpstreamCall | null;
  embeddingsResponse(body: string, ctx: AnswerContext): { response: EmbeddingsResponse; usage: NormalizedUsage };
  /** Maps a non-2xx answer. `headers` lower-case names. */
  error(status: number, body: string, headers: Readonly<Record<string, string>>): ProviderError;
  /** Native passthrough (the provider's own API, e.g. Anthropic clients to Anthropic): the credential and version headers to add. */
  nativeHeaders(target: ProviderTarget): Record<string, string>;
  /** Usage in a native non-streamed answer (null if absent). */
  nativeUsage(body: string): NormalizedUsage | null;
  nativeUsageSniffer(): UsageSniffer;
}
