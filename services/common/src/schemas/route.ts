import { Type, type Static } from '@sinclair/typebox';
import { Id, Name, Tags, Timestamps } from './common.js';
export * from './route-rules.js';

export const HttpMethod = Type.Union(
  ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].map((m) => Type.Literal(m)),
);
export type HttpMethod = Static<typeof HttpMethod>;

/**
 * A route path, one of:
 * - `/` followed by segments; a segment is literal text or `{name}` matching exactly one segment. Matching
 *   is by prefix on segment boundaries: `/users/{id}` matches `/users/7` and `/users/7/posts`. The last
 *   segment may be a catch-all `{name*}`: it matches the rest of the path (zero or more segments) and binds it.
 * - `~` followed by a regular expression (JavaScript syntax), matched anchored at the start of the path;
 *   named groups `(?<id>...)` become params. Checked at write time by `routePathProblem()`.
 */
const SEG = "([A-Za-z0-9._~!$&'()*+,;=:@%-]+|\\{[A-Za-z_][A-Za-z0-9_]{0,63}\\})";
const CATCH_ALL = '\\{[A-Za-z_][A-Za-z0-9_]{0,63}\\*\\}';
export const RoutePath = Type.String({
  pattern: `^(~.+|/${CATCH_ALL}|/${SEG}?(/${SEG})*(/${CATCH_ALL}|/?))$`,
  maxLength: 1024,
});

/** Exact (`api.example.com`), leading wildcard (`*.example.com`) or trailing wildcard (`api.*`); no port. */
export const RouteHost = Type.String({
  pattern: '^(\\*\\.[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*|[A-Za-z0-9.-]{1,253}|[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\.\\*)$',
  maxLength: 253,
});

export const MatchKind = Type.Union([Type.Literal('exact'), Type.Literal('prefix'), Type.Literal('regex'), Type.Literal('present'), Type.Literal('absent')]);
export type MatchKind = Static<typeof MatchKind>;

const matcherFields = {
  match: MatchKind,
  /** Required except for `present` / `absent` (checked by `routeProblems()`). */
  value: Type.Optional(Type.String({ maxLength: 1024 })),
  ignore_case: Type.Optional(Type.Boolean()),
};
/** A request header condition; `name` is the lower-case header name. */
export const HeaderMatcher = Type.Object(
  { name: Type.String({ pattern: "^[a-z0-9!#$%&'*+.^_`|~-]{1,128}$" }), ...matcherFields },
  { additionalProperties: false },
);
/** A query-string parameter condition; `name` is the decoded parameter name (case-sensitive). */
export const QueryMatcher = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f]+$' }), ...matcherFields },
  { additionalProperties: false },
);
export interface RouteMatcher {
  name: string;
  match: MatchKind;
  value?: string;
  ignore_case?: boolean;
}

/** Which gateway pools serve the route (`TP_STAGES`); null: every node. */
export const RouteStage = Type.Union([Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' }), Type.Null()], { default: null });

export const KeyAuthConfig = Type.Object(
  {
    /** Header names searched in order for the key. */
    header_names: Type.Array(Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' }), { minItems: 1, maxItems: 8, default: ['apikey', 'x-api-key'] }),
    /**
     * Query parameters searched in order when no header has a key (case-sensitive). Absent or []: headers
     * only (no default is filled in, so configs written before this field read back unchanged).
     */
    query_names: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.~-]{1,64}$' }), { maxItems: 8, uniqueItems: true })),
    /** Remove the credential header (and query parameter) before proxying. */
    hide_credentials: Type.Boolean({ default: true }),
  },
  { additionalProperties: false },
);
export type KeyAuthConfig = Static<typeof KeyAuthConfig>;

export const RoutePlugins = Type.Object(
  { 'key-auth': Type.Optional(Type.Partial(KeyAuthConfig, { additionalProperties: false })) },
  { additionalProperties: false, default: {} },
);
export type RoutePlugins = Static<typeof RoutePlugins>;

const routeFields = {
  name: Name,
  service_id: Id,
  /** Host names or wildcards (no port), case-insensitive; empty matches any host. */
  hosts: Type.Array(RouteHost, { maxItems: 64, default: [] }),
  paths: Type.Array(RoutePath, { minItems: 1, maxItems: 64 }),
  /** Empty matches any method. */
  methods: Type.Array(HttpMethod, { maxItems: 7, default: [] }),
  /** Remove the matched path prefix before forwarding. */
  strip_path: Type.Boolean({ default: false }),
  /** Higher wins among routes that match equally specifically. */
  priority: Type.Integer({ minimum: -1000, maximum: 1000, default: 0 }),
  plugins: RoutePlugins,
  tags: Tags,
  /** All must hold (AND); empty: no condition. */
  headers: Type.Array(HeaderMatcher, { maxItems: 32, default: [] }),
  query: Type.Array(QueryMatcher, { maxItems: 32, default: [] }),
  stage: RouteStage,
};

export const RouteCreate = Type.Object(
  {
    ...routeFields,
    hosts: Type.Optional(routeFields.hosts),
    methods: Type.Optional(routeFields.methods),
    strip_path: Type.Optional(routeFields.strip_path),
    priority: Type.Optional(routeFields.priority),
    plugins: Type.Optional(routeFields.plugins),
    tags: Type.Optional(Tags),
    headers: Type.Optional(routeFields.headers),
    query: Type.Optional(routeFields.query),
    stage: Type.Optional(RouteStage),
  },
  { additionalProperties: false },
);
export type RouteCreate = Static<typeof RouteCreate>;
export const RouteUpdate = Type.Partial(RouteCreate, { additionalProperties: false });
export type RouteUpdate = Static<typeof RouteUpdate>;

// Entities written before headers/query/stage existed lack them: the defaults fill them in on nodes.
export const Route = Type.Object({ id: Id, ...routeFields, ...Timestamps });
export type Route = Static<typeof Route>;
