// Read-only usage dialogs: an AI budget's current period from the gateway nodes' ledger
// (GET /v1/ai-budgets/{id}/usage) and a consumer's quota usage per subscription (GET /v1/consumers/{id}/usage).
import { api } from './state.js';
import { useLoad } from '../shared/load.js';
import { DataTable } from '../shared/table.js';
import { fmt } from '../shared/dom.js';
import { Dialog, ErrorBox, fmtTime } from './ui.js';
import { cell, useNames } from './ResourcePage.js';
import type { RowDialogProps } from './row-actions.js';

interface Dimension {
  spent: number;
  reserved: number;
  limit: number | null;
  remaining: number | null;
}

interface BudgetUsage {
  budget_id: string;
  period: string;
  period_start: string;
  resets_at: string;
  tokens: Dimension;
  cost_usd: Dimension;
  requests: Dimension;
  open_reservations: number;
}

interface QuotaUsage {
  service_id: string;
  subscription_id: string;
  plan_id: string;
  period: string;
  period_start: string;
  resets_at: string;
  requests: { used: number; limit: number | null; remaining: number | null };
}

const DIMENSIONS: Array<{ key: 'tokens' | 'cost_usd' | 'requests'; label: string; digits: number }> = [
  { key: 'tokens', label: 'tokens', digits: 0 },
  { key: 'cost_usd', label: 'cost (USD)', digits: 4 },
  { key: 'requests', label: 'requests', digits: 0 },
];

/** null (no limit of this kind) reads "no limit", not an empty cell. */
const limitText = (v: number | null, digits: number) => (v === null ? 'no limit' : fmt(v, digits));

function Period(props: { period: string; start: string; resets: string }) {
  return (
    <dl class="stats">
      <div>
        <dt>period</dt>
        <dd>{props.period}</dd>
      </div>
      <div>
        <dt>started</dt>
        <dd>{fmtTime(props.start)}</dd>
      </div>
      <div>
        <dt>resets</dt>
        <dd>{fmtTime(props.resets)}</dd>
      </div>
    </dl>
  );
}

export function BudgetUsageDialog(props: RowDialogProps) {
  const usage = useLoad(() => api.get<BudgetUsage>(`/v1/ai-budgets/${props.entity.id}/usage`), [props.entity.id]);
  const u = usage.data;
  return (
    <Dialog title={`Usage of AI budget ${props.title}`} onClose={props.onClose} wide>
      <ErrorBox error={usage.error} />
      {u ? (
        <>
          <Period period={u.period} start={u.period_start} resets={u.resets_at} />
          <DataTable
            caption="this period, from the gateway nodes' ledger"
            rows={DIMENSIONS}
            rowKey={(d) => d.key}
            rowAttrs={(d) => ({ 'data-dimension': d.key })}
            columns={[
              { label: 'dimension', cell: (d) => d.label },
              { label: 'spent', cell: (d) => fmt(u[d.key].spent, d.digits) },
              { label: 'reserved (in flight)', cell: (d) => fmt(u[d.key].reserved, d.digits) },
              { label: 'limit', cell: (d) => limitText(u[d.key].limit, d.digits) },
              { label: 'remaining', cell: (d) => (u[d.key].limit === null ? '' : fmt(u[d.key].remaining, d.digits)), class: (d) => (u[d.key].remaining === 0 ? 'warn' : '') },
            ]}
          />
          <p class="muted">
            {u.open_reservations} open reservation{u.open_reservations === 1 ? '' : 's'}. Spent may pass the limit: a call that used more than it reserved is recorded in full.
          </p>
        </>
      ) : usage.loading ? (
        <p class="muted">Loading…</p>
      ) : null}
    </Dialog>
  );
}

export function ConsumerUsageDialog(props: RowDialogProps) {
  const usage = useLoad(() => api.get<{ data: QuotaUsage[] }>(`/v1/consumers/${props.entity.id}/usage`), [props.entity.id]);
  const names = useNames(['service_id', 'plan_id']);
  return (
    <Dialog title={`Quota usage of ${props.title}`} onClose={props.onClose} wide>
      <ErrorBox error={usage.error} />
      <DataTable
        rows={usage.data?.data ?? null}
        empty="No approved subscription of this consumer has a plan with quotas."
        caption="current period of each quota (UTC)"
        rowKey={(q) => `${q.subscription_id}:${q.period}`}
        rowAttrs={(q) => ({ 'data-period': q.period })}
        columns={[
          { label: 'service', cell: (q) => cell(q.service_id, 'service_id', names) },
          { label: 'plan', cell: (q) => cell(q.plan_id, 'plan_id', names) },
          { label: 'period', cell: (q) => q.period },
          { label: 'used', cell: (q) => fmt(q.requests.used) },
          { label: 'limit', cell: (q) => limitText(q.requests.limit, 0) },
          { label: 'remaining', cell: (q) => (q.requests.remaining === null ? '' : fmt(q.requests.remaining)), class: (q) => (q.requests.remaining === 0 ? 'warn' : '') },
          { label: 'resets', cell: (q) => fmtTime(q.resets_at) },
        ]}
      />
      <p class="muted">Requests as the control plane has aggregated them (the last second or so may be missing).</p>
    </Dialog>
  );
}
