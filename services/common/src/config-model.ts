// What the control plane pushes to the data plane: one KV key per entity, `<kind>.<id>`, whose value is a
// JSON envelope carrying the config revision that produced it. Secrets never travel in clear.
import type { Consumer, Route, Service, Upstream } from './schemas/index.js';

/** API key as the data plane sees it: only the SHA-256 (hex) of the key. */
export interface ApiKeyConfig {
  id: string;
  consumer_id: string;
  key_sha256: string;
}

export interface EntityByKind {
  upstreams: Upstream;
  services: Service;
  routes: Route;
  consumers: Consumer;
  keys: ApiKeyConfig;
}
export type EntityKind = keyof EntityByKind;
export const ENTITY_KINDS: readonly EntityKind[] = ['upstreams', 'services', 'routes', 'consumers', 'keys'];

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
