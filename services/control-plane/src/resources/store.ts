// The generic resource store: create, read, list, update, delete and actions for every kind described by
// a ResourceDef, with the same guarantees as the hand-written services (tenancy and RBAC, validation with
// field paths, unique names, checked references, optimistic concurrency, audit, outbox) from one code path.
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { TObject } from '@sinclair/typebox';
import type postgres from 'postgres';
import type { TransactionSql } from 'postgres';
import { TurnpikeError, type EntityKind, type FieldError } from '@turnpike/common';
import { parse } from '../validation/validator.js';
import { authorize, forbidden, roleIn, roleRank, type Resource } from '../service/access.js';
import { iso, jsonb } from '../service/checks.js';
import { authOf, type ServiceContext } from '../service/context.js';
import { notFound, requireId } from '../service/ids.js';
import { pageQuery, toPage, type ListOptions, type Page } from '../service/pagination.js';
import { checkVersion, withVersion, type WriteOptions } from '../service/versions.js';
import { writeConfig, type WriteScope } from '../service/write.js';
import type { Reference, ResourceDef, ResourceDoc, ResourceEntity, SecretMaterial, UniqueKey } from './definition.js';
import { defOf } from './registry.js';

export interface ResourceRow {
  id: string;
  seq: string;
  tenant_id: string;
  kind: string;
  name: string | null;
  parent_id: string | null;
  doc: ResourceDoc;
  material: SecretMaterial | null;
  revision: string;
  version: string;
  created_at: Date;
  updated_at: Date;
}

export function toEntity(r: Pick<ResourceRow, 'id' | 'doc' | 'created_at' | 'updated_at'>): ResourceEntity {
  return { id: r.id, ...r.doc, created_at: iso(r.created_at), updated_at: iso(r.updated_at) } as ResourceEntity;
}

/** The data-plane payload of a stored resource. */
export function dataPlaneOf(def: ResourceDef, r: Pick<ResourceRow, 'id' | 'doc' | 'material' | 'created_at' | 'updated_at'>): Record<string, unknown> & { id: string } {
  const e = toEntity(r);
  return def.dataPlane ? def.dataPlane(e, r.material) : e;
}

/** Fields of an object schema (the keys a create may carry). */
function fieldsOf(schema: unknown): string[] {
  return Object.keys((schema as TObject).properties ?? {});
}

function pick(doc: ResourceDoc, keys: readonly string[]): ResourceDoc {
  const out: ResourceDoc = {};
  for (const k of keys) if (doc[k] !== undefined) out[k] = doc[k];
  return out;
}

/** Fields the server keeps (status and the like): stored, returned, never taken from input. */
function managedFields(def: ResourceDef): string[] {
  const input = new Set([...fieldsOf(def.create), ...(def.parent ? [def.parent.field] : [])]);
  return fieldsOf(def.entity).filter((f) => !input.has(f) && f !== 'id' && f !== 'created_at' && f !== 'updated_at');
}

const CORE_TABLE: Partial<Record<EntityKind, string>> = { upstreams: 'upstreams', services: 'services', routes: 'routes', consumers: 'consumers', keys: 'api_keys' };

async function checkReferences(tx: TransactionSql, refs: readonly Reference[], tenantId: string): Promise<void> {
  const missing: FieldError[] = [];
  for (const ref of refs) {
    const table = CORE_TABLE[ref.kind];
    const rows = table
      ? await tx`SELECT id FROM ${tx(table)} WHERE id = ${ref.id} AND tenant_id = ${tenantId} FOR KEY SHARE`
      : await tx`SELECT id FROM resources WHERE id = ${ref.id} AND tenant_id = ${tenantId} AND kind = ${ref.kind} FOR KEY SHARE`;
    if (rows.length === 0) missing.push({ path: ref.field, message: `${singularOf(ref.kind)} ${ref.id} does not exist` });
  }
  if (missing.length > 0) {
    throw new TurnpikeError('TP_ERR_UNPROCESSABLE', missing.map((m) => `${m.path.slice(1)}: ${m.message}`).join('; '), missing);
  }
}

function singularOf(kind: EntityKind): string {
  const def = defOf(kind);
  if (def) return def.singular;
  return kind === 'keys' ? 'API key' : kind.slice(0, -1);
}

function uniqueKeyText(u: UniqueKey, tenantId: string): string {
  return `${u.scope === 'global' ? '*' : tenantId}:${u.namespace === undefined ? '' : `${u.namespace}:`}${u.value}`;
}

async function claimUniqueKeys(tx: TransactionSql, def: ResourceDef, doc: ResourceDoc, id: string, tenantId: string): Promise<void> {
  await tx`DELETE FROM resource_unique_keys WHERE resource_id = ${id}`;
  for (const u of def.unique?.(doc) ?? []) {
    const key = uniqueKeyText(u, tenantId);
    const taken = await tx`SELECT resource_id FROM resource_unique_keys WHERE kind = ${def.kind} AND unique_key = ${key}`;
    if (taken.length > 0) {
      throw new TurnpikeError('TP_ERR_CONFLICT', `${def.singular} with ${u.field.slice(1)} ${JSON.stringify(u.value)} already exists`, [
        { path: u.field, message: 'is already taken' },
      ]);
    }
    await tx`INSERT INTO resource_unique_keys (kind, unique_key, resource_id, field) VALUES (${def.kind}, ${key}, ${id}, ${u.field})`;
  }
}

function allReferences(def: ResourceDef, doc: ResourceDoc): Reference[] {
  const refs = def.references?.(doc) ?? [];
  if (def.parent) refs.unshift({ field: `/${def.parent.field}`, kind: def.parent.kind, id: String(doc[def.parent.field]), onDelete: 'cascade' });
  return refs;
}

async function storeReferences(tx: TransactionSql, id: string, refs: readonly Reference[]): Promise<void> {
  await tx`DELETE FROM resource_refs WHERE from_id = ${id}`;
  for (const r of refs) {
    await tx`INSERT INTO resource_refs (from_id, field, to_kind, to_id, on_delete) VALUES (${id}, ${r.field}, ${r.kind}, ${r.id}, ${r.onDelete})
      ON CONFLICT DO NOTHING`;
  }
}

function checkImmutable(def: ResourceDef, cur: ResourceDoc, next: ResourceDoc): void {
  const changed = (def.immutable ?? []).filter((f) => !isDeepStrictEqual(cur[f], next[f]));
  if (changed.length > 0) {
    throw new TurnpikeError(
      'TP_ERR_UNPROCESSABLE',
      `${changed.join(', ')} cannot change after creation; create a new ${def.singular} instead`,
      changed.map((f) => ({ path: `/${f}`, message: 'cannot change after creation' })),
    );
  }
}

function prepareSecrets(ctx: ServiceContext, def: ResourceDef, doc: ResourceDoc, prior: SecretMaterial | null, id: string, creating: boolean) {
  if (!def.secrets) return { doc, material: null as SecretMaterial | null, reveal: undefined };
  return def.secrets.prepare({ doc, prior, id, keyring: ctx.keyring ?? null, creating });
}

/** The parent's id, checked to exist in the tenant (404 otherwise, like the parent's own endpoints). */
async function requireParent(ctx: ServiceContext, def: ResourceDef, parentId: string | undefined, tenantId: string): Promise<string | null> {
  if (!def.parent) return null;
  const p = def.parent;
  const pid = requireId(p.singular, parentId);
  const rows = await ctx.sql`SELECT id FROM ${ctx.sql(p.kind)} WHERE id = ${pid} AND tenant_id = ${tenantId}`;
  if (rows.length === 0) throw notFound(p.singular, String(parentId));
  return pid;
}

/** The data-plane payload with the fields the kind keeps in other tables (def.dataPlaneExtra). */
async function dataPlaneIn(tx: TransactionSql, def: ResourceDef, row: ResourceRow): Promise<Record<string, unknown> & { id: string }> {
  const data = dataPlaneOf(def, row);
  return def.dataPlaneExtra ? { ...data, ...(await def.dataPlaneExtra(tx, toEntity(row))) } : data;
}

async function emitPut(w: WriteScope, def: ResourceDef, row: ResourceRow): Promise<void> {
  w.emit({ kind: def.kind, id: row.id, op: 'put', data: await dataPlaneIn(w.tx, def, row) });
}

/**
 * Publishes a resource again (at this write's revision) because data in other tables that its payload
 * carries changed (a service started or stopped pinning a prompt template version). Its doc and ETag
 * version stay; a resource that is gone is skipped.
 */
export async function republishResource(w: WriteScope, kind: EntityKind, id: string): Promise<void> {
  const def = defOf(kind);
  if (!def) return;
  const [row] = await w.tx<ResourceRow[]>`UPDATE resources SET revision = ${w.revision} WHERE id = ${id} AND kind = ${kind} RETURNING *`;
  if (row) await emitPut(w, def, row);
}

export async function createResource(ctx: ServiceContext, def: ResourceDef, input: unknown, parentId?: string): Promise<ResourceEntity> {
  const auth = authOf(ctx);
  const t = authorize(auth, def.kind, 'write');
  const pid = await requireParent(ctx, def, parentId, t);
  let doc: ResourceDoc = parse(def.create, input, { defaults: true }) as ResourceDoc;
  if (def.parent && pid) doc = { [def.parent.field]: pid, ...doc };
  return await writeConfig(ctx, async (w) => {
    const id = randomUUID();
    if (def.initialize) doc = await def.initialize(doc, { auth, now: w.now, tx: w.tx, tenantId: t });
    const prepared = prepareSecrets(ctx, def, doc, null, id, true);
    doc = prepared.doc;
    doc = (await def.check?.(doc, { tx: w.tx, tenantId: t })) ?? doc;
    const refs = allReferences(def, doc);
    await checkReferences(w.tx, refs, t);
    if (def.beforeStore) doc = await def.beforeStore(doc, { tx: w.tx, tenantId: t, id, prior: null, now: w.now });
    const [row] = await w.tx<ResourceRow[]>`
      INSERT INTO resources (id, tenant_id, kind, name, parent_id, doc, material, revision, created_at, updated_at)
      VALUES (${id}, ${t}, ${def.kind}, ${def.nameOf(doc)}, ${pid}, ${jsonb(w.tx, doc)}, ${prepared.material ? jsonb(w.tx, prepared.material) : null},
              ${w.revision}, ${w.now}, ${w.now})
      RETURNING *`;
    await claimUniqueKeys(w.tx, def, doc, id, t);
    await storeReferences(w.tx, id, refs);
    const entity = toEntity(row!);
    await emitPut(w, def, row!);
    w.audit({ action: 'create', resource: def.kind, id, after: entity });
    return withVersion(prepared.reveal ? { ...entity, ...prepared.reveal } : entity, row!.version);
  });
}

async function lockRow(tx: TransactionSql | postgres.Sql, def: ResourceDef, id: string, tenantId: string, parentId: string | null, forUpdate: boolean): Promise<ResourceRow> {
  const rid = requireId(def.singular, id);
  const [row] = forUpdate
    ? await tx<ResourceRow[]>`
        SELECT * FROM resources WHERE id = ${rid} AND tenant_id = ${tenantId} AND kind = ${def.kind}
          AND (${parentId}::uuid IS NULL OR parent_id = ${parentId}) FOR UPDATE`
    : await tx<ResourceRow[]>`
        SELECT * FROM resources WHERE id = ${rid} AND tenant_id = ${tenantId} AND kind = ${def.kind}
          AND (${parentId}::uuid IS NULL OR parent_id = ${parentId})`;
  if (!row) throw notFound(def.singular, id);
  return row;
}

export async function getResource(ctx: ServiceContext, def: ResourceDef, id: string, parentId?: string): Promise<ResourceEntity> {
  const t = authorize(authOf(ctx), def.kind, 'read');
  const pid = await requireParent(ctx, def, parentId, t);
  const row = await lockRow(ctx.sql, def, id, t, pid, false);
  return withVersion(toEntity(row), row.version);
}

export interface ResourceListOptions extends ListOptions {
  /** Values of the kind's extra filters (`status` → `pending`). */
  where?: Readonly<Record<string, string>> | undefined;
}

export async function listResources(ctx: ServiceContext, def: ResourceDef, opts: ResourceListOptions = {}, parentId?: string): Promise<Page<ResourceEntity>> {
  const t = authorize(authOf(ctx), def.kind, 'read');
  const pid = await requireParent(ctx, def, parentId, t);
  const q = pageQuery(opts);
  const sql = ctx.sql;
  let where: postgres.PendingQuery<postgres.Row[]> = sql`tenant_id = ${t} AND kind = ${def.kind} AND seq > ${q.after}`;
  if (pid) where = sql`${where} AND parent_id = ${pid}`;
  if (opts.name !== undefined) where = sql`${where} AND name = ${opts.name}`;
  if (opts.tag !== undefined) where = sql`${where} AND doc @> ${sql.json({ tags: [opts.tag] })}`;
  for (const [param, value] of Object.entries(opts.where ?? {})) {
    const field = def.filters?.[param];
    if (field === undefined) continue;
    where = sql`${where} AND doc @> ${sql.json({ [field]: value })}`;
  }
  const rows = await sql<ResourceRow[]>`SELECT * FROM resources WHERE ${where} ORDER BY seq LIMIT ${q.limit + 1}`;
  return toPage(rows, q, toEntity);
}

export async function updateResource(
  ctx: ServiceContext,
  def: ResourceDef,
  id: string,
  input: unknown,
  mode: 'patch' | 'replace' = 'patch',
  opts?: WriteOptions,
  parentId?: string,
): Promise<ResourceEntity> {
  const t = authorize(authOf(ctx), def.kind, 'write');
  const pid = await requireParent(ctx, def, parentId, t);
  const createFields = fieldsOf(def.create);
  const patch = mode === 'patch' ? (parse(def.update, input, { defaults: false }) as ResourceDoc) : null;
  const replacement = mode === 'replace' ? (parse(def.create, input, { defaults: true }) as ResourceDoc) : null;
  return await writeConfig(ctx, async (w) => {
    const cur = await lockRow(w.tx, def, id, t, pid, true);
    checkVersion(cur.version, opts, def.singular, id);
    // A patch is applied to the stored input fields and the result validated as a whole, so cross-field
    // rules hold after every write; server-kept fields (status...) and the parent carry over.
    const merged = replacement ?? (parse(def.create, { ...pick(cur.doc, createFields), ...patch }, { defaults: true }) as ResourceDoc);
    let doc: ResourceDoc = { ...merged, ...pick(cur.doc, managedFields(def)) };
    if (def.parent) doc = { [def.parent.field]: cur.doc[def.parent.field], ...doc };
    checkImmutable(def, cur.doc, doc);
    const prepared = prepareSecrets(ctx, def, doc, cur.material, cur.id, false);
    doc = prepared.doc;
    doc = (await def.check?.(doc, { tx: w.tx, tenantId: t })) ?? doc;
    const refs = allReferences(def, doc);
    await checkReferences(w.tx, refs, t);
    await claimUniqueKeys(w.tx, def, doc, cur.id, t);
    await storeReferences(w.tx, cur.id, refs);
    if (def.beforeStore) doc = await def.beforeStore(doc, { tx: w.tx, tenantId: t, id: cur.id, prior: cur.doc, now: w.now });
    const [row] = await w.tx<ResourceRow[]>`
      UPDATE resources SET name = ${def.nameOf(doc)}, doc = ${jsonb(w.tx, doc)},
        material = ${prepared.material ? jsonb(w.tx, prepared.material) : null},
        revision = ${w.revision}, version = version + 1, updated_at = ${w.now}
      WHERE id = ${cur.id} RETURNING *`;
    const entity = toEntity(row!);
    await emitPut(w, def, row!);
    w.audit({ action: 'update', resource: def.kind, id: cur.id, before: toEntity(cur), after: entity });
    return withVersion(entity, row!.version);
  });
}

export async function runAction(
  ctx: ServiceContext,
  def: ResourceDef,
  actionName: string,
  id: string,
  input: unknown,
  opts?: WriteOptions,
): Promise<ResourceEntity> {
  const action = def.actions?.find((a) => a.name === actionName);
  if (!action) throw new TurnpikeError('TP_ERR_NOT_FOUND', `${def.singular} has no action ${JSON.stringify(actionName)}`);
  const auth = authOf(ctx);
  const t = authorize(auth, def.kind, 'write');
  if (roleRank(roleIn(auth.principal, t)) < roleRank(action.minRole)) throw forbidden(`${action.name} ${def.singular}s (needs ${action.minRole})`, 'write');
  const body = parse(action.input, input ?? {}, { defaults: true });
  return await writeConfig(ctx, async (w) => {
    const cur = await lockRow(w.tx, def, id, t, null, true);
    checkVersion(cur.version, opts, def.singular, id);
    const doc = action.apply(cur.doc, body, { auth, now: w.now, tx: w.tx });
    // The new state may free or take a unique key (a revoked subscription frees its consumer/service pair).
    await claimUniqueKeys(w.tx, def, doc, cur.id, t);
    const [row] = await w.tx<ResourceRow[]>`
      UPDATE resources SET doc = ${jsonb(w.tx, doc)}, revision = ${w.revision}, version = version + 1, updated_at = ${w.now}
      WHERE id = ${cur.id} RETURNING *`;
    const entity = toEntity(row!);
    await emitPut(w, def, row!);
    w.audit({ action: 'update', resource: def.kind, id: cur.id, before: toEntity(cur), after: entity });
    return withVersion(entity, row!.version);
  });
}

export async function deleteResource(ctx: ServiceContext, def: ResourceDef, id: string, opts?: WriteOptions, parentId?: string): Promise<void> {
  const t = authorize(authOf(ctx), def.kind, 'write');
  const pid = await requireParent(ctx, def, parentId, t);
  await writeConfig(ctx, async (w) => {
    const cur = await lockRow(w.tx, def, id, t, pid, true);
    checkVersion(cur.version, opts, def.singular, id);
    await removeRow(w, def, cur);
  });
}

async function removeRow(w: WriteScope, def: ResourceDef, row: ResourceRow): Promise<void> {
  await releaseReferences(w, def.kind, row.id);
  await def.beforeDelete?.(w, row.id, row.tenant_id);
  await w.tx`DELETE FROM resources WHERE id = ${row.id}`;
  w.emit({ kind: def.kind, id: row.id, op: 'del' });
  w.audit({ action: 'delete', resource: def.kind, id: row.id, before: toEntity(row), tenantId: row.tenant_id });
}

/**
 * Before an entity (core or resource) is deleted: refuses with 409 TP_ERR_IN_USE when a resource refers to
 * it with `restrict`, else deletes the resources that refer to it with `cascade` (recursively, each
 * published and audited). Every hand-written delete of a core entity calls this too.
 */
export async function releaseReferences(w: WriteScope, kind: EntityKind, id: string): Promise<void> {
  const refs = await w.tx<(ResourceRow & { field: string; on_delete: 'cascade' | 'restrict' })[]>`
    SELECT r.*, rr.field, rr.on_delete FROM resource_refs rr JOIN resources r ON r.id = rr.from_id
    WHERE rr.to_id = ${id} AND rr.to_kind = ${kind} ORDER BY r.seq FOR UPDATE OF r`;
  const restricted = refs.filter((r) => r.on_delete === 'restrict');
  if (restricted.length > 0) {
    const names = restricted.slice(0, 5).map((r) => `${defOf(r.kind as EntityKind)?.singular ?? r.kind} ${r.id} (${r.field.slice(1)})`);
    throw new TurnpikeError('TP_ERR_IN_USE', `${singularOf(kind)} ${JSON.stringify(id)} is used by ${names.join(', ')}${restricted.length > 5 ? ', ...' : ''}`);
  }
  const seen = new Set<string>();
  for (const r of refs) {
    if (seen.has(r.id)) continue;
    seen.add(r.id);
    const def = defOf(r.kind as EntityKind);
    if (!def) continue;
    // It may already be gone (deleted by an earlier cascade in this loop).
    const [still] = await w.tx<ResourceRow[]>`SELECT * FROM resources WHERE id = ${r.id}`;
    if (still) await removeRow(w, def, still);
  }
}

/** Every stored resource's data-plane envelope at or below `upTo` (the reconciler's view). */
export async function resourcesForDataPlane(
  tx: TransactionSql,
  add: (kind: EntityKind, id: string, revision: string, data: Record<string, unknown> & { id: string }) => void,
): Promise<void> {
  for (const r of await tx<ResourceRow[]>`SELECT * FROM resources`) {
    const def = defOf(r.kind as EntityKind);
    if (def) add(def.kind, r.id, r.revision, await dataPlaneIn(tx, def, r));
  }
}

export type { Resource };
