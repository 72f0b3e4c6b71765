// An AI budget's current period (GET /v1/ai-budgets/{id}/usage): what settled calls spent and what calls in
// flight hold, read from the ledger in NATS KV that the gateway nodes write (not from PostgreSQL: the
// ledger is the only place that knows). Expired reservations (a node died mid-call) are not counted.
import {
  TurnpikeError,
  budgetLedgerKey,
  budgetPeriodEnd,
  budgetPeriodStart,
  parseLedgerRecord,
  summarizeLedger,
  type AiBudgetLimits,
  type AiBudgetPeriod,
  type AiBudgetUsage,
  type BudgetLedgerStore,
} from '@turnpike/common';
import { defOf, getResource } from '../resources/index.js';
import type { ServiceContext } from './context.js';

function dimension(spent: number, reserved: number, limit: number | undefined) {
  const l = limit ?? null;
  return { spent, reserved, limit: l, remaining: l === null ? null : Math.max(0, Math.round((l - spent - reserved) * 1e9) / 1e9) };
}

export async function getAiBudgetUsage(ctx: ServiceContext, id: string, ledger: BudgetLedgerStore | null, nowMs = Date.now()): Promise<AiBudgetUsage> {
  // Read access and existence in the caller's tenant, exactly as GET /v1/ai-budgets/{id}.
  const budget = await getResource(ctx, defOf('ai_budgets')!, id);
  if (!ledger) throw new TurnpikeError('TP_ERR_UNAVAILABLE', 'the AI budget ledger is not configured on this control plane (no NATS)');
  const period = budget.period as AiBudgetPeriod;
  const limits = budget.limits as AiBudgetLimits;
  const start = budgetPeriodStart(period, nowMs);
  let raw: string | null;
  try {
    raw = (await ledger.get(period, budgetLedgerKey(budget.id, start))).value;
  } catch (err) {
    throw new TurnpikeError('TP_ERR_UNAVAILABLE', `the AI budget ledger cannot be read: ${(err as Error).message}`);
  }
  const u = summarizeLedger(raw === null ? null : parseLedgerRecord(raw), nowMs);
  return {
    budget_id: budget.id,
    period,
    period_start: new Date(start).toISOString(),
    resets_at: new Date(budgetPeriodEnd(period, start)).toISOString(),
    tokens: dimension(u.spent.tokens, u.reserved.tokens, limits.tokens),
    cost_usd: dimension(u.spent.cost_usd, u.reserved.cost_usd, limits.cost_usd),
    requests: dimension(u.spent.requests, u.reserved.requests, limits.requests),
    open_reservations: u.open,
  };
}
