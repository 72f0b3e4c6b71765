// Reads the live config from the admin API and puts it in the file's normalized form (references by name,
// server-only fields dropped), keeping each entity's id for the operations that follow.
import type { ApiKey, Consumer, Route, Service, Upstream } from '@turnpike/common';
import type { AdminClient } from './admin-client.js';
import type { ConsumerSpec, DeclarativeConfig, RouteSpec, ServiceSpec, UpstreamSpec } from './file-format.js';

export type WithId<T> = T & { id: string };

export interface CurrentKey {
  id: string;
  /** null for keys created without a name: declarative config does not manage those. */
  name: string | null;
}

export interface CurrentState {
  upstreams: Array<WithId<UpstreamSpec>>;
  services: Array<WithId<ServiceSpec>>;
  routes: Array<WithId<RouteSpec>>;
  consumers: Array<WithId<Omit<ConsumerSpec, 'keys'>> & { keys: CurrentKey[] }>;
}

export async function fetchCurrentState(client: AdminClient): Promise<CurrentState> {
  const [upstreams, services, routes, consumers] = await Promise.all([
    client.listAll<Upstream>('/v1/upstreams'),
    client.listAll<Service>('/v1/services'),
    client.listAll<Route>('/v1/routes'),
    client.listAll<Consumer>('/v1/consumers'),
  ]);
  const keys = await Promise.all(consumers.map(async (c) => await client.listAll<ApiKey>(`/v1/consumers/${c.id}/keys`)));
  return fromApi({ upstreams, services, routes, consumers, keys });
}

export interface ApiEntities {
  upstreams: Upstream[];
  services: Service[];
  routes: Route[];
  consumers: Consumer[];
  /** Keys of each consumer, by the consumers' index. */
  keys: ApiKey[][];
}

export function fromApi(a: ApiEntities): CurrentState {
  const upstreamName = new Map(a.upstreams.map((u) => [u.id, u.name]));
  const serviceName = new Map(a.services.map((s) => [s.id, s.name]));
  return {
    upstreams: a.upstreams.map((u) => ({
      id: u.id,
      name: u.name,
      scheme: u.scheme,
      targets: u.targets.map((t) => ({ host: t.host, port: t.port, weight: t.weight })),
      connect_timeout_ms: u.connect_timeout_ms,
      read_timeout_ms: u.read_timeout_ms,
      tags: u.tags,
    })),
    // A dangling id cannot happen with the API's reference checks; show it rather than hide it if it does.
    services: a.services.map((s) => ({
      id: s.id,
      name: s.name,
      upstream: upstreamName.get(s.upstream_id) ?? s.upstream_id,
      base_path: s.base_path,
      tags: s.tags,
      lifecycle: s.lifecycle ?? 'published',
      version: s.version ?? '',
      sunset_at: s.sunset_at ?? null,
      catalog_visibility: s.catalog_visibility ?? 'private',
      openapi: s.openapi ?? null,
    })),
    routes: a.routes.map((r) => ({
      id: r.id,
      name: r.name,
      service: serviceName.get(r.service_id) ?? r.service_id,
      hosts: r.hosts,
      paths: r.paths,
      methods: r.methods,
      strip_path: r.strip_path,
      priority: r.priority,
      plugins: r.plugins as Record<string, unknown>,
      tags: r.tags,
    })),
    consumers: a.consumers.map((c, i) => {
      const out: CurrentState['consumers'][number] = { id: c.id, username: c.username, tags: c.tags, keys: (a.keys[i] ?? []).map((k) => ({ id: k.id, name: k.name })) };
      if (c.custom_id !== undefined && c.custom_id !== null) out.custom_id = c.custom_id;
      return out;
    }),
  };
}

/** The live config as a file would state it (for export): ids dropped, nameless keys left out. */
export function toDeclarative(s: CurrentState): DeclarativeConfig {
  const strip = <T extends { id: string }>(e: T): Omit<T, 'id'> => {
    const { id: _id, ...rest } = e;
    return rest;
  };
  return {
    upstreams: s.upstreams.map(strip),
    services: s.services.map(strip),
    routes: s.routes.map(strip),
    consumers: s.consumers.map((c) => {
      const spec: ConsumerSpec = { username: c.username, tags: c.tags, keys: [] };
      if (c.custom_id !== undefined) spec.custom_id = c.custom_id;
      const seen = new Set<string>();
      for (const k of c.keys) {
        if (k.name === null || seen.has(k.name)) continue;
        seen.add(k.name);
        spec.keys.push({ name: k.name });
      }
      return spec;
    }),
  };
}
