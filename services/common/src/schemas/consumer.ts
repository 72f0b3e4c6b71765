import { Type, type Static } from '@sinclair/typebox';
import { Id, Name, Tags, Timestamps } from './common.js';

const consumerFields = {
  username: Name,
  custom_id: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  tags: Tags,
  /** The consumer groups (ids) it belongs to. */
  group_ids: Type.Array(Id, { maxItems: 64, uniqueItems: true, default: [] }),
};

export const ConsumerCreate = Type.Object(
  { ...consumerFields, tags: Type.Optional(Tags), group_ids: Type.Optional(consumerFields.group_ids) },
  { additionalProperties: false },
);
export type ConsumerCreate = Static<typeof ConsumerCreate>;
export const ConsumerUpdate = Type.Partial(ConsumerCreate, { additionalProperties: false });
export type ConsumerUpdate = Static<typeof ConsumerUpdate>;

export const Consumer = Type.Object({ id: Id, ...consumerFields, ...Timestamps });
export type Consumer = Static<typeof Consumer>;
