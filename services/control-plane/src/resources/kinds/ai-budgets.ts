// AI budgets. The scope must name an API key or consumer of this tenant (404 otherwise), or this tenant
// itself: the data plane matches budgets by these ids, so a budget on another team's key is refused. The
// ledger of what a budget spent lives in NATS KV (GET /v1/ai-budgets/{id}/usage reads it, service/ai-budget-usage.ts).
import { AiBudget, AiBudgetCreate, AiBudgetUpdate, TurnpikeError, type AiBudgetLimits, type AiBudgetScope, type FieldError } from '@turnpike/common';
import type { TransactionSql } from 'postgres';
import type { Reference, ResourceDef } from '../definition.js';

const SCOPE_TABLE = { api_key: { table: 'api_keys', what: 'API key' }, consumer: { table: 'consumers', what: 'consumer' } } as const;

/** 404 with the field path when the scope's key, consumer or tenant does not exist (in this tenant). */
async function checkScope(tx: TransactionSql, scope: AiBudgetScope & { id: string }, tenantId: string): Promise<void> {
  const id = scope.id;
  if (scope.type === 'tenant') {
    if (id === tenantId) return;
    const [other] = await tx`SELECT id FROM tenants WHERE id = ${id}`;
    if (!other) throw new TurnpikeError('TP_ERR_NOT_FOUND', `tenant ${JSON.stringify(scope.id)} not found`, [{ path: '/scope/id', message: 'names no tenant' }]);
    throw new TurnpikeError('TP_ERR_UNPROCESSABLE', `scope.id: a tenant budget must name the tenant it is created in (${tenantId})`, [
      { path: '/scope/id', message: `must be this tenant's id (${tenantId})` },
    ]);
  }
  const { table, what } = SCOPE_TABLE[scope.type];
  const rows = await tx`SELECT id FROM ${tx(table)} WHERE id = ${id} AND tenant_id = ${tenantId}`;
  if (rows.length === 0) throw new TurnpikeError('TP_ERR_NOT_FOUND', `${what} ${JSON.stringify(scope.id)} not found`, [{ path: '/scope/id', message: `names no ${what} of this tenant` }]);
}

export const aiBudgets: ResourceDef = {
  kind: 'ai_budgets',
  path: 'ai-budgets',
  singular: 'AI budget',
  title: 'AiBudget',
  create: AiBudgetCreate,
  update: AiBudgetUpdate,
  entity: AiBudget,
  // Another subject would inherit what the old one spent this period: create a new budget instead.
  immutable: ['scope'],
  nameOf: (d) => String(d.name),
  unique: (d) => [{ field: '/name', value: String(d.name), scope: 'tenant' }],
  filters: { period: 'period' },
  references(d) {
    const scope = d.scope as AiBudgetScope & { id: string };
    // Deleting the key or consumer deletes its budgets (a tenant's go with the tenant).
    const kind: Reference['kind'] | null = scope.type === 'api_key' ? 'keys' : scope.type === 'consumer' ? 'consumers' : null;
    return kind ? [{ field: '/scope/id', kind, id: scope.id.toLowerCase(), onDelete: 'cascade' }] : [];
  },
  async check(d, { tx, tenantId }) {
    const limits = d.limits as AiBudgetLimits;
    const problems: FieldError[] = [];
    if (limits.tokens === undefined && limits.cost_usd === undefined && limits.requests === undefined) {
      problems.push({ path: '/limits', message: 'must set at least one of tokens, cost_usd, requests' });
    }
    if (problems.length > 0) {
      throw new TurnpikeError('TP_ERR_UNPROCESSABLE', problems.map((f) => `${f.path.slice(1)}: ${f.message}`).join('; '), problems);
    }
    const given = d.scope as AiBudgetScope;
    if (given.id === undefined && given.type !== 'tenant') {
      throw new TurnpikeError('TP_ERR_UNPROCESSABLE', `scope.id: is required for scope type ${given.type}`, [{ path: '/scope/id', message: `is required for scope type ${given.type}` }]);
    }
    // Stored lower-case (the data plane compares ids as text); a tenant budget without an id is this tenant's.
    const scope = { type: given.type, id: given.id?.toLowerCase() ?? tenantId };
    await checkScope(tx, scope, tenantId);
    return { ...d, scope };
  },
};
