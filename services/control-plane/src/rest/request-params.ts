// Query-string access for handlers: single string values only (a repeated parameter is a 400).
import type { FastifyRequest } from 'fastify';
import { TurnpikeError } from '@turnpike/common';
import type { ListOptions } from '../service/index.js';

export function queryParams(req: FastifyRequest): Record<string, string> {
  const q = (req.query ?? {}) as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(q)) {
    if (typeof v !== 'string') throw new TurnpikeError('TP_ERR_VALIDATION', `query parameter ${k} must be given once`, [{ path: `/${k}`, message: 'must be given once' }]);
    out[k] = v;
  }
  return out;
}

export function listOptions(req: FastifyRequest): ListOptions {
  const q = queryParams(req);
  const opts: ListOptions = {};
  if (q.limit !== undefined) {
    if (!/^\d{1,6}$/.test(q.limit)) throw new TurnpikeError('TP_ERR_VALIDATION', 'limit must be a positive integer', [{ path: '/limit', message: 'must be a positive integer' }]);
    opts.limit = Number(q.limit);
  }
  if (q.cursor !== undefined) opts.cursor = q.cursor;
  return opts;
}

export function param(req: FastifyRequest, name: string): string {
  return ((req.params ?? {}) as Record<string, string>)[name] ?? '';
}
