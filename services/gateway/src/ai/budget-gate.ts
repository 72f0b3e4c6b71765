// How a proxy thread reaches the node's budget ledger (ai/budget-ledger.ts). The ledger lives where the
// node's NATS connection is, the primary thread; a worker thread asks it over its MessagePort: one request
// per AI call to reserve and one to settle or release. AI calls are few and slow next to proxied requests,
// so this is the one per-call message between threads (call records and rate-limit counters are batched).
import type { NatsConnection } from '@nats-io/transport-node';
import { RelayRequests } from '../node/relay-requests.js';
import { BudgetLedger, type Amount, type CompiledBudget, type Reservation, type ReserveResult } from './budget-ledger.js';

/** What the AI runtime needs of a ledger: BudgetLedger itself in the primary, RelayedBudgetGate in workers. */
export interface BudgetGate {
  reserve(budgets: readonly CompiledBudget[], estimate: Amount): Promise<ReserveResult>;
}

export type BudgetRequest =
  | { op: 'reserve'; id: number; budgets: CompiledBudget[]; estimate: Amount }
  | { op: 'settle'; rid: number; actual: Amount }
  | { op: 'release'; rid: number };

/** The answer to a `reserve`: `rid` names the reservation in the primary (0: refused). */
export interface BudgetReply {
  id: number;
  ok: boolean;
  rid: number;
  budgetId: string | null;
  retryAfterS: number;
  unavailable: boolean;
}

/** A reply that does not come in this long counts as an unavailable ledger (the call is answered 503). */
const REPLY_TIMEOUT_MS = 5_000;

/** An unavailable ledger's answer: no reply in time, or no primary to ask. */
const UNAVAILABLE = (): BudgetReply => ({ id: 0, ok: false, rid: 0, budgetId: null, retryAfterS: 1, unavailable: true });

/** Worker side: reservations made by the primary's ledger. */
export class RelayedBudgetGate implements BudgetGate {
  readonly #relay: RelayRequests<{ budgets: CompiledBudget[]; estimate: Amount }, BudgetReply>;

  constructor(private readonly send: (m: BudgetRequest) => void) {
    this.#relay = new RelayRequests((id, m) => send({ op: 'reserve', id, ...m }), { timeoutMs: REPLY_TIMEOUT_MS, timedOut: UNAVAILABLE, gone: UNAVAILABLE });
  }

  reserve(budgets: readonly CompiledBudget[], estimate: Amount): Promise<ReserveResult> {
    if (budgets.length === 0) return Promise.resolve({ ok: true, reservation: NOOP });
    return this.#relay.request({ budgets: [...budgets], estimate }).then((r): ReserveResult => {
      if (r.ok) return { ok: true, reservation: this.#reservation(r.rid) };
      const budget = budgets.find((b) => b.id === r.budgetId) ?? budgets[0]!;
      return r.unavailable ? { ok: false, budget, retryAfterS: r.retryAfterS, unavailable: true } : { ok: false, budget, retryAfterS: r.retryAfterS };
    });
  }

  /** The primary's answer to a `reserve` (one that timed out already is dropped: what the primary reserved expires in the ledger). */
  deliver(r: BudgetReply): void {
    this.#relay.deliver(r.id, r);
  }

  #reservation(rid: number): Reservation {
    return {
      settle: async (actual) => this.send({ op: 'settle', rid, actual }),
      release: async () => this.send({ op: 'release', rid }),
    };
  }
}

const NOOP: Reservation = { settle: async () => undefined, release: async () => undefined };

/** Primary side: serves one worker's requests with the node's ledger, keeping its open reservations. */
export class BudgetGateServer {
  #seq = 0;
  readonly #open = new Map<number, Reservation>();

  constructor(
    private readonly gate: () => BudgetGate | null,
    private reply: (r: BudgetReply) => void,
  ) {}

  /** `reply`: the current worker's channel (a restarted worker has a new one). */
  handle(m: BudgetRequest, reply?: (r: BudgetReply) => void): void {
    if (reply !== undefined) this.reply = reply;
    if (m.op === 'reserve') {
      const gate = this.gate();
      if (gate === null) return this.reply({ id: m.id, ok: false, rid: 0, budgetId: m.budgets[0]?.id ?? null, retryAfterS: 1, unavailable: true });
      gate.reserve(m.budgets, m.estimate).then(
        (r) => {
          if (!r.ok) return this.reply({ id: m.id, ok: false, rid: 0, budgetId: r.budget.id, retryAfterS: r.retryAfterS, unavailable: r.unavailable === true });
          const rid = ++this.#seq;
          this.#open.set(rid, r.reservation);
          this.reply({ id: m.id, ok: true, rid, budgetId: null, retryAfterS: 0, unavailable: false });
        },
        () => this.reply({ id: m.id, ok: false, rid: 0, budgetId: m.budgets[0]?.id ?? null, retryAfterS: 1, unavailable: true }),
      );
      return;
    }
    const res = this.#open.get(m.rid);
    if (res === undefined) return;
    this.#open.delete(m.rid);
    void (m.op === 'settle' ? res.settle(m.actual) : res.release()).catch(() => undefined);
  }

  /** The worker is gone: its calls will never settle; give their reservations back. */
  releaseAll(): void {
    for (const r of this.#open.values()) void r.release().catch(() => undefined);
    this.#open.clear();
  }
}

/**
 * The primary thread's ledger over the node's NATS connection, opened on first use and again when the
 * connection object changes; without a connection the ledger is unavailable (the call is answered 503).
 */
export class NatsBudgetGate implements BudgetGate {
  #nc: NatsConnection | undefined = undefined;
  #ledger: BudgetLedger | null = null;

  constructor(
    private readonly connection: () => NatsConnection | undefined,
    private readonly cluster: string,
    private readonly opts: { nodeId: string; reservationExpiryMs?: number; replicas?: number },
  ) {}

  reserve(budgets: readonly CompiledBudget[], estimate: Amount): Promise<ReserveResult> {
    const nc = this.connection();
    if (nc === undefined || nc.isClosed()) return Promise.resolve({ ok: false, budget: budgets[0]!, retryAfterS: 1, unavailable: true });
    if (this.#ledger === null || nc !== this.#nc) {
      void this.#ledger?.close().catch(() => undefined);
      this.#nc = nc;
      this.#ledger = BudgetLedger.overNats(nc, this.cluster, this.opts);
    }
    return this.#ledger.reserve(budgets, estimate);
  }

  async close(): Promise<void> {
    await this.#ledger?.close();
    this.#ledger = null;
  }
}
