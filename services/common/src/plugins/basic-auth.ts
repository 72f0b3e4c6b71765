// basic-auth: requires `Authorization: Basic base64(username:password)` matching a consumer's `basic`
// credential (its password stored as a scrypt hash). Not in PLUGIN_TYPES until the gateway's request pipeline
// enforces it (the control plane must not accept a type the gateway ignores).
import { Type, type Static } from '@sinclair/typebox';
import type { PluginType } from './types.js';

export const BasicAuthConfig = Type.Object(
  {
    /** The realm in `WWW-Authenticate: Basic realm="…"`: printable ASCII without quotes or backslashes. */
    realm: Type.String({ minLength: 1, maxLength: 64, pattern: '^[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]+$', default: 'turnpike' }),
    /** Remove the Authorization header before proxying. */
    hide_credentials: Type.Boolean({ default: true }),
    /** How long a successful check is reused without scrypt (per node). */
    cache_ttl_s: Type.Integer({ minimum: 0, maximum: 3600, default: 60 }),
  },
  { additionalProperties: false },
);
export type BasicAuthConfig = Static<typeof BasicAuthConfig>;

export const basicAuthPlugin: PluginType<typeof BasicAuthConfig> = {
  name: 'basic-auth',
  description:
    "Requires HTTP Basic credentials matching a consumer's basic credential (password checked against its scrypt hash, successful checks cached per node); 401 with WWW-Authenticate: Basic otherwise, 503 when the node's password checks are saturated.",
  config: BasicAuthConfig,
  // Not per consumer: authentication is what identifies the consumer.
  scopes: ['global', 'service', 'route'],
  phase: 'auth',
};
