// Drains unpublished outbox rows, in revision order, into the ConfigBus: entity puts/deletes, then
// `meta.revision`; rows are marked published in the same transaction. Runs right after each committed
// write (notify), on a poll, and at start; bus errors are retried with backoff and never crash the process.
// The backoff paces the poll and the retry timer only: a committed write always tries at once, so the first
// change after PostgreSQL or NATS come back is published right away, not when the backoff runs out.
import type { Sql, TransactionSql } from 'postgres';
import { META_REVISION_KEY, entityKey, type ConfigBus, type EntityKind } from '@turnpike/common';
import type { Logger } from '../log.js';
import { withBusLock } from './bus-lock.js';
import { MirrorStaleError, reconcile, type ReconcileReport } from './reconciler.js';
import { BusMirror } from './bus-mirror.js';
import type { ConditionalWrites } from './conditional-writes.js';

export interface OutboxPublisherOptions {
  pollIntervalMs?: number;
  reconcileIntervalMs?: number;
  batchSize?: number;
  maxBackoffMs?: number;
  /**
   * Compare-and-set writes to the bus's bucket. With them the reconciler runs beside the publisher (no bus
   * lock, no wait for drains in this process); without them it takes turns with publishing under the lock.
   */
  writes?: ConditionalWrites | undefined;
}

interface OutboxRow {
  id: string;
  revision: string;
  kind: EntityKind;
  entity_id: string;
  op: 'put' | 'del';
  payload: unknown;
}

/** Publishes one batch; returns how many rows it published, or null when another control plane holds the lock. */
export async function publishBatch(sql: Sql, bus: ConfigBus, batchSize: number): Promise<{ rows: number; revision: number | null } | null> {
  const res = await withBusLock(sql, async (tx: TransactionSql) => {
    const rows = await tx<OutboxRow[]>`
      SELECT id, revision, kind, entity_id, op, payload FROM outbox
      WHERE published_at IS NULL ORDER BY revision, id LIMIT ${batchSize}`;
    if (rows.length === 0) return { rows: 0, revision: null };
    const full = rows.length < batchSize;
    const lastRevision = Number(rows[rows.length - 1]!.revision);
    let published: number | null = null;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      const key = entityKey(r.kind, r.entity_id);
      if (r.op === 'put') await bus.put(key, JSON.stringify(r.payload));
      else await bus.delete(key);
      const rev = Number(r.revision);
      const next = rows[i + 1];
      // A revision is complete when the batch moves past it (or holds everything there was).
      const revisionDone = next ? Number(next.revision) !== rev : full || rev !== lastRevision;
      if (revisionDone) {
        await bus.put(META_REVISION_KEY, JSON.stringify({ revision: rev }));
        published = rev;
      }
    }
    await tx`UPDATE outbox SET published_at = now() WHERE id IN ${tx(rows.map((r) => r.id))}`;
    return { rows: rows.length, revision: published };
  });
  return res.locked ? res.value : null;
}

export class OutboxPublisher {
  readonly #sql: Sql;
  readonly #bus: ConfigBus;
  readonly #log: Logger;
  readonly #pollMs: number;
  readonly #reconcileMs: number;
  readonly #batch: number;
  readonly #maxBackoffMs: number;

  /** Serializes drains and reconciliations in this process. */
  #chain: Promise<unknown> = Promise.resolve();
  #draining = false;
  #again = false;
  #failures = 0;
  #retryAt = 0;
  #pollTimer: NodeJS.Timeout | undefined;
  #reconcileTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #lastPublished: number | null = null;
  readonly #writes: ConditionalWrites | undefined;
  /** The reconcile running beside the publisher, if any (one at a time per process). */
  #reconciling: Promise<ReconcileReport> | null = null;
  /** The reconciler's view of the bucket (started by the first reconcile beside the publisher). */
  #mirror: BusMirror | null = null;

  constructor(sql: Sql, bus: ConfigBus, log: Logger, opts: OutboxPublisherOptions = {}) {
    this.#sql = sql;
    this.#bus = bus;
    this.#log = log;
    this.#pollMs = opts.pollIntervalMs ?? 1_000;
    this.#reconcileMs = opts.reconcileIntervalMs ?? 60_000;
    this.#batch = opts.batchSize ?? 500;
    this.#maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.#writes = opts.writes;
  }

  /** Drains and reconciles once (failures are logged and retried later), then starts the timers. */
  async start(): Promise<void> {
    await this.drain();
    await this.reconcile().catch(() => undefined);
    this.#pollTimer = setInterval(() => this.#poll(), this.#pollMs);
    this.#pollTimer.unref();
    this.#reconcileTimer = setInterval(() => void this.reconcile().catch(() => undefined), this.#reconcileMs);
    this.#reconcileTimer.unref();
  }

  /** Asks for a drain now (called after every committed write), backoff or not; cheap and never throws. */
  notify(): void {
    if (this.#stopped) return;
    if (this.#draining) {
      this.#again = true;
      return;
    }
    void this.drain();
  }

  /** The poll's and the retry timer's drain: waits out the backoff after failures. */
  #poll(): void {
    if (Date.now() < this.#retryAt) return;
    this.notify();
  }

  /** Last revision this process published to meta.revision (null before the first). */
  get lastPublishedRevision(): number | null {
    return this.#lastPublished;
  }

  /** Drains everything unpublished; resolves when done or after a logged failure (never rejects). */
  async drain(): Promise<void> {
    await this.#serial(async () => {
      this.#draining = true;
      try {
        do {
          this.#again = false;
          for (;;) {
            if (this.#stopped) return;
            const res = await publishBatch(this.#sql, this.#bus, this.#batch);
            if (!res) break; // another control plane is publishing
            if (res.revision !== null) {
              this.#lastPublished = res.revision;
              this.#log('config_published', { revision: res.revision, rows: res.rows });
            }
            if (res.rows < this.#batch) break;
          }
        } while (this.#again);
        if (this.#failures > 0) this.#log('config_publish_recovered', { after_failures: this.#failures });
        this.#failures = 0;
        this.#retryAt = 0;
      } catch (err) {
        this.#failures++;
        const delay = Math.min(this.#maxBackoffMs, 100 * 2 ** Math.min(this.#failures, 10));
        this.#retryAt = Date.now() + delay;
        this.#log('config_publish_failed', { error: String(err), failures: this.#failures, retry_in_ms: delay });
        clearTimeout(this.#retryTimer);
        // A write committed during the failed attempt gets one try of its own at once.
        const woken = this.#again;
        this.#retryTimer = setTimeout(() => (woken ? this.notify() : this.#poll()), woken ? 0 : delay);
        this.#retryTimer.unref();
      } finally {
        this.#draining = false;
      }
    });
  }

  /** Drains, then repairs bus drift against Postgres. Rejects on failure (callers decide). */
  async reconcile(): Promise<ReconcileReport> {
    await this.drain();
    const run = async (): Promise<ReconcileReport> => {
      try {
        const report = await this.#reconcileOnce();
        if (report.put > 0 || report.deleted > 0 || (report.conflicts ?? 0) > 0) this.#log('config_reconciled', { ...report });
        return report;
      } catch (err) {
        this.#log('config_reconcile_failed', { error: String(err) });
        throw err;
      }
    };
    if (!this.#writes) return await this.#serial(run);
    // Compare-and-set repairs cannot overwrite what the publisher writes meanwhile: drains go on.
    if (this.#reconciling) return await this.#reconciling;
    const p = run();
    this.#reconciling = p;
    try {
      return await p;
    } finally {
      this.#reconciling = null;
    }
  }

  async #reconcileOnce(): Promise<ReconcileReport> {
    const writes = this.#writes;
    if (!writes) return await reconcile(this.#sql, this.#bus);
    for (let attempt = 0; ; attempt++) {
      this.#mirror ??= await BusMirror.start(this.#bus);
      try {
        return await reconcile(this.#sql, this.#bus, { writes, mirror: this.#mirror });
      } catch (err) {
        if (!(err instanceof MirrorStaleError) || attempt > 0) throw err;
        // The bucket was emptied or re-created, or the watch fell behind: read it afresh once.
        this.#log('config_mirror_restarted', { reason: err.message });
        const old = this.#mirror;
        this.#mirror = null;
        await old.stop().catch(() => undefined);
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#pollTimer);
    clearInterval(this.#reconcileTimer);
    clearTimeout(this.#retryTimer);
    await this.#chain.catch(() => undefined);
    await this.#reconciling?.catch(() => undefined);
    await this.#mirror?.stop().catch(() => undefined);
    this.#mirror = null;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => undefined);
    return run;
  }
}
