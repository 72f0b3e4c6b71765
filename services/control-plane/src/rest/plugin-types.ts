// GET /v1/plugin-types: the plugin types this control plane accepts, with each config's JSON Schema (the
// same schema writes are validated against) and the scopes each may be attached at.
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { PLUGIN_PHASES, PLUGIN_SCOPE_KINDS, PLUGIN_TYPES } from '@turnpike/common';

/** typebox schemas carry symbol-keyed metadata; the answer is plain JSON Schema. */
const plain = (s: TSchema): Record<string, unknown> => JSON.parse(JSON.stringify(s)) as Record<string, unknown>;

export const PluginTypeInfo = Type.Object({
  name: Type.String(),
  description: Type.String(),
  phase: Type.Union(PLUGIN_PHASES.map((p) => Type.Literal(p)), { description: 'when it runs: pre-auth, then auth, then access' }),
  scopes: Type.Array(Type.Union(PLUGIN_SCOPE_KINDS.map((k) => Type.Literal(k)))),
  config_schema: Type.Record(Type.String(), Type.Unknown(), { description: 'JSON Schema of `config`, defaults included' }),
});

export function pluginTypesBody(): { data: Record<string, unknown>[] } {
  return {
    data: PLUGIN_TYPES.map((t) => ({ name: t.name, description: t.description, phase: t.phase, scopes: [...t.scopes], config_schema: plain(t.config) })),
  };
}

/** OpenAPI path item of the endpoint. */
export function pluginTypesPath(): Record<string, unknown> {
  return {
    get: {
      tags: ['plugins'],
      operationId: 'listPluginTypes',
      summary: 'Plugin types with their config JSON Schemas and allowed scopes',
      responses: {
        '200': { description: 'plugin types', content: { 'application/json': { schema: plain(Type.Object({ data: Type.Array(PluginTypeInfo) })) } } },
        '401': { $ref: '#/components/responses/Unauthorized' },
      },
    },
  };
}

export function installPluginTypeRoutes(app: FastifyInstance): void {
  const body = JSON.stringify(pluginTypesBody());
  app.get('/v1/plugin-types', async (_req, reply) => reply.type('application/json').send(body));
}
