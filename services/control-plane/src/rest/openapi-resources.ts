// OpenAPI paths and schemas of the generic resource kinds, from their ResourceDefs.
import type { TSchema } from '@sinclair/typebox';
import { RESOURCE_DEFS } from '../resources/index.js';
import { createParameters, createdHeaders, listParameters, etagHeaders, notModified, pageSchema, preconditionFailed, readParameters, writeParameters } from './openapi-http.js';
import { collectionPath } from './resource-routes.js';

type Json = Record<string, unknown>;
const plain = (s: TSchema): Json => JSON.parse(JSON.stringify(s)) as Json;
const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json): Json => ({ content: { 'application/json': { schema } } });
const errorRef = (name: string): Json => ({ $ref: `#/components/responses/${name}` });
const uuidParam = (name: string, description: string, where: 'path' | 'query'): Json => ({
  name,
  in: where,
  required: where === 'path',
  description,
  schema: { type: 'string', format: 'uuid' },
});

export function resourceTags(): Json[] {
  return RESOURCE_DEFS.map((d) => ({ name: d.path }));
}

export function addResourcePaths(paths: Json, schemas: Json): void {
  const std = { '400': errorRef('BadRequest'), '401': errorRef('Unauthorized'), '403': errorRef('Forbidden') };
  for (const def of RESOURCE_DEFS) {
    const S = def.title;
    schemas[S] = plain(def.entity);
    schemas[`${S}Create`] = plain(def.create);
    schemas[`${S}Update`] = plain(def.update);
    const tags = [def.path];
    const base = collectionPath(def, 'openapi');
    const parentParams = def.parent ? [uuidParam(def.parent.field, `${def.parent.singular} id`, 'path')] : [];
    const notFound = { '404': errorRef('NotFound') };
    const writeErrors = { ...std, ...notFound, '409': errorRef('Conflict'), '422': errorRef('Unprocessable'), '503': errorRef('Unavailable') };
    const filters = Object.keys(def.filters ?? {}).map((f) =>
      f.endsWith('_id') ? uuidParam(f, `only those with this ${f}`, 'query') : { name: f, in: 'query', required: false, description: `only those with this ${f}`, schema: { type: 'string' } },
    );
    const reveal = def.revealOnce ?? [];
    paths[base] = {
      ...(parentParams.length > 0 ? { parameters: parentParams } : {}),
      get: {
        tags,
        operationId: `list${S}s`,
        summary: `List ${def.singular}s in creation order`,
        parameters: [
          ...listParameters(['name', 'tag']),
          ...filters,
        ],
        responses: { '200': { description: 'a page', ...json(pageSchema(ref(S))) }, ...std, ...notFound },
      },
      post: {
        tags,
        operationId: `create${S}`,
        summary: `Create a ${def.singular}${reveal.length > 0 ? ` (the response is the only time ${reveal.join(', ')} is shown)` : ''}`,
        parameters: createParameters,
        requestBody: { required: true, ...json(ref(`${S}Create`)) },
        responses: { '201': { description: 'created (or the replay of an earlier create with the same Idempotency-Key)', headers: createdHeaders, ...json(ref(S)) }, ...writeErrors },
      },
    };
    const item = `${base}/{id}`;
    paths[item] = {
      parameters: [...parentParams, uuidParam('id', `${def.singular} id`, 'path')],
      get: { tags, operationId: `get${S}`, parameters: readParameters, responses: { '200': { description: S, headers: etagHeaders, ...json(ref(S)) }, ...notModified, ...std, ...notFound } },
      patch: {
        tags,
        operationId: `update${S}`,
        summary: 'Partial update: only the given fields change',
        parameters: writeParameters,
        requestBody: { required: true, ...json(ref(`${S}Update`)) },
        responses: { '200': { description: 'updated', headers: etagHeaders, ...json(ref(S)) }, ...writeErrors, ...preconditionFailed },
      },
      put: {
        tags,
        operationId: `replace${S}`,
        summary: 'Full replacement: omitted optional fields take their defaults',
        parameters: writeParameters,
        requestBody: { required: true, ...json(ref(`${S}Create`)) },
        responses: { '200': { description: 'replaced', headers: etagHeaders, ...json(ref(S)) }, ...writeErrors, ...preconditionFailed },
      },
      delete: {
        tags,
        operationId: `delete${S}`,
        parameters: writeParameters,
        responses: { '204': { description: 'deleted' }, ...std, ...notFound, '409': errorRef('Conflict'), ...preconditionFailed },
      },
    };
    for (const action of def.actions ?? []) {
      const name = `${action.name[0]!.toUpperCase()}${action.name.slice(1)}`;
      schemas[`${S}${name}`] = plain(action.input);
      paths[`${item}/${action.name}`] = {
        parameters: [...parentParams, uuidParam('id', `${def.singular} id`, 'path')],
        post: {
          tags,
          operationId: `${action.name}${S}`,
          summary: `${action.summary} (needs the ${action.minRole} role)`,
          parameters: writeParameters,
          requestBody: { required: false, ...json(ref(`${S}${name}`)) },
          responses: { '200': { description: 'the new state', headers: etagHeaders, ...json(ref(S)) }, ...std, ...notFound, '422': errorRef('Unprocessable'), ...preconditionFailed },
        },
      };
    }
  }
}
