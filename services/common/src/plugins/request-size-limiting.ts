// request-size-limiting: refuses request bodies above a size, from Content-Length up front and while streaming.
import { Type, type Static } from '@sinclair/typebox';
import type { PluginType } from './types.js';

export const RequestSizeLimitingConfig = Type.Object(
  {
    /** Largest request body accepted, in bytes; larger ones get 413 TP_ERR_BODY_TOO_LARGE. The node's own limit still applies. */
    max_body_bytes: Type.Integer({ minimum: 0, maximum: 1024 * 1024 * 1024, default: 1024 * 1024 }),
  },
  { additionalProperties: false },
);
export type RequestSizeLimitingConfig = Static<typeof RequestSizeLimitingConfig>;

export const requestSizeLimitingPlugin: PluginType<typeof RequestSizeLimitingConfig> = {
  name: 'request-size-limiting',
  description: 'Answers 413 TP_ERR_BODY_TOO_LARGE to a request whose body exceeds max_body_bytes (declared or streamed).',
  config: RequestSizeLimitingConfig,
  scopes: ['global', 'service', 'route', 'consumer'],
  phase: 'access',
};
