// The resource kinds the console manages. Forms come from the OpenAPI document (POST and PATCH request
// bodies of `path` and `path/{id}`); this table only says what to call them and which columns to list.

export interface ResourceDef {
  key: string;
  label: string;
  singular: string;
  path: string;
  /** The field that names an entity (consumers: username). */
  nameField: string;
  columns: string[];
  /** No PATCH: edited by PUT (members) or not at all. */
  noEdit?: boolean;
  /** What the create answer carries only once (API keys, tokens). */
  secretField?: string;
}

export const RESOURCES: ResourceDef[] = [
  { key: 'upstreams', label: 'Upstreams', singular: 'upstream', path: '/v1/upstreams', nameField: 'name', columns: ['name', 'targets', 'algorithm', 'tags'] },
  { key: 'services', label: 'Services', singular: 'service', path: '/v1/services', nameField: 'name', columns: ['name', 'upstream_id', 'lifecycle', 'version', 'tags'] },
  { key: 'routes', label: 'Routes', singular: 'route', path: '/v1/routes', nameField: 'name', columns: ['name', 'service_id', 'paths', 'methods', 'tags'] },
  { key: 'consumers', label: 'Consumers', singular: 'consumer', path: '/v1/consumers', nameField: 'username', columns: ['username', 'custom_id', 'tags'] },
  { key: 'consumer-groups', label: 'Consumer groups', singular: 'consumer group', path: '/v1/consumer-groups', nameField: 'name', columns: ['name', 'description', 'tags'] },
  { key: 'plans', label: 'Plans', singular: 'plan', path: '/v1/plans', nameField: 'name', columns: ['name', 'approval', 'rate_limit', 'quotas'] },
  { key: 'subscriptions', label: 'Subscriptions', singular: 'subscription', path: '/v1/subscriptions', nameField: 'id', columns: ['consumer_id', 'service_id', 'plan_id', 'status', 'note'] },
  { key: 'plugins', label: 'Plugins', singular: 'plugin', path: '/v1/plugins', nameField: 'name', columns: ['name', 'type', 'scope', 'enabled'] },
  { key: 'certificates', label: 'Certificates', singular: 'certificate', path: '/v1/certificates', nameField: 'name', columns: ['name', 'snis', 'not_after', 'tags'] },
  { key: 'ai-providers', label: 'AI providers', singular: 'AI provider', path: '/v1/ai-providers', nameField: 'name', columns: ['name', 'type', 'base_url', 'default_model'] },
  { key: 'prompt-templates', label: 'Prompt templates', singular: 'prompt template', path: '/v1/prompt-templates', nameField: 'name', columns: ['name', 'provider_id', 'model', 'description'] },
  { key: 'ai-budgets', label: 'AI budgets', singular: 'AI budget', path: '/v1/ai-budgets', nameField: 'name', columns: ['name', 'scope', 'period', 'limits', 'enabled'] },
  { key: 'tokens', label: 'Admin tokens', singular: 'admin token', path: '/v1/tokens', nameField: 'name', columns: ['name', 'prefix', 'role', 'superuser', 'expires_at'], noEdit: true, secretField: 'token' },
  { key: 'users', label: 'Users', singular: 'user', path: '/v1/users', nameField: 'name', columns: ['name', 'created_at'], noEdit: true },
  { key: 'tenants', label: 'Tenants', singular: 'tenant', path: '/v1/tenants', nameField: 'name', columns: ['name', 'created_at'] },
];

export function resourceByKey(key: string): ResourceDef | undefined {
  return RESOURCES.find((r) => r.key === key);
}

export const LIFECYCLE_ACTIONS: Record<string, Array<{ to: string; label: string }>> = {
  draft: [{ to: 'published', label: 'Publish' }],
  published: [{ to: 'deprecated', label: 'Deprecate' }],
  deprecated: [
    { to: 'published', label: 'Publish' },
    { to: 'retired', label: 'Retire' },
  ],
  retired: [{ to: 'published', label: 'Publish' }],
};
