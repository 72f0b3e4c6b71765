import { Type, type Static } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';
import { Id, Name, Tags, Timestamps } from './common.js';

/**
 * Where a service is in its life. Only `published` and `deprecated` services route; `deprecated` ones
 * answer with `Deprecation`/`Sunset` headers. Transitions: draft→published, published⇄deprecated,
 * published|deprecated→retired; retired is final.
 */
export const ServiceLifecycle = Type.Union(
  [Type.Literal('draft'), Type.Literal('published'), Type.Literal('deprecated'), Type.Literal('retired')],
  { default: 'published' },
);
export type ServiceLifecycle = Static<typeof ServiceLifecycle>;

/** Proxy HTTP to an upstream. A service's bare `upstream_id` means exactly this (and is how the API returns it). */
export const HttpIntegration = Type.Object({ type: Type.Literal('http'), upstream_id: Id }, { additionalProperties: false });

/** A value sealed with the keyring (secrets/keyring.ts SealedSecret), as the data plane receives it. */
const SealedValue = Type.Object(
  { v: Type.Literal(1), kid: Type.String({ maxLength: 64 }), iv: Type.String({ maxLength: 64 }), tag: Type.String({ maxLength: 64 }), ct: Type.String({ maxLength: 8192 }) },
  { additionalProperties: false },
);
const AwsSecretText = Type.String({ minLength: 1, maxLength: 4096, pattern: '^[\\x21-\\x7e]+$', writeOnly: true });

/**
 * Stored AWS credentials a lambda integration signs its Invoke calls with (else the node's environment's).
 * One shape for every direction: written with `access_key_id`, `secret_access_key` (required the first time;
 * absent: the stored one stays, unless `access_key_id` changes) and optionally `session_token`; returned with
 * `access_key_id`, `secret_set` and `session_token_set` only. The control plane seals both secrets with the
 * keyring (context: the service id); `sealed` is what the data plane receives, and is refused on input.
 */
export const LambdaCredentials = Type.Object(
  {
    access_key_id: Type.String({ pattern: '^[A-Z0-9]{16,128}$' }),
    secret_access_key: Type.Optional(AwsSecretText),
    /** STS temporary credentials' token. A write with a new secret_access_key and no token drops the stored token. */
    session_token: Type.Optional(AwsSecretText),
    secret_set: Type.Optional(Type.Boolean({ readOnly: true })),
    session_token_set: Type.Optional(Type.Boolean({ readOnly: true })),
    sealed: Type.Optional(
      Type.Object({ secret_access_key: SealedValue, session_token: Type.Union([SealedValue, Type.Null()]) }, { additionalProperties: false, readOnly: true }),
    ),
  },
  { additionalProperties: false },
);
export type LambdaCredentials = Static<typeof LambdaCredentials>;

/** Invoke an AWS Lambda function (or a local emulator at `endpoint_url`). */
export const LambdaIntegration = Type.Object(
  {
    type: Type.Literal('lambda'),
    /** A function name, a partial ARN or a full ARN (with an optional `:qualifier` suffix). */
    function_name: Type.String({
      minLength: 1,
      maxLength: 170,
      pattern: '^(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\\d{12}:function:)?[a-zA-Z0-9_-]+(:(\\$LATEST|[a-zA-Z0-9_-]+))?$',
    }),
    region: Type.String({ pattern: '^[a-z]{2}(-[a-z]+)+-\\d{1,2}$', maxLength: 32 }),
    /** A version or alias. */
    qualifier: Type.Optional(Type.String({ pattern: '^(\\$LATEST|[a-zA-Z0-9_-]{1,128})$' })),
    payload_format: Type.Optional(Type.Union([Type.Literal('1.0'), Type.Literal('2.0')])),
    invocation_type: Type.Optional(Type.Union([Type.Literal('RequestResponse'), Type.Literal('Event')])),
    endpoint_url: Type.Optional(Type.String({ pattern: '^https?://[^\\s/?#]+(/[^\\s]*)?$', maxLength: 2048 })),
    timeout_ms: Type.Integer({ minimum: 1, maximum: 900_000 }),
    /**
     * Payload format 1.0: request content types sent base64-encoded (`isBase64Encoded: true`), as a REST API's
     * binaryMediaTypes: `type/subtype` or `type/*` (type `*` matches any). Format
     * 2.0 ignores it (every non-text body is base64).
     */
    binary_media_types: Type.Optional(
      Type.Array(Type.String({ pattern: "^(\\*|[A-Za-z0-9!#$&^_.+-]+)/(\\*|[A-Za-z0-9!#$&^_.+-]+)$", maxLength: 255 }), { maxItems: 64, uniqueItems: true }),
    ),
    /** Stored credentials for this function; absent: the gateway node's environment (AWS_ACCESS_KEY_ID …). */
    credentials: Type.Optional(LambdaCredentials),
  },
  { additionalProperties: false },
);

/** Proxy WebSocket connections to an upstream. */
export const WebSocketIntegration = Type.Object(
  {
    type: Type.Literal('websocket'),
    upstream_id: Id,
    subprotocols: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$" }), { uniqueItems: true, maxItems: 32 })),
    idle_timeout_ms: Type.Integer({ minimum: 1_000, maximum: 86_400_000 }),
  },
  { additionalProperties: false },
);

/** A WebSocket API route's backend: POST the AWS-style event to an upstream (at `path`, default `/`). */
export const WebSocketApiHttpRoute = Type.Object(
  {
    type: Type.Literal('http'),
    upstream_id: Id,
    path: Type.Optional(Type.String({ pattern: '^/[^?#\\s]*$', maxLength: 1024 })),
    /** Budget for the backend's answer; default: the upstream's read timeout. */
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: 900_000 })),
  },
  { additionalProperties: false },
);

/** A WebSocket API route's backend: invoke a Lambda function (RequestResponse) with the AWS-style event. */
export const WebSocketApiLambdaRoute = Type.Object(
  {
    type: Type.Literal('lambda'),
    function_name: LambdaIntegration.properties.function_name,
    region: LambdaIntegration.properties.region,
    qualifier: LambdaIntegration.properties.qualifier,
    endpoint_url: LambdaIntegration.properties.endpoint_url,
    timeout_ms: LambdaIntegration.properties.timeout_ms,
    credentials: LambdaIntegration.properties.credentials,
  },
  { additionalProperties: false },
);

export const WebSocketApiRoute = Type.Union([WebSocketApiHttpRoute, WebSocketApiLambdaRoute]);
export type WebSocketApiRoute = Static<typeof WebSocketApiRoute>;

/**
 * A WebSocket API as AWS API Gateway has them: the gateway terminates the connection and routes each message
 * by `route_selection_expression` (`$request.body.<field>[.<field>…]` on a JSON message, or `$default`) to the
 * integration of `routes[<key>]`; `$connect` and `$disconnect` run at the upgrade and at the close.
 */
export const WebSocketApiIntegration = Type.Object(
  {
    type: Type.Literal('websocket-api'),
    route_selection_expression: Type.String({ minLength: 1, maxLength: 256 }),
    /** Route key → backend. Keys: `$connect`, `$disconnect`, `$default` or a custom key (no whitespace, `/` or `~`). */
    routes: Type.Record(Type.String(), WebSocketApiRoute),
    idle_timeout_ms: Type.Optional(Type.Integer({ minimum: 1_000, maximum: 86_400_000, default: 600_000 })),
    /** Largest client message (default 128 KiB, AWS's limit); never above the node's TP_WS_MAX_MESSAGE_BYTES. */
    max_message_bytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 16 * 1024 * 1024 })),
    /** Messages per second per connection (token bucket, burst of the same size); absent: unlimited. */
    message_rate_limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
  },
  { additionalProperties: false },
);
export type WebSocketApiIntegration = Static<typeof WebSocketApiIntegration>;

/** `$request.body.a.b` → ['a', 'b']; `$default` → []; null for anything else. */
export function parseRouteSelectionExpression(expr: string): string[] | null {
  if (expr === '$default') return [];
  const m = /^\$request\.body\.([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)$/.exec(expr);
  return m ? m[1]!.split('.') : null;
}

const ROUTE_KEY = /^[^\s/~]{1,128}$/;
const RESERVED_ROUTE_KEYS = new Set(['$connect', '$disconnect', '$default']);

/** Rules on a websocket-api integration a schema cannot state, as field errors under /integration. */
export function websocketApiProblems(i: WebSocketApiIntegration): FieldError[] {
  const out: FieldError[] = [];
  if (parseRouteSelectionExpression(i.route_selection_expression) === null) {
    out.push({ path: '/integration/route_selection_expression', message: 'must be $request.body.<field>[.<field>…] or $default' });
  }
  for (const key of Object.keys(i.routes)) {
    if (!ROUTE_KEY.test(key)) out.push({ path: `/integration/routes/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`, message: 'route keys are 1 to 128 characters without whitespace, / or ~' });
    else if (key.startsWith('$') && !RESERVED_ROUTE_KEYS.has(key)) out.push({ path: `/integration/routes/${key}`, message: 'the only route keys starting with $ are $connect, $disconnect and $default' });
  }
  if (Object.keys(i.routes).length === 0) out.push({ path: '/integration/routes', message: 'needs at least one route' });
  return out;
}

/** Send to AI providers (tried in order as fallbacks); providers and prompt templates are resources of their own. */
export const AiIntegration = Type.Object(
  {
    type: Type.Literal('ai'),
    provider_ids: Type.Array(Id, { uniqueItems: true, maxItems: 16 }),
    /** Pins the model every call of this service uses (the client's `model` is then ignored); else the client's, else the provider's default. */
    model: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    prompt_template_id: Type.Optional(Id),
    /** Pins a version of that template (only with prompt_template_id); absent: the template's current version. */
    prompt_template_version: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647 })),
    /**
     * How a call picks among the providers that serve its model: `fallback` tries them in the listed order;
     * `weighted` starts at one drawn by `weights`; `least-busy` at the one with the fewest calls in flight on
     * this node. Either way the others follow as fallbacks when one fails with 429, 5xx or a timeout.
     */
    strategy: Type.Optional(Type.Union([Type.Literal('fallback'), Type.Literal('weighted'), Type.Literal('least-busy')])),
    /** One weight per provider_ids entry (weighted strategy only). */
    weights: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 1000 }), { maxItems: 16 })),
    /** Extra tries of the same provider after a 429/5xx/timeout before moving on (default 0). */
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 5 })),
    /** Exact-match response cache for non-streamed completions and embeddings, seconds; absent or 0: off. */
    cache_ttl_s: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })),
  },
  { additionalProperties: false },
);

/** What a service fronts, told apart by `type`. */
export const Integration = Type.Union([HttpIntegration, LambdaIntegration, WebSocketIntegration, WebSocketApiIntegration, AiIntegration]);
export type Integration = Static<typeof Integration>;
export type IntegrationType = Integration['type'];

/**
 * The one stored form of an integration: `http` becomes a bare `upstream_id` (integration null), and the
 * lambda defaults (`payload_format` 2.0, `invocation_type` RequestResponse) are filled in.
 */
export function normalizeIntegration(
  upstreamId: string | null | undefined,
  integration: Integration | null | undefined,
): { upstream_id: string | null; integration: Exclude<Integration, { type: 'http' }> | null } {
  if (!integration) return { upstream_id: upstreamId ? upstreamId.toLowerCase() : null, integration: null };
  switch (integration.type) {
    case 'http':
      return { upstream_id: integration.upstream_id.toLowerCase(), integration: null };
    case 'lambda':
      return {
        upstream_id: null,
        integration: { ...integration, payload_format: integration.payload_format ?? '2.0', invocation_type: integration.invocation_type ?? 'RequestResponse' },
      };
    case 'websocket':
      return { upstream_id: integration.upstream_id.toLowerCase(), integration: { ...integration, upstream_id: integration.upstream_id.toLowerCase() } };
    case 'websocket-api': {
      // Several upstreams may be named (one per route): none is the service's own, each is checked by reference.
      const routes: Record<string, WebSocketApiRoute> = {};
      for (const [key, r] of Object.entries(integration.routes)) routes[key] = r.type === 'http' ? { ...r, upstream_id: r.upstream_id.toLowerCase() } : r;
      return { upstream_id: null, integration: { ...integration, idle_timeout_ms: integration.idle_timeout_ms ?? 600_000, routes } };
    }
    case 'ai':
      return {
        upstream_id: null,
        integration: {
          ...integration,
          provider_ids: integration.provider_ids.map((id) => id.toLowerCase()),
          ...(integration.prompt_template_id ? { prompt_template_id: integration.prompt_template_id.toLowerCase() } : {}),
        },
      };
  }
}

/** 422-style field errors unless exactly one of `upstream_id` and `integration` is set. */
export function serviceTargetProblems(s: { upstream_id?: string | null | undefined; integration?: Integration | null | undefined }): FieldError[] {
  const hasUpstream = s.upstream_id !== undefined && s.upstream_id !== null;
  const hasIntegration = s.integration !== undefined && s.integration !== null;
  if (hasUpstream && hasIntegration) return [{ path: '/integration', message: 'must not be set together with upstream_id (set exactly one)' }];
  if (!hasUpstream && !hasIntegration) return [{ path: '/upstream_id', message: 'is required unless integration is set (set exactly one)' }];
  const i = s.integration;
  if (i && i.type === 'websocket-api') return websocketApiProblems(i);
  if (i && i.type === 'ai') {
    const weighted = i.strategy === 'weighted';
    if (weighted && (i.weights === undefined || i.weights.length !== i.provider_ids.length)) {
      return [{ path: '/integration/weights', message: `needs one weight per provider_ids entry (${i.provider_ids.length}) for strategy weighted` }];
    }
    if (weighted && i.weights!.every((w) => w === 0)) return [{ path: '/integration/weights', message: 'must have at least one positive weight' }];
    if (!weighted && i.weights !== undefined) return [{ path: '/integration/weights', message: 'is only for strategy weighted' }];
  }
  return [];
}

/**
 * A canary or weighted split (http services only): requests whose header `header.name` equals `header.value`
 * go to `upstream_id`; of the other requests, `weight` percent do. The service's own upstream takes what the
 * splits leave (100 − the sum of their weights).
 */
export const ServiceSplit = Type.Object(
  {
    upstream_id: Id,
    weight: Type.Integer({ minimum: 0, maximum: 100 }),
    header: Type.Optional(
      Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 256, pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$" }),
          value: Type.String({ minLength: 1, maxLength: 1024 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ServiceSplit = Static<typeof ServiceSplit>;

/**
 * Rules on `splits` a schema cannot state, as field errors with JSON-pointer paths: only http services split,
 * the weights add up to at most 100, and a split names another upstream than the service's own.
 */
export function serviceSplitProblems(s: {
  upstream_id?: string | null | undefined;
  integration?: Integration | null | undefined;
  splits?: readonly ServiceSplit[] | undefined;
}): FieldError[] {
  const splits = s.splits ?? [];
  if (splits.length === 0) return [];
  const integration = s.integration ?? null;
  if (integration !== null && integration.type !== 'http') return [{ path: '/splits', message: `apply only to http services (not ${integration.type})` }];
  const own = (integration?.upstream_id ?? s.upstream_id ?? '').toLowerCase();
  const out: FieldError[] = [];
  let sum = 0;
  splits.forEach((sp, i) => {
    sum += sp.weight;
    if (sp.upstream_id.toLowerCase() === own) out.push({ path: `/splits/${i}/upstream_id`, message: "must differ from the service's own upstream" });
    if (sp.weight === 0 && sp.header === undefined) out.push({ path: `/splits/${i}`, message: 'needs a weight above 0 or a header (it would never be chosen)' });
  });
  if (sum > 100) out.push({ path: '/splits', message: `weights add up to ${sum}, more than 100` });
  return out;
}

const serviceFields = {
  name: Name,
  /** The upstream of an `http` service. Exactly one of `upstream_id` and `integration` is set. */
  upstream_id: Type.Optional(Type.Union([Id, Type.Null()])),
  /** What a non-http service fronts; null (or absent) for an http service. */
  integration: Type.Optional(Type.Union([Integration, Type.Null()])),
  /** Prepended to the forwarded path, e.g. `/api` turns `/users` into `/api/users`. Empty for none. */
  base_path: Type.String({ pattern: '^(/[^?#\\s]*)?$', maxLength: 1024, default: '' }),
  tags: Tags,
  // Defaults keep configs written before lifecycles existed routing as before.
  lifecycle: Type.Optional(ServiceLifecycle),
  /** The API's own version label (free text, e.g. `v2` or `2024-06-01`). */
  version: Type.Optional(Type.String({ maxLength: 64, default: '' })),
  /** When a deprecated service stops being served (RFC 8594 `Sunset`); null for none. */
  sunset_at: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
  catalog_visibility: Type.Optional(Type.Union([Type.Literal('public'), Type.Literal('private')], { default: 'private' })),
  /** Canary and weighted splits to other upstreams (http services only); empty or absent for none. */
  splits: Type.Optional(Type.Array(ServiceSplit, { maxItems: 16 })),
  /**
   * Whether a consumer needs an approved subscription to this service: the gateway refuses an identified
   * consumer without one (403). False (the default): any consumer the service's auth admits.
   */
  subscription_required: Type.Optional(Type.Boolean({ default: false })),
  /**
   * The attached OpenAPI document. Not part of the service the data plane receives: it travels on its own
   * as `openapi_docs.<service id>` (for request validation against it).
   */
  openapi: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
};

export const ServiceCreate = Type.Object(
  { ...serviceFields, base_path: Type.Optional(serviceFields.base_path), tags: Type.Optional(Tags) },
  { additionalProperties: false },
);
export type ServiceCreate = Static<typeof ServiceCreate>;
export const ServiceUpdate = Type.Partial(ServiceCreate, { additionalProperties: false });
export type ServiceUpdate = Static<typeof ServiceUpdate>;

export const Service = Type.Object({ id: Id, ...serviceFields, ...Timestamps });
export type Service = Static<typeof Service>;
