// What the control plane pushes to the data plane: one KV key per entity, `<kind>.<id>`, whose value is a
// JSON envelope carrying the config revision that produced it. Secrets never travel in clear.
import type { Consumer, Route, Service, Upstream } from './schemas/index.js';

/** API key as the data plane sees it: only the SHA-256 (hex) of the key. */
export interface ApiKeyConfig {
  id: string;
  consumer_id: string;
  key_sha256: string;
  /** When the key stops working (RFC 3339); absent or null: never. */
  expires_at?: string | null;
}

/**
 * The data-plane form of a resource kept by the control plane's generic resource store (consumer groups,
 * credentials, plans, subscriptions, plugins, AI providers, prompt templates): its public fields plus, for
 * kinds with secrets, sealed or hashed secret material — never a clear secret.
 */
export interface ResourceConfig {
  id: string;
  [field: string]: unknown;
}

/**
 * A service's attached OpenAPI document as the data plane receives it, under `openapi_docs.<service id>`
 * (the `services.<id>` envelope leaves the document out: up to a megabyte, and only request validation
 * reads it). Present while the service has a document; `id` and `service_id` are both the service's id.
 */
export interface OpenApiDocConfig {
  id: string;
  service_id: string;
  document: Record<string, unknown>;
}

export interface EntityByKind {
  upstreams: Upstream;
  services: Service;
  routes: Route;
  consumers: Consumer;
  keys: ApiKeyConfig;
  consumer_groups: ResourceConfig;
  credentials: ResourceConfig;
  plans: ResourceConfig;
  subscriptions: ResourceConfig;
  plugins: ResourceConfig;
  ai_providers: ResourceConfig;
  prompt_templates: ResourceConfig;
  ai_budgets: ResourceConfig;
  certificates: ResourceConfig;
  openapi_docs: OpenApiDocConfig;
}
export type EntityKind = keyof EntityByKind;
/** The kinds with their own tables and schemas in the control plane. */
export type CoreEntityKind = 'upstreams' | 'services' | 'routes' | 'consumers' | 'keys';
export const CORE_ENTITY_KINDS: readonly CoreEntityKind[] = ['upstreams', 'services', 'routes', 'consumers', 'keys'];
/** Kinds the control plane derives from another entity (`openapi_docs` from services): no admin API of their own. */
export type DerivedEntityKind = 'openapi_docs';
/** The kinds kept by the generic resource store. */
export type ResourceKind = Exclude<EntityKind, CoreEntityKind | DerivedEntityKind>;
/**
 * The kinds the data plane receives as plain records, validated by the control plane (the gateway applies
 * no schema of its own): those the generic resource store keeps, and the derived kinds.
 */
export const RESOURCE_KINDS: readonly (ResourceKind | DerivedEntityKind)[] = [
  'consumer_groups',
  'credentials',
  'plans',
  'subscriptions',
  'plugins',
  'ai_providers',
  'prompt_templates',
  'ai_budgets',
  'certificates',
  'openapi_docs',
];
export const ENTITY_KINDS: readonly EntityKind[] = [...CORE_ENTITY_KINDS, ...RESOURCE_KINDS];

export interface ConfigEnvelope<K extends EntityKind = EntityKind> {
  kind: K;
  revision: number;
  data: EntityByKind[K];
}

/** `meta.revision` holds `{ revision }`: the last config revision fully published to the bucket. */
export const META_REVISION_KEY = 'meta.revision';

export function entityKey(kind: EntityKind, id: string): string {
  return `${kind}.${id}`;
}

export function parseEntityKey(key: string): { kind: EntityKind; id: string } | null {
  const dot = key.indexOf('.');
  if (dot <= 0) return null;
  const kind = key.slice(0, dot) as EntityKind;
  if (!ENTITY_KINDS.includes(kind)) return null;
  const id = key.slice(dot + 1);
  return id ? { kind, id } : null;
}

/** Bucket per cluster: `turnpike_config_<cluster>`. */
export function configBucketName(cluster: string): string {
  return `turnpike_config_${cluster}`;
}
