// Consumers: the callers of services; they own credentials (API keys). Deleting one deletes its keys.
import { randomUUID } from 'node:crypto';
import type { TransactionSql } from 'postgres';
import { ConsumerCreate, ConsumerUpdate, TurnpikeError, type Consumer } from '@turnpike/common';
import { parse } from '../validation/validator.js';
import { assertUnique, iso, jsonb } from './checks.js';
import { authorize } from './access.js';
import { authOf, type ServiceContext } from './context.js';
import { notFound, requireId } from './ids.js';
import { selectPage, toPage, type ListOptions, type Page } from './pagination.js';
import { checkVersion, withVersion, type WriteOptions } from './versions.js';
import { writeConfig } from './write.js';
import { toApiKey, type ApiKeyRow } from './api-keys.js';
import { releaseReferences } from '../resources/store.js';

function normalizeGroups(ids: readonly string[]): string[] {
  return [...new Set(ids.map((g) => g.toLowerCase()))];
}

/** 422 naming `/group_ids/N` for a group that does not exist in the tenant. */
async function assertGroups(tx: TransactionSql, ids: readonly string[], tenantId: string): Promise<void> {
  if (ids.length === 0) return;
  const found = await tx<{ id: string }[]>`
    SELECT id FROM resources WHERE tenant_id = ${tenantId} AND kind = 'consumer_groups' AND id IN ${tx(ids as string[])} FOR KEY SHARE`;
  const have = new Set(found.map((r) => r.id));
  const fields = ids.flatMap((g, i) => (have.has(g) ? [] : [{ path: `/group_ids/${i}`, message: `consumer group ${g} does not exist` }]));
  if (fields.length > 0) throw new TurnpikeError('TP_ERR_UNPROCESSABLE', fields.map((f) => f.message).join('; '), fields);
}

export interface ConsumerRow {
  id: string;
  seq: string;
  username: string;
  custom_id: string | null;
  tags: string[];
  group_ids: string[];
  revision: string;
  version: string;
  created_at: Date;
  updated_at: Date;
}

export function toConsumer(r: ConsumerRow): Consumer {
  const c: Consumer = { id: r.id, username: r.username, tags: r.tags, group_ids: r.group_ids ?? [], created_at: iso(r.created_at), updated_at: iso(r.updated_at) };
  if (r.custom_id !== null) c.custom_id = r.custom_id;
  return c;
}

export async function createConsumer(ctx: ServiceContext, input: unknown): Promise<Consumer> {
  const t = authorize(authOf(ctx), 'consumers', 'write');
  const b = parse(ConsumerCreate, input, { defaults: true });
  return await writeConfig(ctx, async (w) => {
    await assertUnique(w.tx, 'consumers', 'username', b.username, null, 'consumer', t);
    if (b.custom_id !== undefined) await assertUnique(w.tx, 'consumers', 'custom_id', b.custom_id, null, 'consumer', t);
    const groups = normalizeGroups(b.group_ids ?? []);
    await assertGroups(w.tx, groups, t);
    const [row] = await w.tx<ConsumerRow[]>`
      INSERT INTO consumers (id, tenant_id, username, custom_id, tags, group_ids, revision, created_at, updated_at)
      VALUES (${randomUUID()}, ${t}, ${b.username}, ${b.custom_id ?? null}, ${jsonb(w.tx, b.tags ?? [])}, ${jsonb(w.tx, groups)}, ${w.revision}, ${w.now}, ${w.now})
      RETURNING *`;
    const c = toConsumer(row!);
    w.emit({ kind: 'consumers', id: c.id, op: 'put', data: c });
    w.audit({ action: 'create', resource: 'consumers', id: c.id, after: c });
    return withVersion(c, row!.version);
  });
}

export async function getConsumer(ctx: ServiceContext, id: string): Promise<Consumer> {
  const t = authorize(authOf(ctx), 'consumers', 'read');
  const cid = requireId('consumer', id);
  const [row] = await ctx.sql<ConsumerRow[]>`SELECT * FROM consumers WHERE id = ${cid} AND tenant_id = ${t}`;
  if (!row) throw notFound('consumer', id);
  return withVersion(toConsumer(row), row.version);
}

export async function listConsumers(ctx: ServiceContext, opts?: ListOptions): Promise<Page<Consumer>> {
  const t = authorize(authOf(ctx), 'consumers', 'read');
  const { rows, q } = await selectPage<ConsumerRow>(ctx.sql, 'consumers', 'username', opts, t);
  return toPage(rows, q, toConsumer);
}

export async function updateConsumer(
  ctx: ServiceContext,
  id: string,
  input: unknown,
  mode: 'patch' | 'replace' = 'patch',
  opts?: WriteOptions,
): Promise<Consumer> {
  const t = authorize(authOf(ctx), 'consumers', 'write');
  const cid = requireId('consumer', id);
  const b = mode === 'patch' ? parse(ConsumerUpdate, input, { defaults: false }) : parse(ConsumerCreate, input, { defaults: true });
  return await writeConfig(ctx, async (w) => {
    const [cur] = await w.tx<ConsumerRow[]>`SELECT * FROM consumers WHERE id = ${cid} AND tenant_id = ${t} FOR UPDATE`;
    if (!cur) throw notFound('consumer', id);
    checkVersion(cur.version, opts, 'consumer', id);
    const username = b.username ?? cur.username;
    // A full replacement without custom_id clears it; a patch keeps it unless given.
    const customId = b.custom_id ?? (mode === 'patch' ? cur.custom_id : null);
    const tags = b.tags ?? (mode === 'patch' ? cur.tags : []);
    const groups = normalizeGroups(b.group_ids ?? (mode === 'patch' ? cur.group_ids : []));
    await assertGroups(w.tx, groups, t);
    if (username !== cur.username) await assertUnique(w.tx, 'consumers', 'username', username, cid, 'consumer', t);
    if (customId !== null && customId !== cur.custom_id) await assertUnique(w.tx, 'consumers', 'custom_id', customId, cid, 'consumer', t);
    const [row] = await w.tx<ConsumerRow[]>`
      UPDATE consumers SET username = ${username}, custom_id = ${customId}, tags = ${jsonb(w.tx, tags)}, group_ids = ${jsonb(w.tx, groups)},
        revision = ${w.revision}, updated_at = ${w.now}, version = version + 1
      WHERE id = ${cid} RETURNING *`;
    const c = toConsumer(row!);
    w.emit({ kind: 'consumers', id: c.id, op: 'put', data: c });
    w.audit({ action: 'update', resource: 'consumers', id: c.id, before: toConsumer(cur), after: c });
    return withVersion(c, row!.version);
  });
}

/** Deletes the consumer and its API keys, each key published as its own delete. */
export async function deleteConsumer(ctx: ServiceContext, id: string, opts?: WriteOptions): Promise<void> {
  const t = authorize(authOf(ctx), 'consumers', 'write');
  const cid = requireId('consumer', id);
  await writeConfig(ctx, async (w) => {
    const [cur] = await w.tx<ConsumerRow[]>`SELECT * FROM consumers WHERE id = ${cid} AND tenant_id = ${t} FOR UPDATE`;
    if (!cur) throw notFound('consumer', id);
    checkVersion(cur.version, opts, 'consumer', id);
    await releaseReferences(w, 'consumers', cid);
    const keys = await w.tx<ApiKeyRow[]>`DELETE FROM api_keys WHERE consumer_id = ${cid} RETURNING *`;
    for (const k of keys) {
      // What names the key (an AI budget) goes with it.
      await releaseReferences(w, 'keys', k.id);
      w.emit({ kind: 'keys', id: k.id, op: 'del' });
      w.audit({ action: 'delete', resource: 'keys', id: k.id, before: toApiKey(k) });
    }
    await w.tx`DELETE FROM consumers WHERE id = ${cid}`;
    w.emit({ kind: 'consumers', id: cid, op: 'del' });
    w.audit({ action: 'delete', resource: 'consumers', id: cid, before: toConsumer(cur) });
  });
}
