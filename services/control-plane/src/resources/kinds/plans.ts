// Usage plans: rate, burst and quotas a subscription runs under.
import { Plan, PlanCreate, PlanUpdate, TurnpikeError } from '@turnpike/common';
import type { ResourceDef } from '../definition.js';

export const plans: ResourceDef = {
  kind: 'plans',
  path: 'plans',
  singular: 'plan',
  title: 'Plan',
  create: PlanCreate,
  update: PlanUpdate,
  entity: Plan,
  nameOf: (d) => String(d.name),
  unique: (d) => [{ field: '/name', value: String(d.name), scope: 'tenant' }],
  check(d) {
    const quotas = (d.quotas ?? []) as Array<{ period: string; requests?: number; ai_tokens?: number; ai_cost_usd?: number }>;
    const seen = new Set<string>();
    quotas.forEach((q, i) => {
      if (seen.has(q.period)) throw new TurnpikeError('TP_ERR_UNPROCESSABLE', `quotas: two quotas for one ${q.period}`, [{ path: `/quotas/${i}/period`, message: 'is already used by another quota' }]);
      seen.add(q.period);
      if (q.requests === undefined && q.ai_tokens === undefined && q.ai_cost_usd === undefined) {
        throw new TurnpikeError('TP_ERR_UNPROCESSABLE', 'a quota must limit requests, ai_tokens or ai_cost_usd', [{ path: `/quotas/${i}`, message: 'limits nothing' }]);
      }
    });
    const rl = d.rate_limit as { requests: number; burst?: number } | null;
    if (rl && rl.burst !== undefined && rl.burst < 1) throw new TurnpikeError('TP_ERR_UNPROCESSABLE', 'burst must be at least 1', [{ path: '/rate_limit/burst', message: 'must be >= 1' }]);
  },
};
