// AI budgets on the hot path: a call reserves its estimated amount in every budget that applies before the
// provider is called, and settles the actual amount after (or releases the reservation when nothing was
// spent). The ledger is shared by every node of the cluster — NATS KV, one key per budget and period —
// and every change is a compare-and-set on the key's revision, so N nodes reserving at once can never
// take more than the limit between them. A node that dies mid-call leaves its reservation behind until it
// expires; any later write to that key drops it (docs/architecture.md, "AI budgets").
import { performance } from 'node:perf_hooks';
import {
  MAX_RESERVATION_EXPIRY_MS,
  NatsBudgetLedgerStore,
  addAmounts,
  budgetLedgerKey,
  budgetPeriodEnd,
  budgetPeriodStart,
  emptyLedgerRecord,
  parseLedgerRecord,
  type AiBudgetPeriod,
  type BudgetLedgerStore,
  type LedgerAmount,
  type LedgerRecord,
} from '@turnpike/common';
import type { NatsConnection } from '@nats-io/transport-node';
import type { CompiledBudget } from './budget-index.js';

export { BudgetIndex, compileBudgets, type CompiledBudget } from './budget-index.js';

export interface Amount {
  tokens: number;
  costUsd: number;
  requests: number;
}

export interface Reservation {
  /** Replaces the reservation by what the call actually used (recorded even when above the estimate). */
  settle(actual: Amount): Promise<void>;
  /** Drops the reservation: the call spent nothing (refused before the provider, or the client left first). */
  release(): Promise<void>;
}

/**
 * `unavailable`: the ledger could not decide (NATS unreachable, or the key too contended to write within
 * the deadline); the runtime answers 503 rather than let a call through unbudgeted.
 */
export type ReserveResult = { ok: true; reservation: Reservation } | { ok: false; budget: CompiledBudget; retryAfterS: number; unavailable?: boolean };

export interface BudgetLedgerOptions {
  /** Where the ledger lives (NatsBudgetLedgerStore for a cluster). */
  store: BudgetLedgerStore;
  /** This node's id, written into its reservations. */
  nodeId: string;
  /** Epoch ms; periods and expiry follow it (tests move it). Default Date.now. */
  now?: () => number;
  /** How long a reservation holds when its call never settles (the node died). Default 5 minutes, at most 1 hour. */
  reservationExpiryMs?: number;
  /** How long one key's compare-and-set may keep losing to other writers before the call is answered unavailable. Default 2 s. */
  casDeadlineMs?: number;
  /** [0, 1): backoff jitter (tests pin it). */
  random?: () => number;
}

export const DEFAULT_RESERVATION_EXPIRY_MS = 300_000;
const BACKOFF_BASE_MS = 2;
const BACKOFF_CAP_MS = 64;

/** A key's compare-and-set kept losing past the deadline. */
class LedgerContention extends Error {
  constructor(key: string) {
    super(`budget ledger key ${key} too contended`);
    this.name = 'LedgerContention';
  }
}

interface Held {
  budget: CompiledBudget;
  key: string;
}

const NO_RESERVATION: Reservation = { settle: async () => undefined, release: async () => undefined };

function toLedger(a: Amount): LedgerAmount {
  return { tokens: a.tokens, cost_usd: a.costUsd, requests: a.requests };
}

/** Whether adding `estimate` keeps every limited dimension within its limit. A used-up dimension refuses even a zero estimate. */
function fits(budget: CompiledBudget, used: LedgerAmount, estimate: LedgerAmount): boolean {
  const { tokens, costUsd, requests } = budget.limits;
  if (tokens !== null && (used.tokens >= tokens || used.tokens + estimate.tokens > tokens)) return false;
  if (requests !== null && (used.requests >= requests || used.requests + estimate.requests > requests)) return false;
  // Dollars compare with a nano-dollar tolerance (the ledger rounds to it).
  if (costUsd !== null && (used.cost_usd >= costUsd - 1e-9 || used.cost_usd + estimate.cost_usd > costUsd + 1e-9)) return false;
  return true;
}

export class BudgetLedger {
  readonly #store: BudgetLedgerStore;
  readonly #nodeId: string;
  readonly #now: () => number;
  readonly #expiryMs: number;
  readonly #deadlineMs: number;
  readonly #random: () => number;
  readonly #inflight = new Set<Promise<unknown>>();
  #seq = 0;
  #closed = false;

  constructor(opts: BudgetLedgerOptions) {
    this.#store = opts.store;
    this.#nodeId = opts.nodeId;
    this.#now = opts.now ?? Date.now;
    this.#expiryMs = opts.reservationExpiryMs ?? DEFAULT_RESERVATION_EXPIRY_MS;
    if (!(this.#expiryMs > 0 && this.#expiryMs <= MAX_RESERVATION_EXPIRY_MS)) {
      throw new RangeError(`reservationExpiryMs must be in (0, ${MAX_RESERVATION_EXPIRY_MS}], got ${this.#expiryMs}`);
    }
    this.#deadlineMs = opts.casDeadlineMs ?? 2_000;
    this.#random = opts.random ?? Math.random;
  }

  /** The ledger of a cluster in NATS KV (buckets `turnpike_budget_<cluster>_<period>`, created on first use). */
  static overNats(nc: NatsConnection, cluster: string, opts: Omit<BudgetLedgerOptions, 'store'> & { timeoutMs?: number; replicas?: number }): BudgetLedger {
    return new BudgetLedger({ ...opts, store: new NatsBudgetLedgerStore(nc, cluster, { timeoutMs: opts.timeoutMs, replicas: opts.replicas }) });
  }

  /**
   * Reserves `estimate` in every budget, all or nothing: budgets are taken in id order (two calls sharing
   * budgets never hold each other's halves in opposite orders) and, on a refusal, what was taken is given back.
   */
  async reserve(budgets: readonly CompiledBudget[], estimate: Amount): Promise<ReserveResult> {
    if (budgets.length === 0) return { ok: true, reservation: NO_RESERVATION };
    if (this.#closed) return { ok: false, budget: budgets[0]!, retryAfterS: 1, unavailable: true };
    return await this.#track(this.#reserve(budgets, estimate));
  }

  async #reserve(budgets: readonly CompiledBudget[], estimate: Amount): Promise<ReserveResult> {
    const now = this.#now();
    const ordered = budgets.length === 1 ? budgets : [...new Map(budgets.map((b) => [b.id, b])).values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const amount = toLedger(estimate);
    const id = `${this.#nodeId}-${(++this.#seq).toString(36)}`;
    const held: Held[] = [];
    for (const budget of ordered) {
      const start = budgetPeriodStart(budget.period, now);
      const key = budgetLedgerKey(budget.id, start);
      const retryAfterS = Math.max(1, Math.ceil((budgetPeriodEnd(budget.period, start) - now) / 1000));
      let taken: boolean;
      try {
        taken = await this.#cas(budget.period, key, budget.id, start, (rec, at) => {
          let used = rec.spent;
          for (const r of rec.reservations) used = addAmounts(used, r.amount);
          if (!fits(budget, used, amount)) return null;
          rec.reservations.push({ id, amount, node: this.#nodeId, expires_at: at + this.#expiryMs });
          return rec;
        });
      } catch (err) {
        await this.#giveBack(held, id);
        // A retry may succeed at once (NATS back, contention over): not the period's end.
        return { ok: false, budget, retryAfterS: 1, unavailable: true };
      }
      if (!taken) {
        await this.#giveBack(held, id);
        return { ok: false, budget, retryAfterS };
      }
      held.push({ budget, key });
    }
    return { ok: true, reservation: this.#handle(held, id) };
  }

  #handle(held: readonly Held[], id: string): Reservation {
    let done = false;
    return {
      settle: async (actual) => {
        if (done) return;
        done = true;
        const amount = toLedger(actual);
        // Spending is recorded even when the reservation is gone (expired, or taken back): the call happened.
        await this.#track(
          this.#each(held, (h) =>
            this.#cas(h.budget.period, h.key, h.budget.id, startOfKey(h.key), (rec) => {
              rec.reservations = rec.reservations.filter((r) => r.id !== id);
              rec.spent = addAmounts(rec.spent, amount);
              return rec;
            }),
          ),
        );
      },
      release: async () => {
        if (done) return;
        done = true;
        await this.#track(this.#giveBack(held, id, true));
      },
    };
  }

  /** Removes reservation `id` from each held key (best effort after a refusal: an expiry reclaims what fails). */
  async #giveBack(held: readonly Held[], id: string, rethrow = false): Promise<void> {
    const p = this.#each(held, (h) =>
      this.#cas(h.budget.period, h.key, h.budget.id, startOfKey(h.key), (rec) => {
        const before = rec.reservations.length;
        rec.reservations = rec.reservations.filter((r) => r.id !== id);
        return rec.reservations.length === before ? null : rec;
      }),
    );
    if (rethrow) await p;
    else await p.catch(() => undefined);
  }

  /** Runs `fn` for every held key at once; rejects with the first failure after all have finished. */
  async #each(held: readonly Held[], fn: (h: Held) => Promise<unknown>): Promise<void> {
    const results = await Promise.allSettled(held.map(fn));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /**
   * Read, change, write-if-unchanged, until the write lands. `change` gets the record with expired
   * reservations already dropped and returns it changed, or null to leave the key as it is (the result
   * is then false). Store errors (NATS unreachable) propagate; losing past the deadline throws LedgerContention.
   */
  async #cas(period: AiBudgetPeriod, key: string, budgetId: string, start: number, change: (rec: LedgerRecord, now: number) => LedgerRecord | null): Promise<boolean> {
    const deadline = performance.now() + this.#deadlineMs;
    for (let attempt = 0; ; attempt++) {
      const entry = await this.#store.get(period, key);
      const now = this.#now();
      const rec = (entry.value === null ? null : parseLedgerRecord(entry.value)) ?? emptyLedgerRecord(budgetId, period, start);
      rec.reservations = rec.reservations.filter((r) => r.expires_at > now);
      const next = change(rec, now);
      if (next === null) return false;
      if (await this.#store.putIf(period, key, JSON.stringify(next), entry.revision)) return true;
      if (performance.now() >= deadline) throw new LedgerContention(key);
      // Full jitter: contenders spread out instead of colliding again on the next round trip.
      await sleep(this.#random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 10)));
    }
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inflight.add(p);
    void p.finally(() => this.#inflight.delete(p)).catch(() => undefined);
    return p;
  }

  /** Refuses new reservations (answered unavailable) and waits for the ledger writes in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#inflight]);
  }
}

/** The period start encoded in a ledger key (`<budget id>.<start ms>`). */
function startOfKey(key: string): number {
  return Number(key.slice(key.lastIndexOf('.') + 1));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
