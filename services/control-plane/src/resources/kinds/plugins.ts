// Plugins: an instance of a plugin type (services/common/src/plugins) attached globally or to a service,
// route or consumer. The type decides the config's schema and the scopes it may be attached at; both are
// checked here at write time, so the gateway only ever compiles valid config.
import {
  Plugin,
  PluginCreate,
  aclPlugin,
  PluginUpdate,
  PLUGIN_TYPES,
  TurnpikeError,
  pluginTypeOf,
  type AclConfig,
  type FieldError,
  type PluginScope,
  type PluginScopeKind,
  type PluginType,
} from '@turnpike/common';
import { parse } from '../../validation/validator.js';
import type { Reference, ResourceDef, ResourceDoc } from '../definition.js';
import { pluginDataPlane, preparePluginSecrets } from './plugin-secrets.js';
import { assertPluginDocsUsable } from '../../service/openapi-usable.js';

/** The scope kinds an attachment needs its type to allow (service + consumer needs both). */
export function scopeKindsOf(scope: PluginScope): PluginScopeKind[] {
  const kinds: PluginScopeKind[] = [];
  if (scope.service_id !== undefined) kinds.push('service');
  if (scope.route_id !== undefined) kinds.push('route');
  if (scope.consumer_id !== undefined) kinds.push('consumer');
  return kinds.length === 0 ? ['global'] : kinds;
}

function describeScope(type: string, s: PluginScope): string {
  const on = s.route_id ? ` on route ${s.route_id}` : s.service_id ? ` on service ${s.service_id}` : s.consumer_id ? '' : ' globally';
  return `${type}${on}${s.consumer_id ? ` for consumer ${s.consumer_id}` : ''}`;
}

function unprocessable(path: string, message: string, detail: string): TurnpikeError {
  return new TurnpikeError('TP_ERR_UNPROCESSABLE', `${path.slice(1)}: ${detail}`, [{ path, message }]);
}

/**
 * Validates `config` against the type's schema with defaults filled (400), then against the type's own
 * rules (`problems`: 422); field paths rebased under /config.
 */
export function parsePluginConfig(type: PluginType, config: unknown): Record<string, unknown> {
  let parsed: Record<string, unknown>;
  try {
    parsed = parse(type.config, config ?? {}, { defaults: true }) as Record<string, unknown>;
  } catch (e) {
    if (!(e instanceof TurnpikeError) || e.code !== 'TP_ERR_VALIDATION') throw e;
    const fields: FieldError[] = (e.fields ?? [{ path: '', message: e.message }]).map((f) => ({ path: `/config${f.path}`, message: f.message }));
    const first = fields[0]!;
    const more = fields.length > 1 ? ` (and ${fields.length - 1} more)` : '';
    throw new TurnpikeError('TP_ERR_VALIDATION', `${first.path} ${first.message}${more} (${type.name} config)`, fields);
  }
  const problems = (type.problems?.(parsed) ?? []).map((f) => ({ path: `/config${f.path}`, message: f.message }));
  if (problems.length > 0) {
    const text = problems.map((f) => `${f.path.slice(1)}: ${f.message}`).join('; ');
    throw new TurnpikeError('TP_ERR_UNPROCESSABLE', `${text} (${type.name} config)`, problems);
  }
  return parsed;
}

function lowerIds(scope: PluginScope): PluginScope {
  const out: PluginScope = {};
  if (scope.service_id !== undefined) out.service_id = scope.service_id.toLowerCase();
  if (scope.route_id !== undefined) out.route_id = scope.route_id.toLowerCase();
  if (scope.consumer_id !== undefined) out.consumer_id = scope.consumer_id.toLowerCase();
  return out;
}

export const plugins: ResourceDef = {
  kind: 'plugins',
  path: 'plugins',
  singular: 'plugin',
  title: 'Plugin',
  create: PluginCreate,
  update: PluginUpdate,
  entity: Plugin,
  immutable: ['type'],
  nameOf: (d) => (typeof d.name === 'string' ? d.name : null),
  filters: { type: 'type' },
  // Secret config settings (the type's secretFields) are sealed into the instance's material: never in its config.
  secrets: {
    prepare({ doc, prior, id, keyring }) {
      const type = pluginTypeOf(String(doc.type));
      return type ? preparePluginSecrets(type, { doc, prior, id, keyring }) : { doc, material: null };
    },
  },
  dataPlane: pluginDataPlane,
  // Returns the doc normalized: scope ids lower-cased, the config with its type's defaults (what is stored).
  async check(doc: ResourceDoc, { tx, tenantId }): Promise<ResourceDoc> {
    const type = pluginTypeOf(String(doc.type));
    if (!type) {
      const known = PLUGIN_TYPES.map((t) => JSON.stringify(t.name)).join(', ');
      throw unprocessable('/type', `must be one of: ${known}`, `unknown plugin type ${JSON.stringify(doc.type)}; known types: ${known}`);
    }
    const scope = lowerIds((doc.scope ?? {}) as PluginScope);
    if (scope.service_id !== undefined && scope.route_id !== undefined) {
      throw unprocessable('/scope', 'must name at most one of service_id and route_id', 'a plugin attaches to a service or to a route, not both');
    }
    const needed = scopeKindsOf(scope);
    const refused = needed.filter((k) => !type.scopes.includes(k));
    if (refused.length > 0) {
      throw unprocessable(
        '/scope',
        `${type.name} cannot be attached at scope ${refused.join(' + ')}; allowed: ${type.scopes.join(', ')}`,
        `${type.name} cannot be attached at scope ${refused.join(' + ')} (allowed: ${type.scopes.join(', ')})`,
      );
    }
    const config = parsePluginConfig(type, doc.config);
    // Group ids as stored (lower case), so the gateway's membership test and the references match them.
    if (type.name === aclPlugin.name) for (const list of ['allow', 'deny']) config[list] = [...new Set((config[list] as string[]).map((id) => id.toLowerCase()))];
    // The service documents it would read must be usable (docs/configuration.md, request-validation).
    await assertPluginDocsUsable(tx, tenantId, { ...doc, scope, config });
    return { ...doc, scope, config };
  },
  unique: (d) => [{ field: '/scope', value: describeScope(String(d.type), (d.scope ?? {}) as PluginScope), scope: 'tenant' }],
  references(d) {
    const s = (d.scope ?? {}) as PluginScope;
    const refs: Reference[] = [];
    if (s.service_id) refs.push({ field: '/scope/service_id', kind: 'services', id: s.service_id, onDelete: 'cascade' });
    if (s.route_id) refs.push({ field: '/scope/route_id', kind: 'routes', id: s.route_id, onDelete: 'cascade' });
    if (s.consumer_id) refs.push({ field: '/scope/consumer_id', kind: 'consumers', id: s.consumer_id, onDelete: 'cascade' });
    // An ACL's groups must exist, and a group an ACL names cannot be deleted: dropping it silently would
    // widen an allow-list's meaning (or open a deny-list).
    if (d.type === aclPlugin.name) {
      const cfg = (d.config ?? {}) as Partial<AclConfig>;
      for (const list of ['allow', 'deny'] as const) {
        (cfg[list] ?? []).forEach((id, i) => refs.push({ field: `/config/${list}/${i}`, kind: 'consumer_groups', id, onDelete: 'restrict' }));
      }
    }
    return refs;
  },
};
