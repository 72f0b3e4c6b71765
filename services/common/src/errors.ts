// Stable error codes shared by the control plane and the gateway, and the one place they map to HTTP.

export const ErrorCodes = {
  TP_ERR_VALIDATION: 400,
  TP_ERR_BAD_JSON: 400,
  TP_ERR_BAD_REQUEST: 400,
  TP_ERR_AUTH_REQUIRED: 401,
  TP_ERR_AUTH_TOKEN_INVALID: 401,
  TP_ERR_AUTH_KEY_MISSING: 401,
  TP_ERR_AUTH_KEY_INVALID: 401,
  TP_ERR_FORBIDDEN: 403,
  TP_ERR_NOT_FOUND: 404,
  TP_ERR_ROUTE_NOT_FOUND: 404,
  TP_ERR_METHOD_NOT_ALLOWED: 405,
  TP_ERR_CONFLICT: 409,
  TP_ERR_IN_USE: 409,
  /** A conditional write (If-Match / expected_version) found the entity at another version. */
  TP_ERR_PRECONDITION_FAILED: 412,
  TP_ERR_UNPROCESSABLE: 422,
  TP_ERR_BODY_TOO_LARGE: 413,
  TP_ERR_HEADERS_TOO_LARGE: 431,
  TP_ERR_RATE_LIMITED: 429,
  /** A usage-plan quota (requests per day/week/month) of the consumer's subscription is used up (gateway quota/). */
  TP_ERR_QUOTA_EXCEEDED: 429,
  /** Recorded in call logs only: the client went away before the response was complete (nginx's 499). */
  TP_ERR_CLIENT_CLOSED: 499,
  TP_ERR_UPSTREAM_UNAVAILABLE: 502,
  TP_ERR_UPSTREAM_BAD_RESPONSE: 502,
  /** The service's integration (lambda, ai, websocket) is configured but this gateway version does not serve it. */
  TP_ERR_INTEGRATION_UNAVAILABLE: 502,
  TP_ERR_NO_HEALTHY_TARGET: 503,
  // Upstream resilience (issue 5): every target of the upstream is behind an open circuit breaker.
  TP_ERR_UPSTREAM_CIRCUIT_OPEN: 503,
  TP_ERR_UNAVAILABLE: 503,
  TP_ERR_UPSTREAM_TIMEOUT: 504,
  TP_ERR_INTERNAL: 500,
  // Proxy protocol limits (issue 5): request-target over TP_MAX_URL_BYTES, request body stalled past
  // TP_CLIENT_BODY_TIMEOUT_MS, an Expect value other than 100-continue.
  TP_ERR_URL_TOO_LONG: 414,
  TP_ERR_CLIENT_TIMEOUT: 408,
  TP_ERR_EXPECTATION_FAILED: 417,
  // WebSocket proxying (issue 5, gateway proxy/websocket.ts): a plain request to a websocket-only service; the
  // upstream answered the upgrade with another status (a 4xx is passed on as is). The last three end an open
  // connection (close codes 1001, 1009, 1013) and appear in call logs only.
  TP_ERR_UPGRADE_REQUIRED: 426,
  TP_ERR_UPSTREAM_UPGRADE_REFUSED: 502,
  TP_ERR_WS_IDLE_TIMEOUT: 408,
  TP_ERR_WS_MESSAGE_TOO_BIG: 413,
  TP_ERR_WS_BACKPRESSURE: 503,
  // WebSocket APIs (issue 10, gateway websocket-api/): the connection management API names a connection that
  // is not open (unknown id, closed, or its node gone); a connection's $connect backend refused or failed.
  TP_ERR_WS_CONNECTION_GONE: 410,
  TP_ERR_WS_CONNECT_REFUSED: 403,
  // JWT authentication (issue 6, gateway plugins/jwt-auth): no token; not a compact JWS; exp/nbf/iat outside the
  // clock skew; no accepted `aud`; `iss` names no credential; `alg` outside the issuer's allowlist or unusable
  // with its key (a bad signature or a missing required claim is TP_ERR_AUTH_TOKEN_INVALID, above). 401s carry
  // WWW-Authenticate: Bearer. The issuer's keys unreachable (JWKS down, nothing cached) or not openable on this
  // node: 503, never 401.
  TP_ERR_AUTH_TOKEN_MISSING: 401,
  TP_ERR_AUTH_TOKEN_MALFORMED: 401,
  TP_ERR_AUTH_TOKEN_EXPIRED: 401,
  TP_ERR_AUTH_TOKEN_NOT_YET_VALID: 401,
  TP_ERR_AUTH_TOKEN_AUDIENCE: 401,
  TP_ERR_AUTH_ISSUER_UNKNOWN: 401,
  TP_ERR_AUTH_ALG_NOT_ALLOWED: 401,
  TP_ERR_AUTH_UNAVAILABLE: 503,
  // HMAC, basic and API-key authentication (issue 6, gateway plugins/{hmac-auth,basic-auth,key-auth}): no
  // `Authorization: hmac ...` header; a malformed one, an unknown key id, a disallowed algorithm, a required
  // header left unsigned or a wrong signature; Date/X-Date outside the clock skew; a signature already seen
  // within it (replay); a body whose SHA-256 differs from the signed Digest header. No Basic credentials; a
  // malformed header, unknown user or wrong password. An API key past its expires_at. All 401 with
  // WWW-Authenticate (hmac / Basic); a secret this node cannot open, or scrypt saturated: TP_ERR_AUTH_UNAVAILABLE.
  TP_ERR_AUTH_SIGNATURE_MISSING: 401,
  TP_ERR_AUTH_SIGNATURE_INVALID: 401,
  TP_ERR_AUTH_SIGNATURE_EXPIRED: 401,
  TP_ERR_AUTH_SIGNATURE_REPLAYED: 401,
  TP_ERR_AUTH_DIGEST_MISMATCH: 401,
  TP_ERR_AUTH_BASIC_MISSING: 401,
  TP_ERR_AUTH_BASIC_INVALID: 401,
  TP_ERR_AUTH_KEY_EXPIRED: 401,
  // mtls-auth (gateway plugins/mtls-auth): the request did not come over the mTLS listener (no verified client
  // certificate); the certificate maps to no consumer; it expired while its connection stayed open. Handshake
  // refusals (no certificate, unknown CA, revoked) never reach HTTP.
  TP_ERR_AUTH_CERT_MISSING: 401,
  TP_ERR_AUTH_CERT_UNKNOWN: 401,
  TP_ERR_AUTH_CERT_EXPIRED: 401,
  // OAuth 2.0 token introspection (gateway plugins/oauth2-introspection): an active token that lacks a scope
  // the plugin requires (RFC 6750 §3.1 insufficient_scope); inactive/expired tokens reuse the codes above.
  TP_ERR_AUTH_SCOPE_INSUFFICIENT: 403,
  // Access control plugins (issue 6, gateway plugins/{ip-restriction,cors,acl}): the client address is outside
  // the allow list or inside the deny list; a CORS preflight from an origin, or asking for a method or header,
  // that is not allowed; the consumer is not in an allowed group, is in a denied one, or was not identified;
  // the service requires a subscription and the consumer has no approved one.
  TP_ERR_IP_FORBIDDEN: 403,
  TP_ERR_CORS_FORBIDDEN: 403,
  TP_ERR_ACL_FORBIDDEN: 403,
  TP_ERR_SUBSCRIPTION_REQUIRED: 403,
  // Request validation and WAF-lite (issue 6, gateway plugins/{request-validation,waf}): the request does not
  // match its OpenAPI operation or configured JSON Schemas (error.details lists {in, path, message}); its body's
  // Content-Type is not one the operation accepts; a WAF rule (size limit or attack signature) matched in block mode.
  TP_ERR_REQUEST_INVALID: 400,
  TP_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  TP_ERR_WAF_BLOCKED: 403,
  // Custom authorizers (gateway plugins/custom-authorizer): an identity source is missing (or a TOKEN fails
  // token_validation) and the authorizer was not called; the authorizer answered Unauthorized; its policy (or
  // simple response) denies this request, or require_consumer and the principal is no consumer. The authorizer
  // unreachable, failing or answering nonsense: TP_ERR_AUTH_UNAVAILABLE (503).
  TP_ERR_AUTHORIZER_IDENTITY_MISSING: 401,
  TP_ERR_AUTHORIZER_UNAUTHORIZED: 401,
  TP_ERR_AUTHORIZER_DENIED: 403,
  // Transformations (gateway plugins/transform): a template rendered past its bounds (output size, nesting):
  // the request is not sent (500), or the upstream's response cannot be mapped (502).
  TP_ERR_TRANSFORM_FAILED: 500,
  // AI gateway (services/gateway/src/ai/): answered in OpenAI's error shape (`error.type`, `error.param`)
  // with these codes. A provider's own 4xx keeps the provider's status (TP_ERR_AI_PROVIDER_REJECTED is then
  // the call record's code, not a fixed status); 5xx, unreachable and timed-out providers after every
  // fallback are 502/503/504.
  TP_ERR_AI_MODEL_NOT_FOUND: 404,
  TP_ERR_AI_PROVIDER_REJECTED: 400,
  TP_ERR_AI_PROVIDER_ERROR: 502,
  TP_ERR_AI_PROVIDER_UNAVAILABLE: 503,
  TP_ERR_AI_PROVIDER_TIMEOUT: 504,
  TP_ERR_AI_STREAM_INTERRUPTED: 502,
  TP_ERR_AI_BUDGET_EXCEEDED: 429,
  TP_ERR_AI_BUDGET_UNAVAILABLE: 503,
  // Lambda function integration (gateway integrations/lambda): the function ran and failed (X-Amz-Function-Error);
  // its answer is not a valid proxy response; Lambda throttled the invocation (429, with Retry-After); the
  // Invoke API refused the call (unknown function, access denied, bad signature); no answer within timeout_ms;
  // no AWS credentials on this node.
  TP_ERR_LAMBDA_FUNCTION_ERROR: 502,
  TP_ERR_LAMBDA_BAD_RESPONSE: 502,
  TP_ERR_LAMBDA_THROTTLED: 429,
  TP_ERR_LAMBDA_INVOKE_FAILED: 502,
  TP_ERR_LAMBDA_TIMEOUT: 504,
  TP_ERR_LAMBDA_UNREACHABLE: 502,
  TP_ERR_LAMBDA_CREDENTIALS_MISSING: 502,
  // Developer portal (issue 11, control-plane portal/): the tenant does not allow self sign-up; wrong email or
  // password; too many failed sign-ins in a row (locked for a while, Retry-After); the session token is
  // missing, unknown, expired or signed out.
  TP_ERR_PORTAL_SIGNUP_CLOSED: 403,
  TP_ERR_PORTAL_SIGNIN_FAILED: 401,
  TP_ERR_PORTAL_ACCOUNT_LOCKED: 429,
  TP_ERR_PORTAL_SESSION_INVALID: 401,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export interface FieldError {
  /** JSON pointer-ish path of the offending field, e.g. `/targets/0/port`. */
  path: string;
  message: string;
}

export class TurnpikeError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly fields: FieldError[] | undefined;

  constructor(code: ErrorCode, message: string, fields?: FieldError[]) {
    super(message);
    this.name = 'TurnpikeError';
    this.code = code;
    this.status = ErrorCodes[code];
    this.fields = fields;
  }
}

export function httpStatusFor(code: ErrorCode): number {
  return ErrorCodes[code];
}

export interface ErrorBody {
  error: { code: string; message: string; request_id: string; fields?: FieldError[] };
}

export function errorBody(code: ErrorCode | string, message: string, requestId: string, fields?: FieldError[]): ErrorBody {
  const body: ErrorBody = { error: { code, message, request_id: requestId } };
  if (fields && fields.length > 0) body.error.fields = fields;
  return body;
}
