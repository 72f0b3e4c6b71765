import { Type, type Static } from '@sinclair/typebox';
import { Id, Name, Tags, Timestamps } from './common.js';

/** A named set of consumers (membership is the consumer's `group_ids`): the unit ACLs and plans address. */
const groupFields = {
  name: Name,
  description: Type.String({ maxLength: 1024, default: '' }),
  tags: Tags,
};

export const ConsumerGroupCreate = Type.Object(
  { name: groupFields.name, description: Type.Optional(groupFields.description), tags: Type.Optional(Tags) },
  { additionalProperties: false },
);
export type ConsumerGroupCreate = Static<typeof ConsumerGroupCreate>;
export const ConsumerGroupUpdate = Type.Partial(ConsumerGroupCreate, { additionalProperties: false });
export const ConsumerGroup = Type.Object({ id: Id, ...groupFields, ...Timestamps });
export type ConsumerGroup = Static<typeof ConsumerGroup>;
