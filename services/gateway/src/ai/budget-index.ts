// The AI budgets of a config snapshot, compiled off the hot path into a table by subject: a call looks up
// its API key's, consumer's and tenant's budgets with three map reads. Disabled budgets are left out.
import { AI_BUDGET_PERIODS, type AiBudgetPeriod, type AiBudgetScopeType } from '@turnpike/common';

export interface CompiledBudget {
  id: string;
  scope: AiBudgetScopeType;
  scopeId: string;
  period: AiBudgetPeriod;
  /** null: the budget does not limit that dimension. */
  limits: { tokens: number | null; costUsd: number | null; requests: number | null };
}

export interface BudgetSubject {
  apiKeyId: string | null;
  consumerId: string | null;
  tenantId: string | null;
}

const NONE: readonly CompiledBudget[] = Object.freeze([]);
const SCOPES: ReadonlySet<string> = new Set(['api_key', 'consumer', 'tenant']);
const PERIODS: ReadonlySet<string> = new Set(AI_BUDGET_PERIODS);

export class BudgetIndex {
  /** `<scope>:<id>` → that subject's budgets. */
  readonly #bySubject: ReadonlyMap<string, readonly CompiledBudget[]>;
  readonly size: number;

  constructor(budgets: readonly CompiledBudget[]) {
    const m = new Map<string, CompiledBudget[]>();
    for (const b of budgets) {
      const k = `${b.scope}:${b.scopeId}`;
      const list = m.get(k);
      if (list) list.push(b);
      else m.set(k, [b]);
    }
    this.#bySubject = m;
    this.size = budgets.length;
  }

  /** Every enabled budget that counts a call by this key, consumer or tenant (ids as the config carries them: lower-case). */
  budgetsFor(who: BudgetSubject): readonly CompiledBudget[] {
    if (this.size === 0) return NONE;
    const k = who.apiKeyId === null ? undefined : this.#bySubject.get(`api_key:${who.apiKeyId}`);
    const c = who.consumerId === null ? undefined : this.#bySubject.get(`consumer:${who.consumerId}`);
    const t = who.tenantId === null ? undefined : this.#bySubject.get(`tenant:${who.tenantId}`);
    // The common cases (none, or one subject's list) allocate nothing.
    if (!k && !c) return t ?? NONE;
    if (!c && !t) return k!;
    if (!k && !t) return c!;
    return [...(k ?? NONE), ...(c ?? NONE), ...(t ?? NONE)];
  }
}

function limit(v: unknown, integer: boolean): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && (!integer || Number.isInteger(v)) ? v : null;
}

/** One published `ai_budgets.<id>` entry, or null when it is disabled or not a budget this node understands. */
export function compileBudget(data: unknown): CompiledBudget | null {
  const d = data as { id?: unknown; scope?: { type?: unknown; id?: unknown }; period?: unknown; limits?: Record<string, unknown>; enabled?: unknown } | null;
  if (typeof d !== 'object' || d === null || typeof d.id !== 'string' || d.enabled === false) return null;
  const scope = d.scope;
  if (typeof scope?.type !== 'string' || !SCOPES.has(scope.type) || typeof scope.id !== 'string') return null;
  if (typeof d.period !== 'string' || !PERIODS.has(d.period)) return null;
  const l = d.limits ?? {};
  const limits = { tokens: limit(l.tokens, true), costUsd: limit(l.cost_usd, false), requests: limit(l.requests, true) };
  if (limits.tokens === null && limits.costUsd === null && limits.requests === null) return null;
  return { id: d.id.toLowerCase(), scope: scope.type as AiBudgetScopeType, scopeId: scope.id.toLowerCase(), period: d.period as AiBudgetPeriod, limits };
}

/** The index of the `ai_budgets` config entries (their `data` as published). */
export function compileBudgets(entries: Iterable<unknown>): BudgetIndex {
  const out: CompiledBudget[] = [];
  for (const e of entries) {
    const b = compileBudget(e);
    if (b) out.push(b);
  }
  return new BudgetIndex(out);
}
