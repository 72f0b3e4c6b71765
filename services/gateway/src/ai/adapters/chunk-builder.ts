// Builds the OpenAI chunks and usage objects that translating adapters (Anthropic, Gemini) emit, so every
// provider's stream has the same shape: ids and times from the gateway context, usage only on the last chunk.
import type { AnswerContext } from '../adapter.js';
import type { ChatCompletionChunk, CompletionUsage, FinishReason, NormalizedUsage } from '../wire.js';

type Delta = ChatCompletionChunk['choices'][number]['delta'];

export function chunk(ctx: AnswerContext, id: string, index: number, delta: Delta, finishReason: FinishReason | null = null): ChatCompletionChunk {
  return { id, object: 'chat.completion.chunk', created: ctx.created, model: ctx.model, choices: [{ index, delta, finish_reason: finishReason }] };
}

/** The usage-only chunk that ends a stream (`stream_options.include_usage`). */
export function usageChunk(ctx: AnswerContext, id: string, usage: NormalizedUsage): ChatCompletionChunk {
  return { id, object: 'chat.completion.chunk', created: ctx.created, model: ctx.model, choices: [], usage: completionUsage(usage) };
}

export function completionUsage(u: NormalizedUsage): CompletionUsage {
  return {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.promptTokens + u.completionTokens,
    prompt_tokens_details: { cached_tokens: u.cachedTokens },
  };
}
