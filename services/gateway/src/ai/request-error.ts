// A chat or embeddings request that the chosen provider cannot be asked (tool-call arguments that are not
// JSON, a content part the provider has no equivalent for): the client's fault, found while translating.
import type { OpenAiErrorBody } from './wire.js';

/** Thrown by `chatRequest`/`embeddingsRequest`; the runtime answers `status` with `body` and tries no other provider. */
export class AiRequestError extends Error {
  readonly status = 400;
  readonly body: OpenAiErrorBody;

  constructor(message: string, param: string | null = null, code: string | null = null) {
    super(message);
    this.name = 'AiRequestError';
    this.body = { error: { message, type: 'invalid_request_error', param, code } };
  }
}
