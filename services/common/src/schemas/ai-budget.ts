// AI budgets: a ceiling on what one API key, consumer or tenant may spend through the AI gateway in a UTC
// calendar period (tokens, US dollars, requests). A minute period with `tokens` is a TPM limit, with
// `requests` an RPM limit. Enforced by gateway nodes with reservations in a shared ledger (NATS KV): see
// ../ai-budget/ledger-record.ts and docs/architecture.md.
import { Type, type Static } from '@sinclair/typebox';
import { Id, Name, Tags, Timestamps } from './common.js';

export const AI_BUDGET_PERIODS = ['minute', 'hour', 'day', 'month'] as const;
export type AiBudgetPeriod = (typeof AI_BUDGET_PERIODS)[number];
export const AiBudgetPeriodSchema = Type.Union(AI_BUDGET_PERIODS.map((p) => Type.Literal(p)));

export const AI_BUDGET_SCOPES = ['api_key', 'consumer', 'tenant'] as const;
export type AiBudgetScopeType = (typeof AI_BUDGET_SCOPES)[number];

/** Lower-case, as the control plane returns ids: nodes match the stored text against the caller's ids. */
const ScopeId = Type.String({ format: 'uuid', pattern: '^[0-9a-f-]{36}$', description: 'id of the API key, consumer or tenant (lower case)' });

export const AiBudgetScope = Type.Object(
  {
    /** Whose spending is counted: one API key, every key of one consumer, or every AI call of one tenant. */
    type: Type.Union(AI_BUDGET_SCOPES.map((s) => Type.Literal(s))),
    /**
     * The API key's, consumer's or tenant's id. A tenant budget names the tenant it is created in; left out,
     * the control plane fills that in (so declarative files need not know tenant ids).
     */
    id: Type.Optional(ScopeId),
  },
  { additionalProperties: false },
);
export type AiBudgetScope = Static<typeof AiBudgetScope>;

export const AiBudgetLimits = Type.Object(
  {
    /** Prompt plus completion tokens per period. */
    tokens: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000_000 })),
    /** Cost per period in US dollars, from the providers' price tables. */
    cost_usd: Type.Optional(Type.Number({ minimum: 0, maximum: 1_000_000_000 })),
    /** Calls per period. */
    requests: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000_000 })),
  },
  { additionalProperties: false, description: 'at least one of tokens, cost_usd, requests' },
);
export type AiBudgetLimits = Static<typeof AiBudgetLimits>;

const budgetFields = {
  name: Name,
  description: Type.String({ maxLength: 1024, default: '' }),
  scope: AiBudgetScope,
  /** A UTC calendar period: the minute, hour, day (from 00:00) or month (from the 1st) a call falls in. */
  period: AiBudgetPeriodSchema,
  limits: AiBudgetLimits,
  /** A disabled budget is published but not enforced. */
  enabled: Type.Boolean({ default: true }),
  tags: Tags,
};

export const AiBudgetCreate = Type.Object(
  {
    name: budgetFields.name,
    description: Type.Optional(budgetFields.description),
    scope: budgetFields.scope,
    period: budgetFields.period,
    limits: budgetFields.limits,
    enabled: Type.Optional(budgetFields.enabled),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false },
);
export type AiBudgetCreate = Static<typeof AiBudgetCreate>;
export const AiBudgetUpdate = Type.Partial(AiBudgetCreate, { additionalProperties: false });
export type AiBudgetUpdate = Static<typeof AiBudgetUpdate>;
export const AiBudget = Type.Object({ id: Id, ...budgetFields, ...Timestamps });
export type AiBudget = Static<typeof AiBudget>;

/** One dimension of a budget's current period (GET /v1/ai-budgets/{id}/usage). */
export const AiBudgetUsageAmount = Type.Object({
  /** Settled calls' actual amounts. */
  spent: Type.Number(),
  /** Estimates held by calls in flight (unexpired reservations). */
  reserved: Type.Number(),
  /** null when the budget does not limit this dimension. */
  limit: Type.Union([Type.Number(), Type.Null()]),
  /** max(0, limit - spent - reserved); null without a limit. */
  remaining: Type.Union([Type.Number(), Type.Null()]),
});

export const AiBudgetUsage = Type.Object({
  budget_id: Id,
  period: AiBudgetPeriodSchema,
  period_start: Type.String({ format: 'date-time' }),
  resets_at: Type.String({ format: 'date-time' }),
  tokens: AiBudgetUsageAmount,
  cost_usd: AiBudgetUsageAmount,
  requests: AiBudgetUsageAmount,
  /** Calls in flight holding a reservation. */
  open_reservations: Type.Integer(),
});
export type AiBudgetUsage = Static<typeof AiBudgetUsage>;
