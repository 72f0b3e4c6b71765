// custom-authorizer: API Gateway-style custom (Lambda) authorizers. An external function — an AWS Lambda (or a
// Lambda-compatible platform) or an HTTP endpoint — receives the request's identity (a TOKEN event or a REQUEST
// event, payload format 1.0 or 2.0) and answers with an IAM policy or a simple `{isAuthorized}` response; the
// gateway caches that answer per identity for result_ttl_ms.
import { Type, type Static } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';
import { routeRegexProblem } from '../schemas/route-rules.js';
import type { PluginType } from './types.js';

/**
 * An identity source in API Gateway's spelling: `$request.header.<name>`, `$request.querystring.<name>`,
 * `$context.<variable>` (HTTP APIs), or the REST API spelling `method.request.header.<name>` /
 * `method.request.querystring.<name>` / `context.<variable>`. The variables are checked by problems().
 */
const IDENTITY_SOURCE_PATTERN =
  "^(\\$request\\.header\\.|method\\.request\\.header\\.)[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$|^(\\$request\\.querystring\\.|method\\.request\\.querystring\\.)[A-Za-z0-9_.~-]{1,64}$|^\\$?context\\.[A-Za-z.]{1,64}$";

/** The `$context` variables a Turnpike identity source may name (AWS spelling), and what each reads. */
export const AUTHORIZER_CONTEXT_VARIABLES = ['identity.sourceIp', 'clientIp', 'httpMethod', 'path', 'routeId', 'serviceId', 'domainName'] as const;
export type AuthorizerContextVariable = (typeof AUTHORIZER_CONTEXT_VARIABLES)[number];

export type IdentitySource =
  | { readonly in: 'header'; readonly name: string }
  | { readonly in: 'query'; readonly name: string }
  | { readonly in: 'context'; readonly name: AuthorizerContextVariable };

/** An identity source parsed (header names lower-cased); null when it is not one this gateway reads. */
export function parseIdentitySource(src: string): IdentitySource | null {
  let m = /^(?:\$request|method\.request)\.header\.(.+)$/.exec(src);
  if (m) return { in: 'header', name: m[1]!.toLowerCase() };
  m = /^(?:\$request|method\.request)\.querystring\.(.+)$/.exec(src);
  if (m) return { in: 'query', name: m[1]! };
  m = /^\$?context\.(.+)$/.exec(src);
  if (m && (AUTHORIZER_CONTEXT_VARIABLES as readonly string[]).includes(m[1]!)) return { in: 'context', name: m[1] as AuthorizerContextVariable };
  return null;
}

// No `format: 'uri'`: gateway nodes check config with TypeBox, which knows no formats; problems() parses URLs.
const URL_PATTERN = '^https?://[^\\s]+$';
const HeaderName = Type.String({ minLength: 1, maxLength: 64, pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" });
const HeaderValue = Type.String({ maxLength: 4096, pattern: '^[\\t\\x20-\\x7e]*$' });

// Settings inside `http` / `lambda` are Optional: validators do not fill defaults inside a union (object | null),
// so the gateway applies the same defaults itself.
export const HttpAuthorizerConfig = Type.Object(
  {
    /** The endpoint the event is POSTed to (JSON); it answers 200 with the same response shapes as a Lambda. */
    url: Type.String({ pattern: URL_PATTERN, maxLength: 2048 }),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 50, maximum: 30000, default: 3000 })),
    /** Headers sent with every call (e.g. the authorizer service's own API key). */
    headers: Type.Optional(Type.Record(HeaderName, HeaderValue, { default: {} })),
  },
  { additionalProperties: false },
);
export type HttpAuthorizerConfig = Static<typeof HttpAuthorizerConfig>;

export const LambdaAuthorizerConfig = Type.Object(
  {
    /** A function name, partial ARN or full ARN (the Invoke API accepts each). */
    function_name: Type.String({ minLength: 1, maxLength: 170, pattern: '^[A-Za-z0-9_:.$-]+$' }),
    region: Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z0-9-]+$' }),
    /** A version or alias; null: $LATEST (or the ARN's own qualifier). */
    qualifier: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_$-]+$' }), Type.Null()], { default: null })),
    /** Another Lambda-compatible endpoint (an emulator, a self-hosted platform); null: https://lambda.<region>.amazonaws.com. */
    endpoint: Type.Optional(Type.Union([Type.String({ pattern: URL_PATTERN, maxLength: 2048 }), Type.Null()], { default: null })),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 50, maximum: 30000, default: 3000 })),
    /**
     * `environment`: the gateway node's AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. Or keys
     * given here: the control plane seals secret_access_key (and session_token) and never returns them.
     */
    credentials: Type.Optional(
      Type.Union(
        [
          Type.Literal('environment'),
          Type.Object(
            {
              access_key_id: Type.String({ minLength: 16, maxLength: 128, pattern: '^[A-Za-z0-9]+$' }),
              secret_access_key: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
              session_token: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 4096 }), Type.Null()])),
            },
            { additionalProperties: false },
          ),
        ],
        { default: 'environment' },
      ),
    ),
  },
  { additionalProperties: false },
);
export type LambdaAuthorizerConfig = Static<typeof LambdaAuthorizerConfig>;

export const CustomAuthorizerConfig = Type.Object(
  {
    /** Where the authorizer runs: an AWS Lambda (Invoke API, SigV4) or an HTTP endpoint. */
    kind: Type.Union([Type.Literal('lambda'), Type.Literal('http')]),
    /** `token`: one header's value as `authorizationToken`; `request`: the request's headers, query and context. */
    type: Type.Union([Type.Literal('token'), Type.Literal('request')], { default: 'token' }),
    http: Type.Union([HttpAuthorizerConfig, Type.Null()], { default: null }),
    lambda: Type.Union([LambdaAuthorizerConfig, Type.Null()], { default: null }),
    /**
     * Where the identity is read; a request missing any of them gets 401 without a call. They also key the
     * result cache. `token` type: exactly one header.
     */
    identity_sources: Type.Array(Type.String({ maxLength: 96, pattern: IDENTITY_SOURCE_PATTERN }), {
      minItems: 1,
      maxItems: 8,
      uniqueItems: true,
      default: ['$request.header.Authorization'],
    }),
    /** `token` type: a token that does not match this regular expression (whole value) gets 401 without a call. */
    token_validation: Type.Union([Type.String({ minLength: 1, maxLength: 512 }), Type.Null()], { default: null }),
    /** `request` type: the event's shape (1.0 as REST APIs send, 2.0 as HTTP APIs send). */
    payload_format_version: Type.Union([Type.Literal('1.0'), Type.Literal('2.0')], { default: '1.0' }),
    /** 2.0 only: the authorizer may answer `{isAuthorized, context}` instead of an IAM policy. */
    enable_simple_responses: Type.Boolean({ default: false }),
    /** How long an answer is reused for the same identity (ms); 0: the authorizer is called for every request. */
    result_ttl_ms: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 300_000 }),
    /** The authorizer's `context` values reach the upstream as headers `<prefix><key>` (lower-case). */
    context_header_prefix: Type.String({ minLength: 1, maxLength: 48, pattern: "^[!#$%&'*+.^_`|~0-9a-z-]+$", default: 'x-authorizer-' }),
    /** The authorizer unreachable, failing or answering nonsense lets the request through anonymously (not 503). */
    fail_open: Type.Boolean({ default: false }),
    /**
     * An allowed caller whose principalId (or context.consumer) names no consumer is refused (401) instead of
     * going through anonymously.
     */
    require_consumer: Type.Boolean({ default: false }),
    /** Remove the identity sources' headers and query parameters before proxying. */
    hide_credentials: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);
export type CustomAuthorizerConfig = Static<typeof CustomAuthorizerConfig>;

export function customAuthorizerProblems(cfg: CustomAuthorizerConfig): FieldError[] {
  const out: FieldError[] = [];
  if (cfg.kind === 'http' && cfg.http === null) out.push({ path: '/http', message: 'is required for kind "http"' });
  if (cfg.kind === 'http' && cfg.lambda !== null) out.push({ path: '/lambda', message: 'is only for kind "lambda"' });
  if (cfg.kind === 'lambda' && cfg.lambda === null) out.push({ path: '/lambda', message: 'is required for kind "lambda"' });
  if (cfg.kind === 'lambda' && cfg.http !== null) out.push({ path: '/http', message: 'is only for kind "http"' });
  if (cfg.http !== null && !URL.canParse(cfg.http.url)) out.push({ path: '/http/url', message: 'is not a URL' });
  if (cfg.lambda?.endpoint && !URL.canParse(cfg.lambda.endpoint)) out.push({ path: '/lambda/endpoint', message: 'is not a URL' });
  const sources = cfg.identity_sources.map(parseIdentitySource);
  sources.forEach((s, i) => {
    if (s === null) out.push({ path: `/identity_sources/${i}`, message: `names an unknown context variable; known: ${AUTHORIZER_CONTEXT_VARIABLES.join(', ')}` });
  });
  if (cfg.type === 'token') {
    if (sources.length !== 1 || sources[0]?.in !== 'header') out.push({ path: '/identity_sources', message: 'must be exactly one header for type "token"' });
    if (cfg.token_validation !== null) {
      const p = routeRegexProblem(cfg.token_validation);
      if (p) out.push({ path: '/token_validation', message: p });
    }
  } else if (cfg.token_validation !== null) out.push({ path: '/token_validation', message: 'is only for type "token"' });
  if (cfg.enable_simple_responses && (cfg.type !== 'request' || cfg.payload_format_version !== '2.0')) {
    out.push({ path: '/enable_simple_responses', message: 'needs type "request" with payload_format_version "2.0"' });
  }
  return out;
}

export const customAuthorizerPlugin: PluginType<typeof CustomAuthorizerConfig> = {
  name: 'custom-authorizer',
  description:
    'Calls an API Gateway-style Lambda (or HTTP) authorizer with a TOKEN or REQUEST event and enforces its IAM policy or simple response, caching answers per identity; 401 without the identity or when the authorizer says Unauthorized, 403 on Deny, 503 when the authorizer cannot be reached.',
  config: CustomAuthorizerConfig,
  // Not per consumer: authentication is what identifies the consumer.
  scopes: ['global', 'service', 'route'],
  phase: 'auth',
  problems: customAuthorizerProblems,
  // Sealed by the control plane into the plugin's secret material; nodes open them with the plugin's id.
  secretFields: ['/lambda/credentials/secret_access_key', '/lambda/credentials/session_token'],
};
