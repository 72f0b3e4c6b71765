// The adapter that speaks each provider type's API.
import type { AiProviderType } from '@turnpike/common';
import type { ProviderAdapter } from '../adapter.js';
import { anthropicAdapter } from './anthropic.js';
import { geminiAdapter } from './gemini.js';
import { openAiAdapter } from './openai.js';

const BY_TYPE: Readonly<Record<AiProviderType, ProviderAdapter | null>> = {
  openai: openAiAdapter,
  'azure-openai': openAiAdapter,
  mistral: openAiAdapter,
  ollama: openAiAdapter,
  'openai-compatible': openAiAdapter,
  anthropic: anthropicAdapter,
  gemini: geminiAdapter,
  // Bedrock needs SigV4 signing and its Converse API: not supported yet.
  bedrock: null,
};

/** null: the type has no adapter in this gateway version. */
export function adapterFor(type: AiProviderType): ProviderAdapter | null {
  return BY_TYPE[type];
}
