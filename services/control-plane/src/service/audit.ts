// The audit log: one row per admin write (written by service/write.ts in the write's transaction),
// queried per tenant by time range, actor, resource and action, newest last, with a cursor.
import type postgres from 'postgres';
import { RESOURCE_KINDS, TurnpikeError, type FieldError } from '@turnpike/common';
import { authorize } from './access.js';
import { authOf, type ServiceContext } from './context.js';
import { isUuid } from './ids.js';
import { DEFAULT_LIMIT, MAX_LIMIT, type Page } from './pagination.js';

export interface AuditEntry {
  id: string;
  at: string;
  tenant_id: string | null;
  actor_token_id: string | null;
  actor_user_id: string | null;
  action: 'create' | 'update' | 'delete';
  resource_type: string;
  resource_id: string;
  before: object | null;
  after: object | null;
  request_id: string | null;
}

interface AuditRow extends Omit<AuditEntry, 'at'> {
  at: Date;
}

export const AUDIT_PARAMS = ['from', 'to', 'actor', 'resource_type', 'resource_id', 'action', 'limit', 'cursor'] as const;
const ACTIONS = new Set(['create', 'update', 'delete']);
const RESOURCE_TYPES = new Set(['upstreams', 'services', 'routes', 'consumers', 'keys', ...RESOURCE_KINDS, 'tenants', 'users', 'members', 'tokens', 'portal_settings']);

function parseTime(v: string): Date | null {
  if (/^\d{1,16}$/.test(v)) return new Date(Number(v));
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v)) return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : new Date(t);
}

/** Audit rows of the request's tenant (a superuser also sees tenant-less rows: users). */
export async function listAudit(ctx: ServiceContext, q: Record<string, string>): Promise<Page<AuditEntry>> {
  const auth = authOf(ctx);
  const t = authorize(auth, 'audit', 'read');
  const errs: FieldError[] = [];
  const sql = ctx.sql;
  let where: postgres.PendingQuery<postgres.Row[]> = auth.principal.superuser
    ? sql`(tenant_id = ${t} OR tenant_id IS NULL)`
    : sql`tenant_id = ${t}`;
  let limit = DEFAULT_LIMIT;
  for (const [k, v] of Object.entries(q)) {
    switch (k) {
      case 'from':
      case 'to': {
        const d = parseTime(v);
        if (d === null) errs.push({ path: `/${k}`, message: 'must be ms since epoch or an ISO 8601 date-time' });
        else where = k === 'from' ? sql`${where} AND at >= ${d}` : sql`${where} AND at < ${d}`;
        break;
      }
      case 'actor':
        if (!isUuid(v)) errs.push({ path: '/actor', message: 'must be an admin token id or a user id (uuid)' });
        else where = sql`${where} AND (actor_token_id = ${v.toLowerCase()} OR actor_user_id = ${v.toLowerCase()})`;
        break;
      case 'resource_type':
        if (!RESOURCE_TYPES.has(v)) errs.push({ path: '/resource_type', message: `must be one of: ${[...RESOURCE_TYPES].join(', ')}` });
        else where = sql`${where} AND resource_type = ${v}`;
        break;
      case 'resource_id':
        if (v === '' || v.length > 200) errs.push({ path: '/resource_id', message: 'must be 1-200 characters' });
        else where = sql`${where} AND resource_id = ${v.toLowerCase()}`;
        break;
      case 'action':
        if (!ACTIONS.has(v)) errs.push({ path: '/action', message: 'must be one of: create, update, delete' });
        else where = sql`${where} AND action = ${v}`;
        break;
      case 'limit':
        if (!/^\d{1,6}$/.test(v) || Number(v) < 1 || Number(v) > MAX_LIMIT) errs.push({ path: '/limit', message: `must be an integer from 1 to ${MAX_LIMIT}` });
        else limit = Number(v);
        break;
      case 'cursor': {
        const decoded = Buffer.from(v, 'base64url').toString('utf8');
        if (!/^a:\d{1,15}$/.test(decoded)) errs.push({ path: '/cursor', message: 'is not a valid cursor' });
        else where = sql`${where} AND id > ${Number(decoded.slice(2))}`;
        break;
      }
      default:
        errs.push({ path: `/${k}`, message: `is not a known parameter (known: ${AUDIT_PARAMS.join(', ')})` });
    }
  }
  if (errs.length > 0) throw new TurnpikeError('TP_ERR_VALIDATION', `invalid query: ${errs[0]!.path} ${errs[0]!.message}`, errs);
  const rows = await sql<AuditRow[]>`SELECT * FROM audit_log WHERE ${where} ORDER BY id LIMIT ${limit + 1}`;
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  const page: Page<AuditEntry> = { data: kept.map((r) => ({ ...r, id: String(r.id), at: r.at.toISOString() })), next_cursor: null };
  const last = kept[kept.length - 1];
  if (more && last) {
    page.next_cursor = Buffer.from(`a:${last.id}`).toString('base64url');
    page.next = page.next_cursor;
  }
  return page;
}
