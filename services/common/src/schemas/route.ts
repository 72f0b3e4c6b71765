import { Type, type Static } from '@sinclair/typebox';
import { Id, Name, Tags, Timestamps } from './common.js';

export const HttpMethod = Type.Union(
  ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].map((m) => Type.Literal(m)),
);
export type HttpMethod = Static<typeof HttpMethod>;

/**
 * A route path: `/` followed by segments; a segment is literal text or `{name}` matching exactly one
 * segment. Matching is by prefix on segment boundaries: `/users/{id}` matches `/users/7` and `/users/7/posts`.
 */
export const RoutePath = Type.String({
  pattern: '^/([A-Za-z0-9._~!$&\'()*+,;=:@%-]+|\\{[A-Za-z_][A-Za-z0-9_]{0,63}\\})?(/([A-Za-z0-9._~!$&\'()*+,;=:@%-]+|\\{[A-Za-z_][A-Za-z0-9_]{0,63}\\}))*/?$',
  maxLength: 1024,
});

export const KeyAuthConfig = Type.Object(
  {
    /** Header names searched in order for the key. */
    header_names: Type.Array(Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' }), { minItems: 1, maxItems: 8, default: ['apikey', 'x-api-key'] }),
    /** Remove the credential header before proxying. */
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
  /** Exact host names (no port); empty matches any host. */
  hosts: Type.Array(Type.String({ pattern: '^[A-Za-z0-9.-]{1,253}$' }), { maxItems: 64, default: [] }),
  paths: Type.Array(RoutePath, { minItems: 1, maxItems: 64 }),
  /** Empty matches any method. */
  methods: Type.Array(HttpMethod, { maxItems: 7, default: [] }),
  /** Remove the matched path prefix before forwarding. */
  strip_path: Type.Boolean({ default: false }),
  /** Higher wins among routes that match equally specifically. */
  priority: Type.Integer({ minimum: -1000, maximum: 1000, default: 0 }),
  plugins: RoutePlugins,
  tags: Tags,
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
  },
  { additionalProperties: false },
);
export type RouteCreate = Static<typeof RouteCreate>;
export const RouteUpdate = Type.Partial(RouteCreate, { additionalProperties: false });
export type RouteUpdate = Static<typeof RouteUpdate>;

export const Route = Type.Object({ id: Id, ...routeFields, ...Timestamps });
export type Route = Static<typeof Route>;
