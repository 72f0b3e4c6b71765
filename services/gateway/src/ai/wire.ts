// The AI gateway's canonical wire format: OpenAI's Chat Completions and Embeddings shapes, as clients send
// and receive them. Every provider adapter (adapters/*.ts) translates from these to the provider's own API
// and back, so the runtime (runtime.ts) handles one shape whatever the provider.
//
// Only the fields the gateway reads or writes are typed; everything else travels untouched (`[k: string]:
// unknown`) so a field a newer client sends is not dropped on the way to an OpenAI-compatible provider.

export type ChatRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool';

export interface TextPart {
  type: 'text';
  text: string;
}
export interface ImagePart {
  type: 'image_url';
  /** An http(s) URL or a `data:<mime>;base64,<data>` URL. */
  image_url: { url: string; detail?: 'auto' | 'low' | 'high' };
}
export type ContentPart = TextPart | ImagePart | { type: string; [k: string]: unknown };

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; /** JSON text */ arguments: string };
}

export interface ChatMessage {
  role: ChatRole;
  content?: string | ContentPart[] | null;
  name?: string;
  /** assistant messages that called tools */
  tool_calls?: ToolCall[];
  /** tool messages: the call this answers */
  tool_call_id?: string;
  [k: string]: unknown;
}

export interface ToolDefinition {
  type: 'function';
  function: { name: string; description?: string; /** JSON Schema */ parameters?: Record<string, unknown>; strict?: boolean };
}

export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean } | null;
  tools?: ToolDefinition[];
  tool_choice?: ToolChoice;
  parallel_tool_calls?: boolean;
  /** JSON mode (`json_object`) or structured output (`json_schema`). */
  response_format?: { type: 'text' } | { type: 'json_object' } | { type: 'json_schema'; json_schema: { name: string; schema?: Record<string, unknown>; strict?: boolean } };
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  max_completion_tokens?: number;
  stop?: string | string[] | null;
  n?: number;
  seed?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  user?: string;
  [k: string]: unknown;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number; [k: string]: unknown };
  [k: string]: unknown;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: { role: 'assistant'; content: string | null; tool_calls?: ToolCall[]; refusal?: string | null; [k: string]: unknown };
    finish_reason: FinishReason | null;
    logprobs?: unknown;
  }>;
  usage?: CompletionUsage;
  system_fingerprint?: string | null;
  [k: string]: unknown;
}

/** A streamed tool-call fragment: the first one of a call carries id, type and name; later ones argument text. */
export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  /** Empty in the usage-only chunk that ends a stream when `stream_options.include_usage` is set. */
  choices: Array<{
    index: number;
    delta: { role?: 'assistant'; content?: string | null; tool_calls?: ToolCallDelta[]; refusal?: string | null };
    finish_reason: FinishReason | null;
    logprobs?: unknown;
  }>;
  /** Set (only) on the usage-only chunk; null on the others when include_usage is set. */
  usage?: CompletionUsage | null;
  system_fingerprint?: string | null;
}

export interface EmbeddingsRequest {
  model: string;
  input: string | string[] | number[] | number[][];
  encoding_format?: 'float' | 'base64';
  dimensions?: number;
  user?: string;
  [k: string]: unknown;
}

export interface EmbeddingsResponse {
  object: 'list';
  data: Array<{ object: 'embedding'; index: number; embedding: number[] | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** OpenAI's error body, which the gateway answers for every provider (and for its own AI errors). */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** Tokens one call used, as every adapter reports them. */
export interface NormalizedUsage {
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens served from the provider's prompt cache (part of promptTokens). */
  cachedTokens: number;
}
