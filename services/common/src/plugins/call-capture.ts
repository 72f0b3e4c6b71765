// call-capture: records a route's request/response headers and bodies in the call record (`captured`),
// redacted and capped. Off by default per part: each of the four is switched on on its own.
import { Type, type Static } from '@sinclair/typebox';
import type { PluginType } from './types.js';

export const CallCaptureConfig = Type.Object(
  {
    /** Capture the request headers as received (redacted). */
    request_headers: Type.Boolean({ default: false }),
    /** Capture the upstream response's headers as the client gets them (redacted). */
    response_headers: Type.Boolean({ default: false }),
    /** Capture the request body (the gateway then buffers it before the route's other steps run). */
    request_body: Type.Boolean({ default: false }),
    /** Capture the response body as the client gets it (a copy of its first max_body_bytes). */
    response_body: Type.Boolean({ default: false }),
    /** Each body is kept up to this many bytes; the rest is dropped and `*_body_truncated` set. */
    max_body_bytes: Type.Integer({ minimum: 0, maximum: 1024 * 1024, default: 4096 }),
    /**
     * Header names (any case) whose values are replaced by "[REDACTED]", in addition to the ones always
     * redacted: authorization, proxy-authorization, cookie, set-cookie, x-api-key, apikey, and the route's
     * key-auth / jwt-auth header names.
     */
    redact_headers: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 100, default: [] }),
    /**
     * JSON body fields replaced by "[REDACTED]": a bare name (`password`) matches that key at any depth;
     * a path (`/user/password`, `/items/*\/token`) matches from the root, `*` standing for any key or index.
     */
    redact_json_fields: Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { maxItems: 100, default: [] }),
  },
  { additionalProperties: false },
);
export type CallCaptureConfig = Static<typeof CallCaptureConfig>;

export const callCapturePlugin: PluginType<typeof CallCaptureConfig> = {
  name: 'call-capture',
  description: 'Captures request/response headers and bodies into the call record, with redaction and a size cap.',
  config: CallCaptureConfig,
  scopes: ['global', 'service', 'route'],
  phase: 'pre-auth',
};
