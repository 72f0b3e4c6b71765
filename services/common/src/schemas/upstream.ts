import { Type, type Static } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';
import { Id, Name, Tags, Timestamps } from './common.js';

export const Target = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:\\[\\]_-]+$' }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    weight: Type.Integer({ minimum: 0, maximum: 1000, default: 100 }),
  },
  { additionalProperties: false },
);
export type Target = Static<typeof Target>;

/** How a target is chosen per request. `round-robin` is weighted by the targets' `weight`. */
export const BalancingAlgorithm = Type.Union(
  [Type.Literal('round-robin'), Type.Literal('least-connections'), Type.Literal('consistent-hash'), Type.Literal('random')],
  { default: 'round-robin' },
);
export type BalancingAlgorithm = Static<typeof BalancingAlgorithm>;

/** The request attribute `consistent-hash` keys on; `name` names the header or cookie. */
export const HashOn = Type.Object(
  {
    source: Type.Union([Type.Literal('header'), Type.Literal('cookie'), Type.Literal('client-ip'), Type.Literal('path')]),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 256, pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$" })),
  },
  { additionalProperties: false },
);
export type HashOn = Static<typeof HashOn>;

export const RetryCondition = Type.Union([Type.Literal('connect-failure'), Type.Literal('timeout'), Type.Literal('5xx'), Type.Literal('reset')]);
export type RetryCondition = Static<typeof RetryCondition>;

export const RetryPolicy = Type.Object(
  {
    /** Retries after the first try; 0 turns retrying off. */
    attempts: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, default: 0 })),
    on: Type.Optional(Type.Array(RetryCondition, { uniqueItems: true, maxItems: 4, default: ['connect-failure'] })),
    /** Retries may add at most this share of the upstream's requests (a retry storm cannot multiply load). */
    budget_percent: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, default: 20 })),
    /** Retry only GET, HEAD, OPTIONS, PUT and DELETE. */
    only_idempotent: Type.Optional(Type.Boolean({ default: true })),
  },
  { additionalProperties: false, default: {} },
);
export type RetryPolicy = Static<typeof RetryPolicy>;

const HttpStatuses = (d: number[]) =>
  Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { uniqueItems: true, maxItems: 64, default: d });

export const ActiveHealthCheck = Type.Object(
  {
    path: Type.String({ pattern: '^/[^\\s]*$', maxLength: 1024 }),
    interval_ms: Type.Optional(Type.Integer({ minimum: 1_000, maximum: 3_600_000, default: 10_000 })),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: 60_000, default: 2_000 })),
    healthy: Type.Optional(Type.Object(
      { successes: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 2 })), http_statuses: Type.Optional(HttpStatuses([200, 204, 301, 302])) },
      { additionalProperties: false, default: {} },
    )),
    unhealthy: Type.Optional(Type.Object(
      {
        failures: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 3 })),
        timeouts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 3 })),
        http_statuses: Type.Optional(HttpStatuses([429, 500, 502, 503, 504])),
      },
      { additionalProperties: false, default: {} },
    )),
  },
  { additionalProperties: false },
);
export type ActiveHealthCheck = Static<typeof ActiveHealthCheck>;

export const PassiveHealthCheck = Type.Object(
  {
    unhealthy: Type.Optional(Type.Object(
      {
        failures: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000, default: 5 })),
        window_ms: Type.Optional(Type.Integer({ minimum: 1_000, maximum: 3_600_000, default: 10_000 })),
      },
      { additionalProperties: false, default: {} },
    )),
    /** How long an ejected target stays out of rotation. */
    ejection_ms: Type.Optional(Type.Integer({ minimum: 1_000, maximum: 3_600_000, default: 30_000 })),
  },
  { additionalProperties: false },
);
export type PassiveHealthCheck = Static<typeof PassiveHealthCheck>;

export const HealthChecks = Type.Object(
  { active: Type.Optional(ActiveHealthCheck), passive: Type.Optional(PassiveHealthCheck) },
  { additionalProperties: false, default: {} },
);
export type HealthChecks = Static<typeof HealthChecks>;

export const CircuitBreaker = Type.Object(
  {
    /** Failures within `window_ms` that open the circuit. */
    failure_threshold: Type.Integer({ minimum: 1, maximum: 10_000 }),
    window_ms: Type.Integer({ minimum: 1_000, maximum: 3_600_000 }),
    /** How long the circuit stays open before letting trial requests through. */
    open_ms: Type.Integer({ minimum: 1_000, maximum: 3_600_000 }),
    /** Trial requests let through while half-open. */
    half_open_requests: Type.Integer({ minimum: 1, maximum: 1_000 }),
  },
  { additionalProperties: false },
);
export type CircuitBreaker = Static<typeof CircuitBreaker>;

/** TLS towards the targets (scheme `https`). A client certificate is referenced, never kept here. */
export const UpstreamTls = Type.Object(
  {
    verify: Type.Optional(Type.Boolean({ default: true })),
    sni: Type.Optional(Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.-]+$' })),
    ca_pem: Type.Optional(Type.String({ minLength: 1, maxLength: 65_536, pattern: '^\\s*-----BEGIN CERTIFICATE-----' })),
    /** A certificate (`/v1/certificates`) presented to the targets (mutual TLS); deleting it is refused while referenced. */
    client_certificate_id: Type.Optional(Type.String({ format: 'uuid', pattern: '^[0-9a-f-]{36}$', description: 'id of a certificate (lower case)' })),
  },
  { additionalProperties: false, default: {} },
);
export type UpstreamTls = Static<typeof UpstreamTls>;

const upstreamFields = {
  name: Name,
  scheme: Type.Union([Type.Literal('http'), Type.Literal('https')], { default: 'http' }),
  targets: Type.Array(Target, { minItems: 1, maxItems: 256 }),
  /** Time to establish the TCP connection. */
  connect_timeout_ms: Type.Integer({ minimum: 1, maximum: 600_000, default: 5_000 }),
  /** Time to the first response byte, and between bytes after that. */
  read_timeout_ms: Type.Integer({ minimum: 1, maximum: 3_600_000, default: 60_000 }),
  tags: Tags,
  // Policies (issue 4). Optional everywhere, so that envelopes written before they existed still validate;
  // the control plane always writes them with their defaults filled in.
  algorithm: Type.Optional(BalancingAlgorithm),
  /** Required with `consistent-hash`, refused otherwise; null for none. */
  hash_on: Type.Optional(Type.Union([HashOn, Type.Null()], { default: null })),
  /** Budget for the whole exchange (connect, retries, response); null for none. */
  total_timeout_ms: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 3_600_000 }), Type.Null()], { default: null })),
  retries: Type.Optional(RetryPolicy),
  health_checks: Type.Optional(HealthChecks),
  circuit_breaker: Type.Optional(Type.Union([CircuitBreaker, Type.Null()], { default: null })),
  tls: Type.Optional(UpstreamTls),
};

export const UpstreamCreate = Type.Object(
  {
    ...upstreamFields,
    scheme: Type.Optional(upstreamFields.scheme),
    connect_timeout_ms: Type.Optional(upstreamFields.connect_timeout_ms),
    read_timeout_ms: Type.Optional(upstreamFields.read_timeout_ms),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false },
);
export type UpstreamCreate = Static<typeof UpstreamCreate>;
export const UpstreamUpdate = Type.Partial(UpstreamCreate, { additionalProperties: false });
export type UpstreamUpdate = Static<typeof UpstreamUpdate>;

export const Upstream = Type.Object({ id: Id, ...upstreamFields, ...Timestamps });
export type Upstream = Static<typeof Upstream>;

/** An upstream's policy fields, every default filled in (what the control plane stores and returns). */
export interface UpstreamPolicies {
  algorithm: BalancingAlgorithm;
  hash_on: HashOn | null;
  total_timeout_ms: number | null;
  retries: RetryPolicy;
  health_checks: HealthChecks;
  circuit_breaker: CircuitBreaker | null;
  tls: UpstreamTls;
}

/**
 * The policy fields of `u` with defaults filled in, for input that has passed the schema (nested defaults
 * inside `null`-able unions are not applied by validators, and stored rows may predate the fields).
 */
export function upstreamPolicies(u: Partial<UpstreamPolicies>): UpstreamPolicies {
  const r: Partial<RetryPolicy> = u.retries ?? {};
  const hc = u.health_checks ?? {};
  const health_checks: HealthChecks = {};
  if (hc.active) {
    const a = hc.active;
    health_checks.active = {
      path: a.path,
      interval_ms: a.interval_ms ?? 10_000,
      timeout_ms: a.timeout_ms ?? 2_000,
      healthy: { successes: a.healthy?.successes ?? 2, http_statuses: a.healthy?.http_statuses ?? [200, 204, 301, 302] },
      unhealthy: {
        failures: a.unhealthy?.failures ?? 3,
        timeouts: a.unhealthy?.timeouts ?? 3,
        http_statuses: a.unhealthy?.http_statuses ?? [429, 500, 502, 503, 504],
      },
    };
  }
  if (hc.passive) {
    const p = hc.passive;
    health_checks.passive = {
      unhealthy: { failures: p.unhealthy?.failures ?? 5, window_ms: p.unhealthy?.window_ms ?? 10_000 },
      ejection_ms: p.ejection_ms ?? 30_000,
    };
  }
  const tls: UpstreamTls = { verify: u.tls?.verify ?? true };
  if (u.tls?.sni !== undefined) tls.sni = u.tls.sni;
  if (u.tls?.ca_pem !== undefined) tls.ca_pem = u.tls.ca_pem;
  if (u.tls?.client_certificate_id !== undefined) tls.client_certificate_id = u.tls.client_certificate_id;
  return {
    algorithm: u.algorithm ?? 'round-robin',
    hash_on: u.hash_on ?? null,
    total_timeout_ms: u.total_timeout_ms ?? null,
    retries: {
      attempts: r.attempts ?? 0,
      on: r.on ?? ['connect-failure'],
      budget_percent: r.budget_percent ?? 20,
      only_idempotent: r.only_idempotent ?? true,
    },
    health_checks,
    circuit_breaker: u.circuit_breaker ?? null,
    tls,
  };
}

/**
 * Rules between fields that a schema cannot state, as field errors with JSON-pointer paths (empty when
 * none is broken). `u` has passed the schema; missing fields take their defaults.
 */
export function upstreamRuleProblems(u: Partial<UpstreamPolicies> & { scheme?: 'http' | 'https'; read_timeout_ms?: number; connect_timeout_ms?: number }): FieldError[] {
  const out: FieldError[] = [];
  const algorithm = u.algorithm ?? 'round-robin';
  const hashOn = u.hash_on ?? null;
  if (algorithm === 'consistent-hash' && hashOn === null) out.push({ path: '/hash_on', message: 'is required when algorithm is consistent-hash' });
  if (algorithm !== 'consistent-hash' && hashOn !== null) out.push({ path: '/hash_on', message: 'is allowed only when algorithm is consistent-hash' });
  if (hashOn !== null) {
    const named = hashOn.source === 'header' || hashOn.source === 'cookie';
    if (named && hashOn.name === undefined) out.push({ path: '/hash_on/name', message: `is required when source is ${hashOn.source}` });
    if (!named && hashOn.name !== undefined) out.push({ path: '/hash_on/name', message: `is not allowed when source is ${hashOn.source}` });
  }
  const total = u.total_timeout_ms ?? null;
  if (total !== null && total < (u.connect_timeout_ms ?? 5_000)) out.push({ path: '/total_timeout_ms', message: 'must not be less than connect_timeout_ms' });
  const r = u.retries;
  if (r && (r.attempts ?? 0) > 0 && r.on !== undefined && r.on.length === 0) out.push({ path: '/retries/on', message: 'must name at least one condition when attempts is above 0' });
  const a = u.health_checks?.active;
  if (a && (a.timeout_ms ?? 2_000) >= (a.interval_ms ?? 10_000)) out.push({ path: '/health_checks/active/timeout_ms', message: 'must be less than interval_ms' });
  const tls = u.tls;
  if (tls && (u.scheme ?? 'http') !== 'https' && (tls.sni !== undefined || tls.ca_pem !== undefined || tls.client_certificate_id !== undefined)) {
    out.push({ path: '/tls', message: 'sni, ca_pem and client_certificate_id apply only to scheme https' });
  }
  return out;
}
