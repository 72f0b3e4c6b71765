// The one way admin state is written. Config writes: a transaction that bumps config_revision (its row
// lock orders every write, so revisions commit strictly in order), runs the change, and records one
// outbox row per entity touched, whose payload is the data-plane envelope. A create with an idempotency
// key also stores its response here, so the entity and the key commit (or roll back) together. Every
// write — config or not (tenants, users, tokens) — records its audit rows in the same transaction.
import type { TransactionSql } from 'postgres';
import type { ConfigEnvelope, EntityByKind, EntityKind } from '@turnpike/common';
import { authOf, type ServiceContext } from './context.js';
import { assertKeyUnused, storeResponse } from './idempotency.js';
import { jsonb } from './checks.js';

export type OutboxEvent = {
  [K in EntityKind]: { kind: K; id: string; op: 'put'; data: EntityByKind[K] } | { kind: K; id: string; op: 'del' };
}[EntityKind];

/** One audited change. `before`/`after` must hold no secrets (callers pass the public shape). */
export interface AuditEvent {
  action: 'create' | 'update' | 'delete';
  resource: string;
  id: string;
  before?: object | null | undefined;
  after?: object | null | undefined;
  /** Tenant the change belongs to (default: the request's tenant). */
  tenantId?: string | null | undefined;
}

export interface AdminWriteScope {
  tx: TransactionSql;
  /** The write's timestamp (one per transaction). */
  now: Date;
  audit(ev: AuditEvent): void;
}

export interface WriteScope extends AdminWriteScope {
  revision: number;
  emit(ev: OutboxEvent): void;
}

/**
 * The audit rows' INSERTs, not yet sent. postgres.js sends a query when it is awaited and pipelines the queries
 * of one transaction, so awaiting them together (with the outbox rows) costs one round trip to PostgreSQL
 * while the config_revision row lock is held, rather than one per row. Sent in array order.
 */
function auditInserts(ctx: ServiceContext, tx: TransactionSql, now: Date, events: AuditEvent[]) {
  const auth = authOf(ctx);
  return events.map((ev) => {
    const tenant = ev.tenantId === undefined ? auth.tenantId : ev.tenantId;
    return tx`INSERT INTO audit_log (at, tenant_id, actor_token_id, actor_user_id, action, resource_type, resource_id, before, after, request_id)
      VALUES (${now}, ${tenant}, ${auth.principal.tokenId}, ${auth.principal.userId}, ${ev.action}, ${ev.resource}, ${ev.id},
              ${ev.before ? jsonb(tx, ev.before) : null}, ${ev.after ? jsonb(tx, ev.after) : null}, ${ctx.requestId ?? null})`;
  });
}

export async function writeConfig<T>(ctx: ServiceContext, fn: (w: WriteScope) => Promise<T>): Promise<T> {
  const result = await ctx.sql.begin(async (tx) => {
    const [row] = await tx<{ revision: string; now: Date }[]>`
      UPDATE config_revision SET revision = revision + 1 RETURNING revision, now() AS now`;
    const revision = Number(row!.revision);
    const idem = ctx.idempotency;
    if (idem) await assertKeyUnused(tx, idem.request);
    const events: OutboxEvent[] = [];
    const audits: AuditEvent[] = [];
    const out = await fn({ tx, revision, now: row!.now, emit: (ev) => events.push(ev), audit: (ev) => audits.push(ev) });
    if (idem) await storeResponse(tx, idem.request, idem.respond(out));
    const outbox = events.map((ev) => {
      const payload = ev.op === 'put' ? ({ kind: ev.kind, revision, data: ev.data } as ConfigEnvelope) : null;
      return tx`INSERT INTO outbox (revision, kind, entity_id, op, payload)
        VALUES (${revision}, ${ev.kind}, ${ev.id}, ${ev.op}, ${payload === null ? null : tx.json(payload as never)})`;
    });
    // Outbox rows in event order (their seq orders the publisher), then the audit rows: one round trip.
    await Promise.all([...outbox, ...auditInserts(ctx, tx, row!.now, audits)]);
    return out;
  });
  ctx.onCommit();
  return result as T;
}

/** Writes that the data plane never sees (tenants, users, memberships, admin tokens): audited, no revision. */
export async function writeAdmin<T>(ctx: ServiceContext, fn: (w: AdminWriteScope) => Promise<T>): Promise<T> {
  const result = await ctx.sql.begin(async (tx) => {
    const [row] = await tx<{ now: Date }[]>`SELECT now() AS now`;
    const idem = ctx.idempotency;
    if (idem) await assertKeyUnused(tx, idem.request);
    const audits: AuditEvent[] = [];
    const out = await fn({ tx, now: row!.now, audit: (ev) => audits.push(ev) });
    if (idem) await storeResponse(tx, idem.request, idem.respond(out));
    await Promise.all(auditInserts(ctx, tx, row!.now, audits));
    return out;
  });
  return result as T;
}
