// hmac-auth: requires an HTTP request signature (Kong's hmac-auth scheme, after the draft-cavage "Signature"
// headers) made with a consumer's `hmac` credential: `Authorization: hmac username="<key_id>",
// algorithm="hmac-sha256", headers="@request-target date digest", signature="<base64>"`. Not in PLUGIN_TYPES
// until the gateway's request pipeline enforces it (the control plane must not accept a type the gateway ignores).
import { Type, type Static } from '@sinclair/typebox';
import { HmacAlgorithm, HMAC_ALGORITHMS } from '../schemas/credential.js';
import type { PluginType } from './types.js';

/** A lower-case header name, or the pseudo-header `@request-target`. */
const SignedName = Type.String({ minLength: 1, maxLength: 64, pattern: '^(@request-target|[a-z0-9!#$%&\'*+.^_`|~-]+)$' });

export const HmacAuthConfig = Type.Object(
  {
    /**
     * Names every signature must cover (lower case; `@request-target` is the method and path). `date` or
     * `x-date` (whichever the request dates itself with) must always be signed, listed here or not.
     */
    enforce_headers: Type.Array(SignedName, { maxItems: 16, uniqueItems: true, default: ['@request-target'] }),
    /** Algorithms accepted on this route (a credential narrows them further). */
    algorithms: Type.Array(HmacAlgorithm, { minItems: 1, maxItems: HMAC_ALGORITHMS.length, uniqueItems: true, default: [...HMAC_ALGORITHMS] }),
    /** How far Date/X-Date may be from the node's clock, either way; also how long a signature is remembered (replay). */
    clock_skew_s: Type.Integer({ minimum: 1, maximum: 3600, default: 300 }),
    /** Require a signed `Digest: SHA-256=<base64>` header matching the request body (`digest` is then enforced). */
    validate_request_body: Type.Boolean({ default: false }),
    /** Remove the Authorization header before proxying. */
    hide_credentials: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);
export type HmacAuthConfig = Static<typeof HmacAuthConfig>;

export const hmacAuthPlugin: PluginType<typeof HmacAuthConfig> = {
  name: 'hmac-auth',
  description:
    "Requires an HTTP request signature (`Authorization: hmac username=…, algorithm=…, headers=…, signature=…`) made with a consumer's hmac credential, over the enforced headers and a Date within the clock skew, never replayed; optionally a body Digest. 401 without a valid one, 503 when the secret cannot be opened on the node.",
  config: HmacAuthConfig,
  // Not per consumer: authentication is what identifies the consumer.
  scopes: ['global', 'service', 'route'],
  phase: 'auth',
};
