import { Type } from '@sinclair/typebox';

/** Names: lowercase letters, digits, `-`, `_`, `.`; 1–128 chars. Unique per resource type. */
export const Name = Type.String({ pattern: '^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$', description: 'unique name' });
export const Id = Type.String({ format: 'uuid' });
export const Tags = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 32, default: [] });
export const Timestamps = {
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
};
