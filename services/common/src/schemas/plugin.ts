import { Type, type Static } from '@sinclair/typebox';
import { Id, Name, Tags, Timestamps } from './common.js';

/**
 * Where a plugin instance applies. Empty: globally (every route). At most one of `service_id` / `route_id`,
 * optionally with `consumer_id` (that consumer's requests only; only types whose scopes include `consumer`).
 */
export const PluginScope = Type.Object(
  {
    service_id: Type.Optional(Id),
    route_id: Type.Optional(Id),
    consumer_id: Type.Optional(Id),
  },
  { additionalProperties: false, default: {} },
);
export type PluginScope = Static<typeof PluginScope>;

/** The config is checked against its type's schema (GET /v1/plugin-types) at write time, defaults filled. */
export const PluginConfigObject = Type.Record(Type.String(), Type.Unknown(), { default: {} });

const pluginFields = {
  /** Optional label (not unique). */
  name: Type.Optional(Name),
  /** A plugin type's name (`key-auth`, `request-size-limiting`); cannot change after creation. */
  type: Type.String({ minLength: 1, maxLength: 64 }),
  /** A disabled instance is kept but has no effect (the gateway ignores it). */
  enabled: Type.Boolean({ default: true }),
  scope: PluginScope,
  config: PluginConfigObject,
  tags: Tags,
};

export const PluginCreate = Type.Object(
  {
    name: pluginFields.name,
    type: pluginFields.type,
    enabled: Type.Optional(pluginFields.enabled),
    scope: Type.Optional(PluginScope),
    config: Type.Optional(PluginConfigObject),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false },
);
export type PluginCreate = Static<typeof PluginCreate>;
export const PluginUpdate = Type.Partial(PluginCreate, { additionalProperties: false });
export type PluginUpdate = Static<typeof PluginUpdate>;
export const Plugin = Type.Object({ id: Id, ...pluginFields, ...Timestamps });
export type Plugin = Static<typeof Plugin>;
