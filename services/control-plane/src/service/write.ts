// The one way config is written: a transaction that bumps config_revision (its row lock orders every
// write, so revisions commit strictly in order), runs the change, and records one outbox row per entity
// touched, whose payload is the data-plane envelope. A create with an idempotency key also stores its
// response here, so the entity and the key commit (or roll back) together.
import type { TransactionSql } from 'postgres';
import type { ConfigEnvelope, EntityByKind, EntityKind } from '@turnpike/common';
import type { ServiceContext } from './context.js';
import { assertKeyUnused, storeResponse } from './idempotency.js';

export type OutboxEvent = {
  [K in EntityKind]: { kind: K; id: string; op: 'put'; data: EntityByKind[K] } | { kind: K; id: string; op: 'del' };
}[EntityKind];

export interface WriteScope {
  tx: TransactionSql;
  revision: number;
  /** The write's timestamp (one per transaction). */
  now: Date;
  emit(ev: OutboxEvent): void;
}

export async function writeConfig<T>(ctx: ServiceContext, fn: (w: WriteScope) => Promise<T>): Promise<T> {
  const result = await ctx.sql.begin(async (tx) => {
    const [row] = await tx<{ revision: string; now: Date }[]>`
      UPDATE config_revision SET revision = revision + 1 RETURNING revision, now() AS now`;
    const revision = Number(row!.revision);
    const idem = ctx.idempotency;
    if (idem) await assertKeyUnused(tx, idem.request);
    const events: OutboxEvent[] = [];
    const out = await fn({ tx, revision, now: row!.now, emit: (ev) => events.push(ev) });
    if (idem) await storeResponse(tx, idem.request, idem.respond(out));
    for (const ev of events) {
      const payload = ev.op === 'put' ? ({ kind: ev.kind, revision, data: ev.data } as ConfigEnvelope) : null;
      await tx`INSERT INTO outbox (revision, kind, entity_id, op, payload)
        VALUES (${revision}, ${ev.kind}, ${ev.id}, ${ev.op}, ${payload === null ? null : tx.json(payload as never)})`;
    }
    return out;
  });
  ctx.onCommit();
  return result as T;
}
