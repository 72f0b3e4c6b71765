// request-validation: checks path parameters, query, headers and JSON body against the service's OpenAPI
// document or JSON Schemas in the config, refusing with 400 TP_ERR_REQUEST_INVALID (415 for a body type the
// operation does not accept).
import { Type, type Static } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';
import { jsonSchemaProblems } from '../request-schemas.js';
import type { PluginType } from './types.js';

const Schema = Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], { default: null });
const Part = Type.Union([Type.Literal('path'), Type.Literal('query'), Type.Literal('header'), Type.Literal('body')]);

export const RequestValidationConfig = Type.Object(
  {
    /**
     * `openapi`: the operations of the service's attached OpenAPI document (3.0 or 3.1). `schemas`: the
     * `*_schema` settings below, for every request of the scope.
     */
    source: Type.Union([Type.Literal('openapi'), Type.Literal('schemas')], { default: 'openapi' }),
    /** Which parts are checked. */
    parts: Type.Array(Part, { uniqueItems: true, minItems: 1, maxItems: 4, default: ['path', 'query', 'header', 'body'] }),
    /** `openapi`: what a request no operation describes gets: `reject` (400) or `allow` (proxied unchecked). */
    unmatched: Type.Union([Type.Literal('reject'), Type.Literal('allow')], { default: 'reject' }),
    /**
     * `openapi`: a prefix of the request path that the document's `paths` leave out (e.g. `/v1` when the
     * document's server URL ends in `/v1`). A request outside it matches no operation.
     */
    base_path: Type.String({ pattern: '^(/[^?#\\s]*[^/?#\\s])?$', maxLength: 1024, default: '' }),
    /** `schemas`: the JSON body (draft 2020-12). Bodies of other content types are refused with 415. */
    body_schema: Schema,
    /** `schemas`: whether a request must have a body (when false, an empty body is not checked). */
    body_required: Type.Boolean({ default: false }),
    /** `schemas`: the query as an object (values are strings, coerced to the schema's types; repeats are arrays). */
    query_schema: Schema,
    /** `schemas`: the headers named in its `properties` (lower-case names), as an object; others are not read. */
    header_schema: Schema,
  },
  { additionalProperties: false },
);
export type RequestValidationConfig = Static<typeof RequestValidationConfig>;

/**
 * What the schema cannot say: the schemas match `source` and compile (field paths into them, e.g.
 * `/body_schema/properties/age/type`). Whether the service's OpenAPI document can be used is
 * openApiRequestProblems(doc), run where the document is known.
 */
export function requestValidationProblems(cfg: RequestValidationConfig): FieldError[] {
  const out: FieldError[] = [];
  const schemas = [
    ['body_schema', cfg.body_schema, 'body'],
    ['query_schema', cfg.query_schema, 'params'],
    ['header_schema', cfg.header_schema, 'params'],
  ] as const;
  if (cfg.source === 'openapi') {
    for (const [name, s] of schemas) if (s !== null) out.push({ path: `/${name}`, message: 'is read only with source "schemas"' });
    return out;
  }
  if (schemas.every(([, s]) => s === null)) out.push({ path: '/body_schema', message: 'source "schemas" needs body_schema, query_schema or header_schema' });
  for (const [name, s, use] of schemas) if (s !== null) out.push(...jsonSchemaProblems(s, `/${name}`, use));
  const hs = cfg.header_schema;
  if (hs !== null && (typeof hs.properties !== 'object' || hs.properties === null || Object.keys(hs.properties).length === 0))
    out.push({ path: '/header_schema/properties', message: 'must name the headers to check (only headers named here are read)' });
  return out;
}

export const requestValidationPlugin: PluginType<typeof RequestValidationConfig> = {
  name: 'request-validation',
  description:
    "Checks path parameters, query, headers and JSON body against the service's OpenAPI document (3.0/3.1) or configured JSON Schemas: 400 TP_ERR_REQUEST_INVALID listing what failed, 415 TP_ERR_UNSUPPORTED_MEDIA_TYPE for a body type the operation does not accept.",
  config: RequestValidationConfig,
  scopes: ['global', 'service', 'route'],
  phase: 'access',
  problems: requestValidationProblems,
};
