// jwt-auth: requires a JWT signed by a known issuer. The token's `iss` selects the issuer's `jwt` credential
// (issuers are unique cluster-wide); that credential's consumer is the caller. Not in PLUGIN_TYPES until the
// gateway's request pipeline enforces it (the control plane must not accept a type the gateway ignores).
import { Type, type Static } from '@sinclair/typebox';
import type { PluginType } from './types.js';

/** An HTTP header, query parameter or cookie name. */
const Name = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' });

export const JwtAuthConfig = Type.Object(
  {
    /** The header the token is read from first. */
    header_name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$', default: 'authorization' }),
    /** The scheme before the token in that header (case-insensitive); '' when the header holds the bare token. */
    header_scheme: Type.String({ maxLength: 32, pattern: '^[A-Za-z0-9._~+/-]*$', default: 'Bearer' }),
    /** A query parameter read when the header has no token; null: none. */
    query_param: Type.Union([Name, Type.Null()], { default: null }),
    /** A cookie read when neither header nor query parameter has a token; null: none. */
    cookie_name: Type.Union([Name, Type.Null()], { default: null }),
    /** Claims a token must carry (beyond `iss`, always required); a token without one gets 401. */
    claims_required: Type.Array(Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }), {
      maxItems: 16,
      uniqueItems: true,
      default: ['exp'],
    }),
    /** Remove the token (header, query parameter or cookie) before proxying. */
    hide_credentials: Type.Boolean({ default: true }),
  },
  { additionalProperties: false },
);
export type JwtAuthConfig = Static<typeof JwtAuthConfig>;

export const jwtAuthPlugin: PluginType<typeof JwtAuthConfig> = {
  name: 'jwt-auth',
  description:
    "Requires a JWT whose `iss` names a consumer's jwt credential, signed with that credential's key (shared secret, PEM key or JWKS) in one of its algorithms; answers 401 without a valid one, 503 when the issuer's keys cannot be fetched.",
  config: JwtAuthConfig,
  // Not per consumer: authentication is what identifies the consumer.
  scopes: ['global', 'service', 'route'],
  phase: 'auth',
};
