// Where the AI budget ledger lives: compare-and-set reads and writes of ledger keys. NATS JetStream KV in a
// cluster (every node and the control plane see the same keys); the interface lets tests and the embedded
// all-in-one put another store behind the same ledger logic.
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { AiBudgetPeriod } from '../schemas/ai-budget.js';
import { BUDGET_BUCKET_MAX_AGE_MS, budgetBucketName } from './ledger-record.js';

export interface LedgerEntry {
  /** null when the key does not exist (never written, or aged out). */
  value: string | null;
  /** The key's last revision; 0 when it has none. A write must name it. */
  revision: number;
}

export interface BudgetLedgerStore {
  get(period: AiBudgetPeriod, key: string): Promise<LedgerEntry>;
  /** Writes only if the key's last revision is still `revision` (0: absent); false when another writer got there first. */
  putIf(period: AiBudgetPeriod, key: string, value: string, revision: number): Promise<boolean>;
}

/** JetStream's "wrong last sequence" (10071) and its variant for an unknown last sequence (10164). */
const CAS_FAILED = new Set([10071, 10164]);

/**
 * The ledger in NATS KV: one bucket per period length (budgetBucketName), opened — and created when
 * absent — on first use, so nothing has to exist before a node starts. Every call is bounded by
 * `timeoutMs`: while NATS is unreachable they fail after that long instead of queueing.
 */
export class NatsBudgetLedgerStore implements BudgetLedgerStore {
  readonly #nc: NatsConnection;
  readonly #cluster: string;
  readonly #timeoutMs: number;
  /** Copies of a bucket this store creates (TP_NATS_REPLICAS); existing buckets keep theirs. */
  readonly #replicas: number;
  readonly #buckets = new Map<AiBudgetPeriod, Promise<KV>>();

  constructor(nc: NatsConnection, cluster: string, opts: { timeoutMs?: number; replicas?: number } = {}) {
    this.#nc = nc;
    this.#cluster = cluster;
    this.#timeoutMs = opts.timeoutMs ?? 1_000;
    this.#replicas = opts.replicas ?? 1;
  }

  #bucket(period: AiBudgetPeriod): Promise<KV> {
    let p = this.#buckets.get(period);
    if (!p) {
      p = this.#open(period);
      this.#buckets.set(period, p);
      // A failed open (NATS down) is retried by the next call, not cached.
      p.catch(() => this.#buckets.delete(period));
    }
    return p;
  }

  async #open(period: AiBudgetPeriod): Promise<KV> {
    const kvm = new Kvm(jetstream(this.#nc, { timeout: this.#timeoutMs }));
    const name = budgetBucketName(this.#cluster, period);
    try {
      return await kvm.create(name, { history: 1, ttl: BUDGET_BUCKET_MAX_AGE_MS[period], replicas: this.#replicas });
    } catch (err) {
      // Created elsewhere with other settings (an operator changed max age): use it as it is.
      if (/different configuration|already in use/i.test(String(err))) return await kvm.open(name);
      throw err;
    }
  }

  async get(period: AiBudgetPeriod, key: string): Promise<LedgerEntry> {
    const kv = await this.#bucket(period);
    const e = await kv.get(key);
    if (!e) return { value: null, revision: 0 };
    return { value: e.operation === 'PUT' ? e.string() : null, revision: e.revision };
  }

  async putIf(period: AiBudgetPeriod, key: string, value: string, revision: number): Promise<boolean> {
    const kv = await this.#bucket(period);
    try {
      await kv.put(key, value, { previousSeq: revision, timeout: this.#timeoutMs });
      return true;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'number' && CAS_FAILED.has(code)) return false;
      throw err;
    }
  }
}

/**
 * The ledger in this process's memory, for the embedded all-in-one (`turnpike up`: one node, no NATS),
 * where the control plane and the node share the instance. Same compare-and-set contract as NATS KV:
 * revisions grow per store, a key aged out (the bucket's max age since its last write) is absent again.
 */
export class InMemoryBudgetLedgerStore implements BudgetLedgerStore {
  readonly #keys = new Map<string, { value: string; revision: number; writtenAt: number; period: AiBudgetPeriod }>();
  readonly #now: () => number;
  #revision = 0;

  constructor(opts: { now?: () => number } = {}) {
    this.#now = opts.now ?? Date.now;
  }

  async get(period: AiBudgetPeriod, key: string): Promise<LedgerEntry> {
    const e = this.#keys.get(`${period}:${key}`);
    if (!e || this.#now() - e.writtenAt > BUDGET_BUCKET_MAX_AGE_MS[period]) return { value: null, revision: e?.revision ?? 0 };
    return { value: e.value, revision: e.revision };
  }

  async putIf(period: AiBudgetPeriod, key: string, value: string, revision: number): Promise<boolean> {
    const k = `${period}:${key}`;
    if ((this.#keys.get(k)?.revision ?? 0) !== revision) return false;
    this.#keys.set(k, { value, revision: ++this.#revision, writtenAt: this.#now(), period });
    // Now and then drop what aged out, so a long-running process does not keep every minute's key.
    if (this.#revision % 1024 === 0) {
      const now = this.#now();
      for (const [name, e] of this.#keys) if (now - e.writtenAt > BUDGET_BUCKET_MAX_AGE_MS[e.period]) this.#keys.delete(name);
    }
    return true;
  }
}
