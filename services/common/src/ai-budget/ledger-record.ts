// The AI budget ledger as it lies in NATS KV: one key per budget and period, `<budget id>.<period start ms>`,
// holding what settled calls spent and the reservations of calls in flight. Gateway nodes change it with
// compare-and-set writes (gateway ai/budget-ledger.ts); the control plane reads it for the usage endpoint.
// Both ends compute period boundaries and bucket names here, so they always address the same key.
import type { AiBudgetPeriod } from '../schemas/ai-budget.js';

/** Amounts in the ledger's JSON (snake_case, as stored). */
export interface LedgerAmount {
  tokens: number;
  cost_usd: number;
  requests: number;
}

export interface LedgerReservation {
  /** Unique per reservation (node id + counter). */
  id: string;
  amount: LedgerAmount;
  /** The gateway node that took it (for operators reading the bucket). */
  node: string;
  /** Epoch ms after which any writer drops it: the node died or lost NATS mid-call. */
  expires_at: number;
}

export interface LedgerRecord {
  v: 1;
  budget_id: string;
  period: AiBudgetPeriod;
  /** Period start, epoch ms UTC. */
  start: number;
  spent: LedgerAmount;
  reservations: LedgerReservation[];
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** The start (epoch ms, UTC) of the `period` containing `ms`. */
export function budgetPeriodStart(period: AiBudgetPeriod, ms: number): number {
  switch (period) {
    case 'minute':
      return Math.floor(ms / MINUTE_MS) * MINUTE_MS;
    case 'hour':
      return Math.floor(ms / HOUR_MS) * HOUR_MS;
    case 'day':
      return Math.floor(ms / DAY_MS) * DAY_MS;
    case 'month': {
      const d = new Date(ms);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    }
  }
}

/** The end (exclusive, epoch ms) of the period that starts at `start`. */
export function budgetPeriodEnd(period: AiBudgetPeriod, start: number): number {
  switch (period) {
    case 'minute':
      return start + MINUTE_MS;
    case 'hour':
      return start + HOUR_MS;
    case 'day':
      return start + DAY_MS;
    case 'month': {
      const d = new Date(start);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    }
  }
}

/**
 * One bucket per period length, `turnpike_budget_<cluster>_<period>`, each with history 1 and a max age
 * that outlives its longest period plus any reservation expiry (BUDGET_BUCKET_MAX_AGE_MS): a key nobody
 * wrote for that long belongs to a period that is over, and JetStream drops it. One bucket for all would
 * need the month's 32 days for minute keys too (46,000 dead keys per TPM budget).
 */
export function budgetBucketName(cluster: string, period: AiBudgetPeriod): string {
  return `turnpike_budget_${cluster}_${period}`;
}

export const BUDGET_BUCKET_MAX_AGE_MS: Readonly<Record<AiBudgetPeriod, number>> = {
  minute: 2 * HOUR_MS,
  hour: 4 * HOUR_MS,
  day: 3 * DAY_MS,
  month: 33 * DAY_MS,
};

/** Reservation expiry may not exceed this: the minute bucket must keep a key until its reservations lapse. */
export const MAX_RESERVATION_EXPIRY_MS = HOUR_MS;

/** `<budget id>.<period start ms>` (ids are lower-case UUIDs: valid KV key tokens). */
export function budgetLedgerKey(budgetId: string, periodStartMs: number): string {
  return `${budgetId.toLowerCase()}.${periodStartMs}`;
}

export const ZERO_AMOUNT: Readonly<LedgerAmount> = Object.freeze({ tokens: 0, cost_usd: 0, requests: 0 });

/** Dollars kept to nano-dollar precision so repeated float additions do not drift. */
function roundUsd(v: number): number {
  return Math.round(v * 1e9) / 1e9;
}

export function addAmounts(a: LedgerAmount, b: LedgerAmount): LedgerAmount {
  return { tokens: a.tokens + b.tokens, cost_usd: roundUsd(a.cost_usd + b.cost_usd), requests: a.requests + b.requests };
}

export function emptyLedgerRecord(budgetId: string, period: AiBudgetPeriod, start: number): LedgerRecord {
  return { v: 1, budget_id: budgetId, period, start, spent: { ...ZERO_AMOUNT }, reservations: [] };
}

function amountOf(v: unknown): LedgerAmount | null {
  const o = v as Partial<LedgerAmount> | null;
  if (typeof o !== 'object' || o === null) return null;
  const n = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) && x >= 0 ? x : null);
  const tokens = n(o.tokens);
  const cost = n(o.cost_usd);
  const requests = n(o.requests);
  return tokens === null || cost === null || requests === null ? null : { tokens, cost_usd: cost, requests };
}

/** Parses a stored value; null when it is not a ledger record of this version (it is then treated as empty). */
export function parseLedgerRecord(raw: string): LedgerRecord | null {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  const o = v as Partial<LedgerRecord> | null;
  if (typeof o !== 'object' || o === null || o.v !== 1 || typeof o.budget_id !== 'string' || typeof o.start !== 'number') return null;
  if (typeof o.period !== 'string' || !['minute', 'hour', 'day', 'month'].includes(o.period)) return null;
  const spent = amountOf(o.spent);
  if (!spent || !Array.isArray(o.reservations)) return null;
  const reservations: LedgerReservation[] = [];
  for (const r of o.reservations as unknown[]) {
    const x = r as Partial<LedgerReservation> | null;
    const amount = amountOf(x?.amount);
    if (!x || typeof x.id !== 'string' || !amount || typeof x.expires_at !== 'number') continue;
    reservations.push({ id: x.id, amount, node: typeof x.node === 'string' ? x.node : '', expires_at: x.expires_at });
  }
  return { v: 1, budget_id: o.budget_id, period: o.period, start: o.start, spent, reservations };
}

/** What a record holds at `nowMs`: spent, the sum of unexpired reservations and how many there are. */
export function summarizeLedger(record: LedgerRecord | null, nowMs: number): { spent: LedgerAmount; reserved: LedgerAmount; open: number } {
  if (!record) return { spent: { ...ZERO_AMOUNT }, reserved: { ...ZERO_AMOUNT }, open: 0 };
  let reserved: LedgerAmount = { ...ZERO_AMOUNT };
  let open = 0;
  for (const r of record.reservations) {
    if (r.expires_at <= nowMs) continue;
    reserved = addAmounts(reserved, r.amount);
    open++;
  }
  return { spent: record.spent, reserved, open };
}
