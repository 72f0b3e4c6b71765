import { Type, type Static } from '@sinclair/typebox';
import { Id, Name, Tags, Timestamps } from './common.js';

export const Target = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:\\[\\]_-]+$' }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    weight: Type.Integer({ minimum: 0, maximum: 1000, default: 100 }),
  },
  { additionalProperties: false },
);
export type Target = Static<typeof Target>;

const upstreamFields = {
  name: Name,
  scheme: Type.Union([Type.Literal('http'), Type.Literal('https')], { default: 'http' }),
  targets: Type.Array(Target, { minItems: 1, maxItems: 256 }),
  /** Time to establish the TCP connection. */
  connect_timeout_ms: Type.Integer({ minimum: 1, maximum: 600_000, default: 5_000 }),
  /** Time to the first response byte, and between bytes after that. */
  read_timeout_ms: Type.Integer({ minimum: 1, maximum: 3_600_000, default: 60_000 }),
  tags: Tags,
};

export const UpstreamCreate = Type.Object(
  {
    ...upstreamFields,
    scheme: Type.Optional(upstreamFields.scheme),
    connect_timeout_ms: Type.Optional(upstreamFields.connect_timeout_ms),
    read_timeout_ms: Type.Optional(upstreamFields.read_timeout_ms),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false },
);
export type UpstreamCreate = Static<typeof UpstreamCreate>;
export const UpstreamUpdate = Type.Partial(UpstreamCreate, { additionalProperties: false });
export type UpstreamUpdate = Static<typeof UpstreamUpdate>;

export const Upstream = Type.Object({ id: Id, ...upstreamFields, ...Timestamps });
export type Upstream = Static<typeof Upstream>;
