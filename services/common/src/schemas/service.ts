import { Type, type Static } from '@sinclair/typebox';
import { Id, Name, Tags, Timestamps } from './common.js';

const serviceFields = {
  name: Name,
  upstream_id: Id,
  /** Prepended to the forwarded path, e.g. `/api` turns `/users` into `/api/users`. Empty for none. */
  base_path: Type.String({ pattern: '^(/[^?#\\s]*)?$', maxLength: 1024, default: '' }),
  tags: Tags,
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
