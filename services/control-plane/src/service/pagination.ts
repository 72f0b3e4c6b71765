// Keyset pagination over each table's creation sequence (`seq`: unique, never reused, so the order is
// stable while rows are added or removed): `next_cursor` is an opaque cursor for the following page.
// Filters narrow the rows first; the cursor only says where the previous page ended.
import type postgres from 'postgres';
import type { Sql } from 'postgres';
import { TurnpikeError } from '@turnpike/common';

export interface ListFilters {
  /** Exact name (a consumer's username). */
  name?: string | undefined;
  /** Entities whose tags include this one. */
  tag?: string | undefined;
  /** Routes of this service. */
  service_id?: string | undefined;
  /** Services of this upstream. */
  upstream_id?: string | undefined;
}

export interface ListOptions extends ListFilters {
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface Page<T> {
  data: T[];
  /** Cursor of the next page; null on the last. */
  next_cursor: string | null;
  /** The same cursor, absent on the last page (the field's name before `next_cursor`; kept for old clients). */
  next?: string;
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

export interface PageQuery {
  limit: number;
  /** Rows with seq greater than this. */
  after: number;
}

export function pageQuery(opts: ListOptions = {}): PageQuery {
  const limit = opts.limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new TurnpikeError('TP_ERR_VALIDATION', `limit must be an integer from 1 to ${MAX_LIMIT}`, [
      { path: '/limit', message: `must be an integer from 1 to ${MAX_LIMIT}` },
    ]);
  }
  let after = 0;
  if (opts.cursor !== undefined && opts.cursor !== '') {
    const decoded = Buffer.from(opts.cursor, 'base64url').toString('utf8');
    if (!/^s:\d{1,15}$/.test(decoded)) {
      throw new TurnpikeError('TP_ERR_VALIDATION', 'cursor is not valid', [{ path: '/cursor', message: 'is not a valid cursor' }]);
    }
    after = Number(decoded.slice(2));
  }
  return { limit, after };
}

type Table = 'upstreams' | 'services' | 'routes' | 'consumers';

/**
 * One page of the tenant's `table` rows matching the filters, in creation order. `nameColumn` is what `name`
 * filters on (consumers: username); reference filters apply only where the table has that column.
 */
export async function selectPage<R extends { seq: number | string }>(
  sql: Sql,
  table: Table,
  nameColumn: string,
  opts: ListOptions | undefined,
  tenantId: string,
): Promise<{ rows: R[]; q: PageQuery }> {
  const q = pageQuery(opts);
  const f = opts ?? {};
  let where: postgres.PendingQuery<postgres.Row[]> = sql`tenant_id = ${tenantId} AND seq > ${q.after}`;
  if (f.name !== undefined) where = sql`${where} AND ${sql(nameColumn)} = ${f.name}`;
  if (f.tag !== undefined) where = sql`${where} AND tags @> ${sql.json([f.tag])}`;
  if (f.service_id !== undefined && table === 'routes') where = sql`${where} AND service_id = ${f.service_id}`;
  if (f.upstream_id !== undefined && table === 'services') where = sql`${where} AND upstream_id = ${f.upstream_id}`;
  const rows = await sql<R[]>`SELECT * FROM ${sql(table)} WHERE ${where} ORDER BY seq LIMIT ${q.limit + 1}`;
  return { rows, q };
}

/** Builds a page from rows fetched with `limit + 1` (the extra row only signals that more exist). */
export function toPage<R extends { seq: number | string }, T>(rows: R[], q: PageQuery, map: (r: R) => T): Page<T> {
  const more = rows.length > q.limit;
  const kept = more ? rows.slice(0, q.limit) : rows;
  const page: Page<T> = { data: kept.map(map), next_cursor: null };
  const last = kept[kept.length - 1];
  if (more && last) {
    page.next_cursor = Buffer.from(`s:${Number(last.seq)}`).toString('base64url');
    page.next = page.next_cursor;
  }
  return page;
}
