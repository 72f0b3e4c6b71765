// API keys of a consumer. The clear key exists only in the creation response: PostgreSQL and the config
// bus hold its SHA-256 (hex), plus an 8-character prefix so people can tell keys apart. A key may expire
// (`expires_at`): rotation with overlap is a second key, then an expiry on the first (PATCH).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { ApiKeyCreate, ApiKeyUpdate, TurnpikeError, type ApiKey, type ApiKeyConfig, type ApiKeyCreated } from '@turnpike/common';
import { parse } from '../validation/validator.js';
import { iso } from './checks.js';
import { authorize } from './access.js';
import { authOf, type ServiceContext } from './context.js';
import { notFound, requireId } from './ids.js';
import { pageQuery, toPage, type ListOptions, type Page } from './pagination.js';
import { checkVersion, withVersion, type WriteOptions } from './versions.js';
import { writeConfig } from './write.js';
import { releaseReferences } from '../resources/store.js';

export interface ApiKeyRow {
  id: string;
  seq: string;
  consumer_id: string;
  name: string | null;
  key_sha256: string;
  prefix: string;
  expires_at: Date | null;
  revision: string;
  version: string;
  created_at: Date;
  updated_at: Date;
}

export function toApiKey(r: ApiKeyRow): ApiKey {
  return {
    id: r.id,
    consumer_id: r.consumer_id,
    name: r.name,
    prefix: r.prefix,
    expires_at: r.expires_at ? iso(r.expires_at) : null,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
  };
}

/** What the data plane receives for a key (expires_at only when set). */
export function toApiKeyConfig(r: Pick<ApiKeyRow, 'id' | 'consumer_id' | 'key_sha256'> & { expires_at?: Date | null }): ApiKeyConfig {
  const out: ApiKeyConfig = { id: r.id, consumer_id: r.consumer_id, key_sha256: r.key_sha256 };
  if (r.expires_at) out.expires_at = iso(r.expires_at);
  return out;
}

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

export function generateApiKey(): string {
  return `tp_${randomBytes(32).toString('base64url')}`;
}

async function requireConsumer(ctx: ServiceContext, consumerId: string, tenantId: string): Promise<string> {
  const cid = requireId('consumer', consumerId);
  const rows = await ctx.sql`SELECT id FROM consumers WHERE id = ${cid} AND tenant_id = ${tenantId}`;
  if (rows.length === 0) throw notFound('consumer', consumerId);
  return cid;
}

export async function createApiKey(ctx: ServiceContext, consumerId: string, input: unknown): Promise<ApiKeyCreated> {
  const t = authorize(authOf(ctx), 'keys', 'write');
  const cid = requireId('consumer', consumerId);
  const b = parse(ApiKeyCreate, input ?? {}, { defaults: true });
  const key = b.key ?? generateApiKey();
  const hash = sha256Hex(key);
  return await writeConfig(ctx, async (w) => {
    const owner = await w.tx`SELECT id FROM consumers WHERE id = ${cid} AND tenant_id = ${t} FOR KEY SHARE`;
    if (owner.length === 0) throw notFound('consumer', consumerId);
    const dup = await w.tx`SELECT id FROM api_keys WHERE key_sha256 = ${hash}`;
    if (dup.length > 0) throw new TurnpikeError('TP_ERR_CONFLICT', 'this key is already registered', [{ path: '/key', message: 'is already registered' }]);
    const [row] = await w.tx<ApiKeyRow[]>`
      INSERT INTO api_keys (id, tenant_id, consumer_id, name, key_sha256, prefix, expires_at, revision, created_at, updated_at)
      VALUES (${randomUUID()}, ${t}, ${cid}, ${b.name ?? null}, ${hash}, ${key.slice(0, 8)}, ${b.expires_at ? new Date(b.expires_at) : null}, ${w.revision}, ${w.now}, ${w.now})
      RETURNING *`;
    w.emit({ kind: 'keys', id: row!.id, op: 'put', data: toApiKeyConfig(row!) });
    // The public shape only: neither the key nor its hash reaches the audit log.
    w.audit({ action: 'create', resource: 'keys', id: row!.id, after: toApiKey(row!) });
    return withVersion({ ...toApiKey(row!), key }, row!.version);
  });
}

export async function getApiKey(ctx: ServiceContext, consumerId: string, keyId: string): Promise<ApiKey> {
  const t = authorize(authOf(ctx), 'keys', 'read');
  const cid = await requireConsumer(ctx, consumerId, t);
  const kid = requireId('api key', keyId);
  const [row] = await ctx.sql<ApiKeyRow[]>`SELECT * FROM api_keys WHERE id = ${kid} AND consumer_id = ${cid}`;
  if (!row) throw notFound('api key', keyId);
  return withVersion(toApiKey(row), row.version);
}

export async function listApiKeys(ctx: ServiceContext, consumerId: string, opts?: ListOptions): Promise<Page<ApiKey>> {
  const t = authorize(authOf(ctx), 'keys', 'read');
  const cid = await requireConsumer(ctx, consumerId, t);
  const q = pageQuery(opts);
  const rows = await ctx.sql<ApiKeyRow[]>`
    SELECT * FROM api_keys WHERE consumer_id = ${cid} AND seq > ${q.after}
      ${opts?.name !== undefined ? ctx.sql`AND name = ${opts.name}` : ctx.sql``}
    ORDER BY seq LIMIT ${q.limit + 1}`;
  return toPage(rows, q, toApiKey);
}

/** Renames a key or sets (null: clears) its expiry; the key itself never changes. */
export async function updateApiKey(ctx: ServiceContext, consumerId: string, keyId: string, input: unknown, opts?: WriteOptions): Promise<ApiKey> {
  const t = authorize(authOf(ctx), 'keys', 'write');
  const cid = requireId('consumer', consumerId);
  const kid = requireId('api key', keyId);
  const b = parse(ApiKeyUpdate, input ?? {}, { defaults: false });
  return await writeConfig(ctx, async (w) => {
    const owner = await w.tx`SELECT id FROM consumers WHERE id = ${cid} AND tenant_id = ${t} FOR KEY SHARE`;
    if (owner.length === 0) throw notFound('consumer', consumerId);
    const [cur] = await w.tx<ApiKeyRow[]>`SELECT * FROM api_keys WHERE id = ${kid} AND consumer_id = ${cid} FOR UPDATE`;
    if (!cur) throw notFound('api key', keyId);
    checkVersion(cur.version, opts, 'api key', keyId);
    const name = b.name !== undefined ? b.name : cur.name;
    const expiresAt = b.expires_at !== undefined ? (b.expires_at === null ? null : new Date(b.expires_at)) : cur.expires_at;
    const [row] = await w.tx<ApiKeyRow[]>`
      UPDATE api_keys SET name = ${name}, expires_at = ${expiresAt}, revision = ${w.revision}, updated_at = ${w.now}, version = version + 1
      WHERE id = ${kid} RETURNING *`;
    w.emit({ kind: 'keys', id: kid, op: 'put', data: toApiKeyConfig(row!) });
    w.audit({ action: 'update', resource: 'keys', id: kid, before: toApiKey(cur), after: toApiKey(row!) });
    return withVersion(toApiKey(row!), row!.version);
  });
}

export async function deleteApiKey(ctx: ServiceContext, consumerId: string, keyId: string, opts?: WriteOptions): Promise<void> {
  const t = authorize(authOf(ctx), 'keys', 'write');
  const cid = requireId('consumer', consumerId);
  const kid = requireId('api key', keyId);
  await writeConfig(ctx, async (w) => {
    const owner = await w.tx`SELECT id FROM consumers WHERE id = ${cid} AND tenant_id = ${t}`;
    if (owner.length === 0) throw notFound('consumer', consumerId);
    const [cur] = await w.tx<ApiKeyRow[]>`SELECT * FROM api_keys WHERE id = ${kid} AND consumer_id = ${cid} FOR UPDATE`;
    if (!cur) throw notFound('api key', keyId);
    checkVersion(cur.version, opts, 'api key', keyId);
    // What names the key (an AI budget) goes with it.
    await releaseReferences(w, 'keys', kid);
    await w.tx`DELETE FROM api_keys WHERE id = ${kid}`;
    w.emit({ kind: 'keys', id: kid, op: 'del' });
    w.audit({ action: 'delete', resource: 'keys', id: kid, before: toApiKey(cur) });
  });
}
