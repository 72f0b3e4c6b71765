// Query-string access for handlers: single string values only (a repeated parameter is a 400).
import type { FastifyRequest } from 'fastify';
import { TurnpikeError, type FieldError } from '@turnpike/common';
import { isUuid } from '../service/ids.js';
import type { ListFilters, ListOptions } from '../service/index.js';

export function queryParams(req: FastifyRequest): Record<string, string> {
  const q = (req.query ?? {}) as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(q)) {
    if (typeof v !== 'string') throw new TurnpikeError('TP_ERR_VALIDATION', `query parameter ${k} must be given once`, [{ path: `/${k}`, message: 'must be given once' }]);
    out[k] = v;
  }
  return out;
}

export type ListFilterName = keyof ListFilters;

const UUID_FILTERS: ReadonlySet<ListFilterName> = new Set(['service_id', 'upstream_id']);

/**
 * `limit`, `cursor` and the filters this list supports; anything else is a 400 (a misspelt filter must
 * not quietly list everything).
 */
export function listOptions(req: FastifyRequest, filters: readonly ListFilterName[] = []): ListOptions {
  return listOptionsOf(queryParams(req), filters);
}

/**
 * A resource kind's list options: the common ones plus its own filters (`status`, `consumer_id`...);
 * filters named `*_id` must be uuids.
 */
export function resourceListOptions(req: FastifyRequest, extra: readonly string[]): ListOptions & { where: Record<string, string> } {
  const q = queryParams(req);
  const where: Record<string, string> = {};
  const errs: FieldError[] = [];
  for (const k of extra) {
    const v = q[k];
    if (v === undefined) continue;
    delete q[k];
    if (k.endsWith('_id') && !isUuid(v)) errs.push({ path: `/${k}`, message: 'must be a uuid' });
    else if (v === '') errs.push({ path: `/${k}`, message: 'must not be empty' });
    else where[k] = k.endsWith('_id') ? v.toLowerCase() : v;
  }
  if (errs.length > 0) throw new TurnpikeError('TP_ERR_VALIDATION', `invalid query: ${errs[0]!.path} ${errs[0]!.message}`, errs);
  return { ...listOptionsOf(q, ['name', 'tag'], extra), where };
}

function listOptionsOf(q: Record<string, string>, filters: readonly ListFilterName[], alsoKnown: readonly string[] = []): ListOptions {
  const opts: ListOptions = {};
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(q)) {
    if (k === 'limit') {
      if (!/^\d{1,6}$/.test(v)) errs.push({ path: '/limit', message: 'must be a positive integer' });
      else opts.limit = Number(v);
    } else if (k === 'cursor') {
      opts.cursor = v;
    } else if ((filters as readonly string[]).includes(k)) {
      const f = k as ListFilterName;
      if (UUID_FILTERS.has(f)) {
        if (!isUuid(v)) errs.push({ path: `/${k}`, message: 'must be a uuid' });
        else opts[f] = v.toLowerCase();
      } else if (v === '') {
        errs.push({ path: `/${k}`, message: 'must not be empty' });
      } else {
        opts[f] = v;
      }
    } else {
      errs.push({ path: `/${k}`, message: `is not a known parameter (known: ${['limit', 'cursor', ...filters, ...alsoKnown].join(', ')})` });
    }
  }
  if (errs.length > 0) throw new TurnpikeError('TP_ERR_VALIDATION', `invalid query: ${errs[0]!.path} ${errs[0]!.message}`, errs);
  return opts;
}

export function param(req: FastifyRequest, name: string): string {
  return ((req.params ?? {}) as Record<string, string>)[name] ?? '';
}
