// The OpenAPI parts for the REST API's HTTP semantics — list filters and cursors, ETag / If-Match /
// If-None-Match, Idempotency-Key — shared by every resource in openapi.ts.
import type { ListFilterName } from './request-params.js';

type Json = Record<string, unknown>;

const param = (name: string): Json => ({ $ref: `#/components/parameters/${name}` });
const header = (name: string): Json => ({ $ref: `#/components/headers/${name}` });

const FILTER_PARAMS: Record<ListFilterName, Json> = {
  name: { name: 'name', in: 'query', description: 'exact name (consumers: username)', schema: { type: 'string', minLength: 1 } },
  tag: { name: 'tag', in: 'query', description: 'only entities whose tags include this one', schema: { type: 'string', minLength: 1 } },
  service_id: { name: 'service_id', in: 'query', description: 'only routes of this service', schema: { type: 'string', format: 'uuid' } },
  upstream_id: { name: 'upstream_id', in: 'query', description: 'only services of this upstream', schema: { type: 'string', format: 'uuid' } },
};

/** limit, cursor and the list's filters (any other parameter is a 400). */
export function listParameters(filters: readonly ListFilterName[]): Json[] {
  return [param('Limit'), param('Cursor'), ...filters.map((f) => FILTER_PARAMS[f])];
}

export function pageSchema(item: Json): Json {
  return {
    type: 'object',
    required: ['data', 'next_cursor'],
    properties: {
      data: { type: 'array', items: item },
      next_cursor: { type: ['string', 'null'], description: 'pass as `cursor` for the next page; null on the last page' },
      next: { type: 'string', deprecated: true, description: 'the same cursor, absent on the last page (older name of next_cursor)' },
    },
  };
}

export const createParameters: Json[] = [param('IdempotencyKey')];
export const readParameters: Json[] = [param('IfNoneMatch')];
export const writeParameters: Json[] = [param('IfMatch')];

export const etagHeaders: Json = { ETag: header('ETag') };
export const createdHeaders: Json = { Location: header('Location'), ETag: header('ETag'), 'Idempotent-Replayed': header('IdempotentReplayed') };

export const notModified: Json = { '304': { description: 'If-None-Match matched: the entity is unchanged', headers: etagHeaders } };
export const preconditionFailed: Json = { '412': { $ref: '#/components/responses/PreconditionFailed' } };

export const httpComponents = {
  parameters: {
    Limit: { name: 'limit', in: 'query', description: 'page size', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
    Cursor: { name: 'cursor', in: 'query', description: 'the `next_cursor` of the previous page (opaque)', schema: { type: 'string' } },
    IdempotencyKey: {
      name: 'Idempotency-Key',
      in: 'header',
      description:
        'makes the create safe to retry for 24 h: the first successful response is stored and replayed for the same key and body ' +
        '(`Idempotent-Replayed: true`); the same key with another method, path or body is 422. Keys are per admin token. ' +
        'A replayed API key creation omits the clear `key`.',
      schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
    },
    IfMatch: {
      name: 'If-Match',
      in: 'header',
      description: 'write only if the entity is still at this ETag (strong comparison; `*` matches any); else 412',
      schema: { type: 'string' },
      example: '"3"',
    },
    IfNoneMatch: {
      name: 'If-None-Match',
      in: 'header',
      description: 'answer 304 without a body when the entity is still at this ETag',
      schema: { type: 'string' },
      example: '"3"',
    },
  },
  headers: {
    ETag: { description: 'the entity version, quoted: `"<version>"` (1 on create, +1 on every update)', schema: { type: 'string', pattern: '^"\\d+"$' } },
    Location: { description: 'path of the created entity', schema: { type: 'string' } },
    IdempotentReplayed: { description: '`true` when this is the stored response of an earlier request with the same Idempotency-Key', schema: { type: 'string', enum: ['true'] } },
  },
};
