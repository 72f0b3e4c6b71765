// Keyset pagination over each table's creation sequence: `next` is an opaque cursor for the following page.
import { TurnpikeError } from '@turnpike/common';

export interface ListOptions {
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface Page<T> {
  data: T[];
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

/** Builds a page from rows fetched with `limit + 1` (the extra row only signals that more exist). */
export function toPage<R extends { seq: number | string }, T>(rows: R[], q: PageQuery, map: (r: R) => T): Page<T> {
  const more = rows.length > q.limit;
  const kept = more ? rows.slice(0, q.limit) : rows;
  const page: Page<T> = { data: kept.map(map) };
  const last = kept[kept.length - 1];
  if (more && last) page.next = Buffer.from(`s:${Number(last.seq)}`).toString('base64url');
  return page;
}
