import { Type, type Static } from '@sinclair/typebox';
import { Id, Name, Tags, Timestamps } from './common.js';

/**
 * Where a service is in its life. Only `published` and `deprecated` services route; `deprecated` ones
 * answer with `Deprecation`/`Sunset` headers. Transitions: draft→published, published⇄deprecated,
 * published|deprecated→retired; retired is final.
 */
export const ServiceLifecycle = Type.Union(
  [Type.Literal('draft'), Type.Literal('published'), Type.Literal('deprecated'), Type.Literal('retired')],
  { default: 'published' },
);
export type ServiceLifecycle = Static<typeof ServiceLifecycle>;

const serviceFields = {
  name: Name,
  upstream_id: Id,
  /** Prepended to the forwarded path, e.g. `/api` turns `/users` into `/api/users`. Empty for none. */
  base_path: Type.String({ pattern: '^(/[^?#\\s]*)?$', maxLength: 1024, default: '' }),
  tags: Tags,
  // Defaults keep configs written before lifecycles existed routing as before.
  lifecycle: Type.Optional(ServiceLifecycle),
  /** The API's own version label (free text, e.g. `v2` or `2024-06-01`). */
  version: Type.Optional(Type.String({ maxLength: 64, default: '' })),
  /** When a deprecated service stops being served (RFC 8594 `Sunset`); null for none. */
  sunset_at: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
  catalog_visibility: Type.Optional(Type.Union([Type.Literal('public'), Type.Literal('private')], { default: 'private' })),
  /** The attached OpenAPI document (admin-side only: never sent to the data plane). */
  openapi: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
};

export const ServiceCreate = Type.Object(
  { ...serviceFields, base_path: Type.Optional(serviceFields.base_path), tags: Type.Optional(Tags) },
  { additionalProperties: false },
);
export type ServiceCreate = Static<typeof ServiceCreate>;
export const ServiceUpdate = Type.Partial(ServiceCreate, { additionalProperties: false });
export type ServiceUpdate = Static<typeof ServiceUpdate>;

export const Service = Type.Object({ id: Id, ...serviceFields, ...Timestamps });
export type Service = Static<typeof Service>;
