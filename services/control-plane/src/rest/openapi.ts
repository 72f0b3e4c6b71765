// Builds the OpenAPI 3.1 document of the REST admin API from the same typebox schemas that validate input.
import { Type, type TSchema } from '@sinclair/typebox';
import { AiBudgetUsage, ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyUpdate } from '@turnpike/common';
import {
  createParameters,
  createdHeaders,
  etagHeaders,
  httpComponents,
  listParameters,
  notModified,
  pageSchema,
  preconditionFailed,
  readParameters,
  writeParameters,
} from './openapi-http.js';
import { ADMIN_TAGS, adminPaths, adminSchemas, tenantHeader } from './openapi-admin.js';
import { CacheInvalidationAccepted, CacheInvalidationInput } from '../service/cache.js';
import { CRUD_RESOURCES } from './resource-table.js';
import { addResourcePaths, resourceTags } from './openapi-resources.js';
import { addPromptTemplateVersionPaths } from './prompt-template-versions.js';
import { pluginTypesPath } from './plugin-types.js';

type Json = Record<string, unknown>;

/** typebox schemas carry symbol-keyed metadata; the document wants plain JSON Schema. */
function plain(s: TSchema): Json {
  return JSON.parse(JSON.stringify(s)) as Json;
}

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json): Json => ({ content: { 'application/json': { schema } } });
const errorRef = (name: string): Json => ({ $ref: `#/components/responses/${name}` });

const ErrorSchema = Type.Object({
  error: Type.Object({
    code: Type.String({ description: 'stable TP_ERR_* code' }),
    message: Type.String(),
    request_id: Type.String(),
    fields: Type.Optional(Type.Array(Type.Object({ path: Type.String({ description: 'JSON pointer, e.g. /targets/0/port' }), message: Type.String() }))),
  }),
});

const StatusSchema = Type.Object({
  config_revision: Type.Integer(),
  published_revision: Type.Integer(),
  unpublished_outbox_rows: Type.Integer(),
});

const ClusterNodeSchema = Type.Object({
  node_id: Type.String(),
  hostname: Type.String(),
  version: Type.String(),
  revision: Type.Integer({ description: 'config revision the node serves (0: none yet)' }),
  source: Type.Union([Type.Literal('kv'), Type.Literal('lkg'), Type.Literal('none')], { description: 'live config bus, last-known-good on disk, or none' }),
  ready: Type.Boolean(),
  status: Type.Union([Type.Literal('healthy'), Type.Literal('unready'), Type.Literal('stale')], {
    description: 'healthy: ready and heard from within 3 heartbeat intervals; stale: silent for more than 10 s (dropped after 5 min)',
  }),
  last_heartbeat: Type.String({ format: 'date-time' }),
  lag_revisions: Type.Integer({ description: 'config_revision minus the node revision' }),
  started_at: Type.String({ format: 'date-time' }),
});

const ClusterNodesSchema = Type.Object({
  data: Type.Array(ClusterNodeSchema),
  config_revision: Type.Integer(),
});

const ConfigRevisionSchema = Type.Object({
  revision: Type.Integer({ description: 'last revision committed' }),
  published_revision: Type.Integer({ description: 'every revision up to this one is on the config bus' }),
});

const CallRecordSchema = Type.Object({
  request_id: Type.String(),
  ts: Type.Integer({ description: 'ms since epoch' }),
  node_id: Type.String(),
  service_id: Type.String(),
  route_id: Type.String(),
  consumer_id: Type.String(),
  method: Type.String(),
  path: Type.String(),
  status: Type.Integer(),
  upstream_latency_ms: Type.Number(),
  total_latency_ms: Type.Number(),
  bytes_in: Type.Integer(),
  bytes_out: Type.Integer(),
  error_code: Type.String(),
  // The full record (docs/architecture.md, call-record fields); records stored before them read as ''/0.
  credential_id: Type.String(),
  plan_id: Type.String(),
  client_ip: Type.String(),
  user_agent: Type.String({ description: 'truncated to 256 characters' }),
  host: Type.String(),
  gateway_latency_ms: Type.Number({ description: 'total minus upstream' }),
  upstream_connect_ms: Type.Number({ description: 'dispatch until the request was written on a connection; 0 when not known' }),
  upstream_ttfb_ms: Type.Number(),
  upstream_addr: Type.String({ description: 'target host:port' }),
  ai_provider: Type.String(),
  ai_model: Type.String(),
  ai_prompt_tokens: Type.Integer(),
  ai_completion_tokens: Type.Integer(),
  ai_cached_tokens: Type.Integer({ description: 'prompt tokens served from the provider prompt cache (part of ai_prompt_tokens)' }),
  ai_cost_usd: Type.Number(),
  captured: Type.String({ description: 'call-capture: JSON of the captured, redacted headers and bodies; empty when none' }),
});

const TrendPointSchema = Type.Object({
  minute: Type.Integer({ description: 'minute start, ms since epoch' }),
  s2xx: Type.Integer(),
  s3xx: Type.Integer(),
  s4xx: Type.Integer(),
  s5xx: Type.Integer(),
  total: Type.Integer(),
});

const TimeseriesPointSchema = Type.Object({
  bucket: Type.Integer({ description: 'bucket start (minute or hour), ms since epoch' }),
  key: Type.String({ description: "the group's service, route or consumer id; empty when group_by=none" }),
  requests: Type.Integer(),
  errors: Type.Integer({ description: '5xx or a call tagged with an error code' }),
  bytes_in: Type.Integer(),
  bytes_out: Type.Integer(),
  latency_p50_ms: Type.Number(),
  latency_p95_ms: Type.Number(),
  latency_p99_ms: Type.Number(),
  prompt_tokens: Type.Integer({ description: 'AI prompt tokens summed over the bucket' }),
  completion_tokens: Type.Integer({ description: 'AI completion tokens summed over the bucket' }),
  cached_tokens: Type.Integer({ description: 'AI prompt tokens served from provider prompt caches (part of prompt_tokens), summed over the bucket' }),
  cost_usd: Type.Number({ description: 'AI cost in USD summed over the bucket' }),
  ai_calls: Type.Integer({ description: 'calls with an AI model recorded' }),
});
const TopEntrySchema = Type.Object({
  key: Type.String(),
  requests: Type.Integer(),
  errors: Type.Integer(),
  prompt_tokens: Type.Integer(),
  completion_tokens: Type.Integer(),
  cached_tokens: Type.Integer({ description: 'part of prompt_tokens: served from provider prompt caches' }),
  cost_usd: Type.Number(),
});

const idParam = (name: string, what: string): Json => ({ name, in: 'path', required: true, description: `${what} id`, schema: { type: 'string', format: 'uuid' } });
const pageOf = (name: string): Json => pageSchema(ref(name));
const QuotaLimitSchema = Type.Object({
  used: Type.Integer({ description: 'counted so far in the period, cluster-wide (aggregated within seconds)' }),
  limit: Type.Union([Type.Integer(), Type.Null()], { description: "the plan's limit; null when the quota sets none of this kind" }),
  remaining: Type.Union([Type.Integer(), Type.Null()], { description: 'max(0, limit - used); null without a limit' }),
});
const ConsumerUsageSchema = Type.Object({
  data: Type.Array(
    Type.Object({
      service_id: Type.String({ format: 'uuid' }),
      subscription_id: Type.String({ format: 'uuid' }),
      plan_id: Type.String({ format: 'uuid' }),
      period: Type.Union([Type.Literal('day'), Type.Literal('week'), Type.Literal('month')]),
      period_start: Type.String({ format: 'date-time', description: 'UTC: 00:00 of the day, Monday 00:00 of the ISO week, the 1st of the month' }),
      resets_at: Type.String({ format: 'date-time', description: 'the end of the period (exclusive)' }),
      requests: QuotaLimitSchema,
    }),
  ),
});
const timeParam = (name: string, what: string): Json => ({
  name,
  in: 'query',
  description: `${what}: ms since epoch or an ISO 8601 date-time`,
  schema: { type: 'string' },
});

export function buildOpenApi(): Json {
  const schemas: Json = {
    Error: plain(ErrorSchema),
    Status: plain(StatusSchema),
    ClusterNodes: plain(ClusterNodesSchema),
    ConfigRevision: plain(ConfigRevisionSchema),
    ApiKey: plain(ApiKey),
    ApiKeyCreate: plain(ApiKeyCreate),
    ApiKeyCreated: plain(ApiKeyCreated),
    ApiKeyUpdate: plain(ApiKeyUpdate),
    CallRecord: plain(CallRecordSchema),
    TrendPoint: plain(TrendPointSchema),
    TimeseriesPoint: plain(TimeseriesPointSchema),
    TopEntry: plain(TopEntrySchema),
    ConsumerUsage: plain(ConsumerUsageSchema),
    AiBudgetUsage: plain(AiBudgetUsage),
  };
  const paths: Json = {};
  const std = { '400': errorRef('BadRequest'), '401': errorRef('Unauthorized'), '403': errorRef('Forbidden') };

  for (const r of CRUD_RESOURCES) {
    const S = r.singular;
    schemas[S] = plain(r.entity);
    schemas[`${S}Create`] = plain(r.create);
    schemas[`${S}Update`] = plain(r.update);
    const writeErrors = { ...std, '409': errorRef('Conflict'), '422': errorRef('Unprocessable') };
    paths[`/v1/${r.plural}`] = {
      get: {
        tags: [r.plural],
        operationId: `list${S}s`,
        summary: `List ${r.plural} in creation order`,
        parameters: listParameters(r.filters),
        responses: { '200': { description: 'a page', ...json(pageOf(S)) }, ...std },
      },
      post: {
        tags: [r.plural],
        operationId: `create${S}`,
        summary: `Create a ${S.toLowerCase()}`,
        parameters: createParameters,
        requestBody: { required: true, ...json(ref(`${S}Create`)) },
        responses: { '201': { description: 'created (or the replay of an earlier create with the same Idempotency-Key)', headers: createdHeaders, ...json(ref(S)) }, ...writeErrors },
      },
    };
    paths[`/v1/${r.plural}/{id}`] = {
      parameters: [idParam('id', S.toLowerCase())],
      get: {
        tags: [r.plural],
        operationId: `get${S}`,
        parameters: readParameters,
        responses: { '200': { description: S, headers: etagHeaders, ...json(ref(S)) }, ...notModified, ...std, '404': errorRef('NotFound') },
      },
      patch: {
        tags: [r.plural],
        operationId: `update${S}`,
        summary: 'Partial update: only the given fields change',
        parameters: writeParameters,
        requestBody: { required: true, ...json(ref(`${S}Update`)) },
        responses: { '200': { description: 'updated', headers: etagHeaders, ...json(ref(S)) }, ...writeErrors, '404': errorRef('NotFound'), ...preconditionFailed },
      },
      put: {
        tags: [r.plural],
        operationId: `replace${S}`,
        summary: 'Full replacement: omitted optional fields take their defaults',
        parameters: writeParameters,
        requestBody: { required: true, ...json(ref(`${S}Create`)) },
        responses: { '200': { description: 'replaced', headers: etagHeaders, ...json(ref(S)) }, ...writeErrors, '404': errorRef('NotFound'), ...preconditionFailed },
      },
      delete: {
        tags: [r.plural],
        operationId: `delete${S}`,
        parameters: writeParameters,
        responses: { '204': { description: 'deleted' }, ...std, '404': errorRef('NotFound'), '409': errorRef('Conflict'), ...preconditionFailed },
      },
    };
  }

  addResourcePaths(paths, schemas);
  addPromptTemplateVersionPaths(paths, schemas);
  paths['/v1/plugin-types'] = pluginTypesPath();

  paths['/v1/consumers/{id}/keys'] = {
    parameters: [idParam('id', 'consumer')],
    get: { tags: ['keys'], operationId: 'listApiKeys', parameters: listParameters(['name']), responses: { '200': { description: 'a page (never the clear keys)', ...json(pageOf('ApiKey')) }, ...std, '404': errorRef('NotFound') } },
    post: {
      tags: ['keys'],
      operationId: 'createApiKey',
      summary: 'Create an API key; the response is the only time the clear key is shown',
      parameters: createParameters,
      requestBody: { required: false, ...json(ref('ApiKeyCreate')) },
      responses: {
        '201': {
          description: 'created: `ApiKeyCreated` with the clear key; an Idempotency-Key replay answers the `ApiKey` without it',
          headers: createdHeaders,
          ...json({ oneOf: [ref('ApiKeyCreated'), ref('ApiKey')] }),
        },
        ...std,
        '404': errorRef('NotFound'),
        '409': errorRef('Conflict'),
        '422': errorRef('Unprocessable'),
      },
    },
  };
  paths['/v1/consumers/{id}/keys/{keyId}'] = {
    parameters: [idParam('id', 'consumer'), idParam('keyId', 'api key')],
    get: {
      tags: ['keys'],
      operationId: 'getApiKey',
      parameters: readParameters,
      responses: { '200': { description: 'ApiKey', headers: etagHeaders, ...json(ref('ApiKey')) }, ...notModified, ...std, '404': errorRef('NotFound') },
    },
    patch: {
      tags: ['keys'],
      operationId: 'updateApiKey',
      summary: "Rename a key or set its expiry (rotation with overlap: expire the old key once the new one is out); the key itself never changes",
      parameters: writeParameters,
      requestBody: { required: true, ...json(ref('ApiKeyUpdate')) },
      responses: { '200': { description: 'updated', headers: etagHeaders, ...json(ref('ApiKey')) }, ...std, '404': errorRef('NotFound'), ...preconditionFailed },
    },
    delete: {
      tags: ['keys'],
      operationId: 'deleteApiKey',
      parameters: writeParameters,
      responses: { '204': { description: 'deleted' }, ...std, '404': errorRef('NotFound'), ...preconditionFailed },
    },
  };
  paths['/v1/consumers/{id}/usage'] = {
    parameters: [idParam('id', 'consumer')],
    get: {
      tags: ['consumers'],
      operationId: 'getConsumerUsage',
      summary: "Quota usage: for each approved subscription whose plan has quotas, each quota's current period (UTC) with used, limit, remaining and resets_at",
      responses: { '200': { description: 'usage per service and period', ...json(ref('ConsumerUsage')) }, ...std, '404': errorRef('NotFound') },
    },
  };
  paths['/v1/ai-budgets/{id}/usage'] = {
    parameters: [idParam('id', 'AI budget')],
    get: {
      tags: ['ai-budgets'],
      operationId: 'getAiBudgetUsage',
      summary: "The current period (UTC) of the budget from the gateway nodes' ledger (NATS KV): spent by settled calls, reserved by calls in flight, limit and remaining per dimension",
      responses: { '200': { description: 'the current period', ...json(ref('AiBudgetUsage')) }, ...std, '404': errorRef('NotFound'), '503': errorRef('Unavailable') },
    },
  };
  paths['/v1/status'] = {
    get: { tags: ['status'], operationId: 'getStatus', responses: { '200': { description: 'config revisions', ...json(ref('Status')) }, '401': errorRef('Unauthorized') } },
  };
  paths['/v1/cluster/nodes'] = {
    get: {
      tags: ['cluster'],
      operationId: 'listClusterNodes',
      summary: 'Gateway nodes, with the config revision each serves and its health (from node heartbeats)',
      responses: { '200': { description: 'nodes by id', ...json(ref('ClusterNodes')) }, '401': errorRef('Unauthorized') },
    },
  };
  paths['/v1/cache/invalidations'] = {
    post: {
      tags: ['cluster'],
      operationId: 'invalidateCache',
      summary:
        "Drop proxy-cache entries on every gateway node: a service's, a route's, or those under a path prefix (the tenant's services only). Exactly one of the three. Accepted once published to the nodes; each node drops its matching entries when it gets it",
      requestBody: { required: true, ...json(plain(CacheInvalidationInput)) },
      responses: { '202': { description: 'published to the nodes', ...json(plain(CacheInvalidationAccepted)) }, ...std, '404': errorRef('NotFound'), '503': errorRef('Unavailable') },
    },
  };
  paths['/v1/config/revision'] = {
    get: { tags: ['cluster'], operationId: 'getConfigRevision', responses: { '200': { description: 'config revisions', ...json(ref('ConfigRevision')) }, '401': errorRef('Unauthorized') } },
  };
  const filters: Json[] = [
    timeParam('from', 'inclusive start'),
    timeParam('to', 'exclusive end'),
    { name: 'service_id', in: 'query', schema: { type: 'string', format: 'uuid' } },
    { name: 'route_id', in: 'query', schema: { type: 'string', format: 'uuid' } },
    { name: 'consumer_id', in: 'query', schema: { type: 'string', format: 'uuid' } },
  ];
  const unavailable = { '503': errorRef('Unavailable') };
  paths['/v1/analytics/calls'] = {
    get: {
      tags: ['analytics'],
      operationId: 'listCalls',
      parameters: [
        ...filters,
        { name: 'status', in: 'query', schema: { type: 'integer', minimum: 100, maximum: 599 } },
        { name: 'status_class', in: 'query', description: '2 (or 2xx) for 2xx, ...', schema: { type: 'string' } },
        { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
        { name: 'offset', in: 'query', description: 'rows to skip (next_offset of the previous page)', schema: { type: 'integer', minimum: 0, maximum: 100000, default: 0 } },
        { name: 'request_id', in: 'query', schema: { type: 'string' } },
        { name: 'format', in: 'query', description: 'csv: an RFC 4180 CSV export (also chosen by Accept: text/csv)', schema: { type: 'string', enum: ['json', 'csv'] } },
      ],
      responses: {
        '200': {
          description: 'calls, newest first',
          content: {
            'application/json': {
              schema: { type: 'object', properties: { data: { type: 'array', items: ref('CallRecord') }, next_offset: { type: ['integer', 'null'] } } },
            },
            'text/csv': { schema: { type: 'string' } },
          },
        },
        ...std,
        ...unavailable,
      },
    },
  };
  paths['/v1/analytics/trend'] = {
    get: {
      tags: ['analytics'],
      operationId: 'getTrend',
      summary: 'Requests per minute by status class (default: the last hour)',
      parameters: filters,
      responses: { '200': { description: 'points', ...json({ type: 'object', properties: { data: { type: 'array', items: ref('TrendPoint') } } }) }, ...std, ...unavailable },
    },
  };
  paths['/v1/analytics/timeseries'] = {
    get: {
      tags: ['analytics'],
      operationId: 'getTimeseries',
      summary: 'Requests, errors, bytes and latency percentiles per minute or hour, from the rollups (default: the last hour)',
      parameters: [
        ...filters,
        { name: 'interval', in: 'query', description: 'default: minute up to 6 h, hour beyond; minute covers at most 2 days', schema: { type: 'string', enum: ['minute', 'hour'] } },
        { name: 'group_by', in: 'query', schema: { type: 'string', enum: ['none', 'service', 'route', 'consumer'], default: 'none' } },
      ],
      responses: {
        '200': {
          description: 'points, oldest first',
          ...json({
            type: 'object',
            properties: { interval: { type: 'string' }, group_by: { type: 'string' }, from: { type: 'integer' }, to: { type: 'integer' }, points: { type: 'array', items: ref('TimeseriesPoint') } },
          }),
        },
        ...std,
        ...unavailable,
      },
    },
  };
  paths['/v1/analytics/top'] = {
    get: {
      tags: ['analytics'],
      operationId: 'getTop',
      summary: 'Top N consumers, routes, services, error codes, AI models or AI providers by requests, AI cost or tokens (default: the last 24 hours)',
      parameters: [
        ...filters,
        {
          name: 'dimension',
          in: 'query',
          required: true,
          description: 'ai_model and ai_provider count AI calls only, in hour buckets whose start lies in [from, to)',
          schema: { type: 'string', enum: ['consumer', 'route', 'service', 'error_code', 'ai_model', 'ai_provider'] },
        },
        { name: 'order_by', in: 'query', description: 'tokens = prompt_tokens + completion_tokens', schema: { type: 'string', enum: ['requests', 'cost_usd', 'tokens'], default: 'requests' } },
        { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 10 } },
      ],
      responses: {
        '200': {
          description: 'entries, highest order_by first',
          ...json({
            type: 'object',
            properties: { dimension: { type: 'string' }, order_by: { type: 'string' }, from: { type: 'integer' }, to: { type: 'integer' }, data: { type: 'array', items: ref('TopEntry') } },
          }),
        },
        ...std,
        ...unavailable,
      },
    },
  };
  paths['/v1/analytics/consumers/{id}'] = {
    get: {
      tags: ['analytics'],
      operationId: 'getConsumerAnalytics',
      summary: "One consumer's totals (AI tokens and cost included), busiest routes and costliest AI models (default: the last 24 hours)",
      parameters: [idParam('id', 'consumer'), timeParam('from', 'inclusive start'), timeParam('to', 'exclusive end')],
      responses: {
        '200': {
          description: 'summary',
          ...json({
            type: 'object',
            properties: {
              consumer_id: { type: 'string' },
              from: { type: 'integer' },
              to: { type: 'integer' },
              requests: { type: 'integer' },
              errors: { type: 'integer' },
              bytes_in: { type: 'integer' },
              bytes_out: { type: 'integer' },
              prompt_tokens: { type: 'integer' },
              completion_tokens: { type: 'integer' },
              cached_tokens: { type: 'integer' },
              cost_usd: { type: 'number' },
              ai_calls: { type: 'integer' },
              top_routes: { type: 'array', items: ref('TopEntry') },
              top_models: { type: 'array', items: ref('TopEntry'), description: 'by cost_usd, from ai_usage_1h (hour buckets)' },
            },
          }),
        },
        ...std,
        '404': errorRef('NotFound'),
        ...unavailable,
      },
    },
  };
  Object.assign(schemas, adminSchemas());
  Object.assign(paths, adminPaths());
  // Every authenticated operation addresses a tenant (header; default `default`).
  for (const item of Object.values(paths) as Json[]) item.parameters = [...((item.parameters as Json[] | undefined) ?? []), tenantHeader];
  paths['/healthz'] = { get: { tags: ['status'], operationId: 'healthz', security: [], responses: { '200': { description: 'alive' } } } };
  paths['/v1/openapi.json'] = { get: { tags: ['status'], operationId: 'openapi', security: [], responses: { '200': { description: 'this document' } } } };

  const errResponse = (description: string): Json => ({ description, ...json(ref('Error')) });
  return {
    openapi: '3.1.0',
    info: { title: 'Turnpike admin API', version: '1.0.0', description: 'Configuration of a Turnpike cluster. Errors are `{error:{code,message,request_id,fields?}}`.' },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    tags: [...CRUD_RESOURCES.map((r) => ({ name: r.plural })), { name: 'keys' }, ...resourceTags(), { name: 'analytics' }, { name: 'status' }, { name: 'cluster' }, ...ADMIN_TAGS.map((name) => ({ name }))],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'admin token' } },
      schemas,
      parameters: httpComponents.parameters,
      headers: httpComponents.headers,
      responses: {
        BadRequest: errResponse('malformed JSON (TP_ERR_BAD_JSON) or invalid fields (TP_ERR_VALIDATION, with `fields`)'),
        Unauthorized: errResponse('missing (TP_ERR_AUTH_REQUIRED) or invalid (TP_ERR_AUTH_TOKEN_INVALID) admin token'),
        Forbidden: errResponse("the token's role or scopes do not allow this action in the tenant (TP_ERR_FORBIDDEN)"),
        NotFound: errResponse("no such entity (TP_ERR_NOT_FOUND); also another tenant's entity, or a tenant the token has no role in"),
        Conflict: errResponse('duplicate name or conflicting route (TP_ERR_CONFLICT), or still referenced (TP_ERR_IN_USE)'),
        Unprocessable: errResponse(
          'a referenced entity does not exist (TP_ERR_UNPROCESSABLE, with `fields`), or the Idempotency-Key was used for a different request (TP_ERR_UNPROCESSABLE)',
        ),
        PreconditionFailed: errResponse('If-Match did not match the entity\'s current ETag (TP_ERR_PRECONDITION_FAILED): re-read it and retry'),
        Unavailable: errResponse('analytics is not configured, or a secret must be sealed and no secret key is configured (TP_ERR_UNAVAILABLE)'),
      },
    },
  };
}
