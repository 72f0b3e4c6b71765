// Reads the live config from the admin API and puts it in the file's normalized form (references by name,
// server-only fields dropped), keeping each entity's id for the operations that follow.
import { normalizeMatchers, type ApiKey, type Consumer, type Route, type Service, type Upstream } from '@turnpike/common';
import type { AdminClient } from './admin-client.js';
import { instant, upstreamPolicySpec, type ConsumerSpec, type DeclarativeConfig, type IntegrationSpec, type RouteSpec, type ServiceSpec, type UpstreamSpec } from './file-format.js';
import { CONFIG_LIST, RESOURCE_COLLECTION, RESOURCE_KINDS, emptyResources, specFromApi, type NameMaps, type ResourceConfig, type ResourceKind, type ResourceSpec } from './resource-kinds.js';

export type WithId<T> = T & { id: string };

export interface CurrentKey {
  id: string;
  /** null for keys created without a name: declarative config does not manage those. */
  name: string | null;
  /** As KeySpec's: the API's ISO 8601, null for never. */
  expires_at: string | null;
}

export interface CurrentState {
  upstreams: Array<WithId<UpstreamSpec>>;
  services: Array<WithId<ServiceSpec>>;
  routes: Array<WithId<RouteSpec>>;
  consumers: Array<WithId<Omit<ConsumerSpec, 'keys'>> & { keys: CurrentKey[] }>;
  /** The generic kinds (only live subscriptions: pending or approved), each entity with its id. */
  resources: { [L in keyof ResourceConfig]: Array<WithId<ResourceSpec>> };
}

/** Live entities of the generic kinds as the API returns them (credentials of every consumer together). */
export type ApiResources = { [L in keyof ResourceConfig]?: Array<Record<string, unknown>> };

export async function fetchCurrentState(client: AdminClient): Promise<CurrentState> {
  const [upstreams, services, routes, consumers] = await Promise.all([
    client.listAll<Upstream>('/v1/upstreams'),
    client.listAll<Service>('/v1/services'),
    client.listAll<Route>('/v1/routes'),
    client.listAll<Consumer>('/v1/consumers'),
  ]);
  const keys = await Promise.all(consumers.map(async (c) => await client.listAll<ApiKey>(`/v1/consumers/${c.id}/keys`)));
  const resources: ApiResources = {};
  await Promise.all(
    RESOURCE_KINDS.filter((k): k is Exclude<ResourceKind, 'credential'> => k !== 'credential').map(async (k) => {
      resources[CONFIG_LIST[k]] = await client.listAll<Record<string, unknown>>(RESOURCE_COLLECTION[k]);
    }),
  );
  resources.credentials = (await Promise.all(consumers.map(async (c) => await client.listAll<Record<string, unknown>>(`/v1/consumers/${c.id}/credentials`)))).flat();
  return fromApi({ upstreams, services, routes, consumers, keys, resources });
}

export interface ApiEntities {
  upstreams: Upstream[];
  services: Service[];
  routes: Route[];
  consumers: Consumer[];
  /** Keys of each consumer, by the consumers' index. */
  keys: ApiKey[][];
  resources?: ApiResources;
}

export function fromApi(a: ApiEntities): CurrentState {
  const upstreamName = new Map(a.upstreams.map((u) => [u.id, u.name]));
  const serviceName = new Map(a.services.map((s) => [s.id, s.name]));
  const r = a.resources ?? {};
  const byId = (list: Array<Record<string, unknown>> | undefined): Map<string, string> => new Map((list ?? []).map((e) => [String(e.id), String(e.name)]));
  const names: NameMaps = {
    consumer: new Map(a.consumers.map((c) => [c.id, c.username])),
    service: serviceName,
    route: new Map(a.routes.map((x) => [x.id, x.name])),
    plan: byId(r.plans),
    ai_provider: byId(r.ai_providers),
    api_key: new Map(a.consumers.flatMap((c, i) => (a.keys[i] ?? []).filter((k) => k.name !== null && k.name !== undefined).map((k) => [k.id, `${c.username}/${String(k.name)}`] as [string, string]))),
  };
  const groupName = byId(r.consumer_groups);
  const certificateName = byId(r.certificates);
  const resources = emptyResources() as CurrentState['resources'];
  for (const kind of RESOURCE_KINDS) {
    const list = CONFIG_LIST[kind];
    // Rejected and revoked subscriptions are history, not config.
    const live = (r[list] ?? []).filter((e) => kind !== 'subscription' || e.status === 'pending' || e.status === 'approved');
    resources[list] = live.map((e) => ({ ...specFromApi(kind, e, names), id: String(e.id) }));
  }
  return {
    resources,
    upstreams: a.upstreams.map((u) => ({
      id: u.id,
      name: u.name,
      scheme: u.scheme,
      targets: u.targets.map((t) => ({ host: t.host, port: t.port, weight: t.weight })),
      connect_timeout_ms: u.connect_timeout_ms,
      read_timeout_ms: u.read_timeout_ms,
      tags: u.tags,
      // The client certificate by name (a dangling id, which the API prevents, shows as the id).
      ...upstreamPolicySpec(u, (id) => certificateName.get(id) ?? id),
    })),
    // A dangling id cannot happen with the API's reference checks; show it rather than hide it if it does.
    services: a.services.map((s) => ({
      id: s.id,
      name: s.name,
      upstream: s.upstream_id ? (upstreamName.get(s.upstream_id) ?? s.upstream_id) : null,
      integration: integrationSpec(s.integration ?? null, upstreamName),
      base_path: s.base_path,
      tags: s.tags,
      lifecycle: s.lifecycle ?? 'published',
      version: s.version ?? '',
      sunset_at: s.sunset_at ?? null,
      catalog_visibility: s.catalog_visibility ?? 'private',
      subscription_required: s.subscription_required ?? false,
      openapi: s.openapi ?? null,
      splits: (s.splits ?? []).map((sp) => ({
        upstream: upstreamName.get(sp.upstream_id) ?? sp.upstream_id,
        weight: sp.weight,
        ...(sp.header ? { header: { name: sp.header.name, value: sp.header.value } } : {}),
      })),
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
      headers: normalizeMatchers(r.headers),
      query: normalizeMatchers(r.query),
      stage: r.stage ?? null,
    })),
    consumers: a.consumers.map((c, i) => {
      const keys = (a.keys[i] ?? []).map((k) => ({ id: k.id, name: k.name, expires_at: k.expires_at ? instant(k.expires_at) : null }));
      const out: CurrentState['consumers'][number] = { id: c.id, username: c.username, tags: c.tags, keys };
      if (c.custom_id !== undefined && c.custom_id !== null) out.custom_id = c.custom_id;
      if (c.group_ids !== undefined && c.group_ids.length > 0) out.groups = c.group_ids.map((g) => groupName.get(g) ?? g);
      return out;
    }),
  };
}

/** A stored integration with its websocket upstream named; http never appears here (it is `upstream_id`). */
function integrationSpec(i: Service['integration'], upstreamName: Map<string, string>): IntegrationSpec | null {
  if (!i) return null;
  if (i.type === 'http') return null;
  if (i.type === 'websocket') {
    const { upstream_id, ...rest } = i;
    return { ...rest, upstream: upstreamName.get(upstream_id) ?? upstream_id };
  }
  return i;
}

/** The live config as a file would state it (for export): ids dropped, nameless keys left out. */
export function toDeclarative(s: CurrentState): DeclarativeConfig {
  const strip = <T extends { id: string }>(e: T): Omit<T, 'id'> => {
    const { id: _id, ...rest } = e;
    return rest;
  };
  const resources = emptyResources();
  for (const list of Object.keys(resources) as Array<keyof ResourceConfig>) resources[list] = s.resources[list].map(strip);
  return {
    ...resources,
    upstreams: s.upstreams.map(strip),
    services: s.services.map(strip),
    routes: s.routes.map(strip),
    consumers: s.consumers.map((c) => {
      const spec: ConsumerSpec = { username: c.username, tags: c.tags, keys: [] };
      if (c.custom_id !== undefined) spec.custom_id = c.custom_id;
      if (c.groups !== undefined) spec.groups = c.groups;
      const seen = new Set<string>();
      for (const k of c.keys) {
        if (k.name === null || seen.has(k.name)) continue;
        seen.add(k.name);
        spec.keys.push({ name: k.name, expires_at: k.expires_at });
      }
      return spec;
    }),
  };
}
