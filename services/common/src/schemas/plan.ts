import { Type, type Static } from '@sinclair/typebox';
import { Id, Name, Tags, Timestamps } from './common.js';

export const RateUnit = Type.Union([Type.Literal('second'), Type.Literal('minute'), Type.Literal('hour')]);
export const QuotaPeriod = Type.Union([Type.Literal('day'), Type.Literal('week'), Type.Literal('month')]);

/** A token bucket: `requests` per `per` sustained, bursts up to `burst` (default: `requests`). */
export const PlanRateLimit = Type.Object(
  {
    requests: Type.Integer({ minimum: 1, maximum: 10_000_000 }),
    per: RateUnit,
    burst: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
  },
  { additionalProperties: false },
);

export const PlanQuota = Type.Object(
  {
    period: QuotaPeriod,
    /** Requests admitted per period per consumer. */
    requests: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000_000 })),
    /** AI tokens (prompt + completion) per period per consumer. */
    ai_tokens: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000_000 })),
    /** AI spend per period per consumer, in US dollars. */
    ai_cost_usd: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1_000_000_000 })),
  },
  { additionalProperties: false },
);

/**
 * A usage plan: what a subscription under it may use. `approval` says whether a subscription request is
 * approved on creation (`auto`) or waits for an admin (`manual`).
 */
const planFields = {
  name: Name,
  description: Type.String({ maxLength: 1024, default: '' }),
  rate_limit: Type.Union([PlanRateLimit, Type.Null()], { default: null }),
  quotas: Type.Array(PlanQuota, { maxItems: 3, default: [] }),
  approval: Type.Union([Type.Literal('manual'), Type.Literal('auto')], { default: 'manual' }),
  tags: Tags,
};

export const PlanCreate = Type.Object(
  {
    name: planFields.name,
    description: Type.Optional(planFields.description),
    rate_limit: Type.Optional(planFields.rate_limit),
    quotas: Type.Optional(planFields.quotas),
    approval: Type.Optional(planFields.approval),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false },
);
export type PlanCreate = Static<typeof PlanCreate>;
export const PlanUpdate = Type.Partial(PlanCreate, { additionalProperties: false });
export const Plan = Type.Object({ id: Id, ...planFields, ...Timestamps });
export type Plan = Static<typeof Plan>;
