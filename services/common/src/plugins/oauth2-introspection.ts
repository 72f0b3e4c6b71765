// oauth2-introspection: requires an OAuth 2.0 bearer token that the authorization server's introspection
// endpoint (RFC 7662) says is active; a claim of the answer (client_id by default) names the consumer. The
// gateway caches answers per token. client_secret is a secret: the control plane seals it (secretFields) and
// never returns it.
import { Type, type Static } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';
import type { PluginType } from './types.js';

/** A claim name (any printable text without control characters). */
const CLAIM = { minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f\\u007f]+$' };
const Claim = Type.String(CLAIM);
/** A header field name as the upstream receives it (RFC 9110 token, lower-case). */
const LowerHeaderName = Type.String({ minLength: 1, maxLength: 64, pattern: "^[!#$%&'*+.^_`|~0-9a-z-]+$" });
/** RFC 6749 §3.3 scope-token. */
const ScopeToken = Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$' });
/** A consumer username (schemas/common.ts Name). */
const Username = Type.String({ pattern: '^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$' });

export const Oauth2IntrospectionConfig = Type.Object(
  {
    /**
     * The authorization server's introspection endpoint (http or https; the gateway POSTs to it). No `format`
     * keyword: the gateway checks configs with a compiled schema that knows no formats; problems() parses it.
     */
    introspection_url: Type.String({ minLength: 8, maxLength: 2048, pattern: '^https?://[^\\s]+$' }),
    /** The gateway's client id at the authorization server (HTTP Basic user, RFC 7662 §2.1). */
    client_id: Type.String({ minLength: 1, maxLength: 256, pattern: '^[\\x20-\\x7e]+$' }),
    /**
     * Its client secret. Write-only: sealed by the control plane into the instance's secret material and
     * removed from the stored config; a write without it keeps the stored one.
     */
    client_secret: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, pattern: '^[\\x20-\\x7e]+$' })),
    /** Read-only, set by the control plane: whether a client secret is stored (a value sent here is ignored). */
    client_secret_set: Type.Optional(Type.Boolean()),
    /** The header the token is read from first. */
    header_name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$', default: 'authorization' }),
    /** The scheme before the token in that header (case-insensitive); '' when the header holds the bare token. */
    header_scheme: Type.String({ maxLength: 32, pattern: '^[A-Za-z0-9._~+/-]*$', default: 'Bearer' }),
    /** A query parameter read when the header has no token; null: none. */
    query_param: Type.Union([Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' }), Type.Null()], { default: null }),
    /** Sent as `token_type_hint` (RFC 7662 §2.1); null: not sent. */
    token_type_hint: Type.Union([Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' }), Type.Null()], { default: 'access_token' }),
    /** How long an active answer is reused (ms), never past the token's `exp`; 0: no caching. */
    cache_ttl_ms: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 60_000 }),
    /** How long an inactive (or expired) answer is reused (ms); 0: no caching. Endpoint failures are never cached. */
    negative_cache_ttl_ms: Type.Integer({ minimum: 0, maximum: 600_000, default: 5_000 }),
    /** The whole introspection exchange (connect, answer, body), ms. */
    timeout_ms: Type.Integer({ minimum: 50, maximum: 30_000, default: 2_000 }),
    /** The answer's claim whose value is a consumer username (e.g. client_id, sub, username). */
    consumer_claim: Type.String({ ...CLAIM, default: 'client_id' }),
    /** The consumer (username) of an active token whose claim names none; null: such tokens get 401. */
    anonymous_consumer: Type.Union([Username, Type.Null()], { default: null }),
    /** Claims of the answer sent to the upstream as headers: claim → header name. */
    claims_to_headers: Type.Record(Claim, LowerHeaderName, { maxProperties: 16, default: {} }),
    /** Scopes the token must all have (in the answer's space-separated `scope`); missing ones: 403. */
    required_scopes: Type.Array(ScopeToken, { maxItems: 32, uniqueItems: true, default: [] }),
    /** Remove the token (header or query parameter) before proxying. */
    hide_credentials: Type.Boolean({ default: true }),
    /** The endpoint unreachable, failing or answering nonsense lets the request through unauthenticated (not 503). */
    fail_open: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);
export type Oauth2IntrospectionConfig = Static<typeof Oauth2IntrospectionConfig>;

/** Headers the gateway itself frames the upstream request with: a claim may not set them. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection', 'expect']);

export function oauth2IntrospectionProblems(cfg: Oauth2IntrospectionConfig): FieldError[] {
  const out: FieldError[] = [];
  // The control plane has taken a given secret into sealed storage by now and says so in client_secret_set.
  if (cfg.client_secret === undefined && cfg.client_secret_set !== true) out.push({ path: '/client_secret', message: 'is required' });
  let url: URL | null = null;
  try {
    url = new URL(cfg.introspection_url);
  } catch {
    out.push({ path: '/introspection_url', message: 'is not a valid URL' });
  }
  if (url !== null) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') out.push({ path: '/introspection_url', message: 'must be an http or https URL' });
    // Client credentials go in the Authorization header (client_id, client_secret), never in the URL.
    if (url.username !== '' || url.password !== '') out.push({ path: '/introspection_url', message: 'must not carry credentials (use client_id and client_secret)' });
    if (url.hash !== '') out.push({ path: '/introspection_url', message: 'must not have a fragment' });
  }
  const seen = new Map<string, string>();
  for (const [claim, header] of Object.entries(cfg.claims_to_headers)) {
    const path = `/claims_to_headers/${claim.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (RESERVED_HEADERS.has(header)) out.push({ path, message: `${header} is set by the gateway itself` });
    else if (header === cfg.header_name.toLowerCase()) out.push({ path, message: 'is the header the token is read from' });
    const prior = seen.get(header);
    if (prior !== undefined) out.push({ path, message: `header ${header} is already set from claim ${JSON.stringify(prior)}` });
    else seen.set(header, claim);
  }
  return out;
}

export const oauth2IntrospectionPlugin: PluginType<typeof Oauth2IntrospectionConfig> = {
  name: 'oauth2-introspection',
  description:
    "Requires an OAuth 2.0 bearer token that the authorization server's introspection endpoint (RFC 7662) reports active, with the required scopes; its consumer_claim names the consumer. 401 for a missing, inactive or expired token, 403 for missing scopes, 503 when the endpoint cannot answer (unless fail_open). Answers are cached per token.",
  config: Oauth2IntrospectionConfig,
  // Not per consumer: authentication is what identifies the consumer.
  scopes: ['global', 'service', 'route'],
  phase: 'auth',
  problems: oauth2IntrospectionProblems,
  secretFields: ['/client_secret'],
};
