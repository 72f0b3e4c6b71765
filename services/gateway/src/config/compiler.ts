// Compiles the raw KV entries (`<kind>.<id>` → envelope JSON) into an immutable snapshot the hot path
// reads with table lookups only. Invalid entities, and entities whose references are missing or
// rejected, are left out and reported; everything else still compiles.
import { FormatRegistry, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import {
  Consumer,
  META_REVISION_KEY,
  Route,
  Service,
  Upstream,
  parseEntityKey,
  type EntityKind,
  type FieldError,
} from '@turnpike/common';
import type { Dispatcher } from 'undici';
import { Router, type RouteSpec } from '../router/index.js';
import { SmoothWeightedRoundRobin } from '../upstream/balancer.js';
import { compileKeyAuth, type KeyAuthPolicy, type KeyOwner } from '../plugins/key-auth/index.js';

if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (v) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v));
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => !Number.isNaN(Date.parse(v)));

export interface UpstreamTarget {
  origin: string;
  poolKey: string;
  dispatcher: Dispatcher;
}

export interface CompiledUpstream {
  id: string;
  balancer: SmoothWeightedRoundRobin<UpstreamTarget>;
  readTimeoutMs: number;
}

export interface CompiledService {
  id: string;
  /** Without a trailing slash; '' for none. */
  basePath: string;
  upstream: CompiledUpstream;
}

export interface CompiledRoute {
  id: string;
  service: CompiledService;
  stripPath: boolean;
  keyAuth: KeyAuthPolicy | null;
}

export interface Rejection {
  key: string;
  reason: string;
  fields?: FieldError[];
}

export interface Snapshot {
  revision: number;
  router: Router<CompiledRoute>;
  keys: ReadonlyMap<string, KeyOwner>;
  rejected: readonly Rejection[];
  counts: Record<EntityKind, number>;
  poolKeys: ReadonlySet<string>;
}

export type PoolFactory = (origin: string, connectTimeoutMs: number) => { key: string; dispatcher: Dispatcher };

interface Parsed<T> {
  key: string;
  id: string;
  data: T;
}

const SCHEMAS: Record<Exclude<EntityKind, 'keys'>, TSchema> = { upstreams: Upstream, services: Service, routes: Route, consumers: Consumer };

export function compileSnapshot(entries: ReadonlyMap<string, string>, poolFor: PoolFactory): Snapshot {
  const rejected: Rejection[] = [];
  let revision = 0;
  const byKind: { [K in EntityKind]: Parsed<unknown>[] } = { upstreams: [], services: [], routes: [], consumers: [], keys: [] };

  for (const [key, raw] of entries) {
    if (key === META_REVISION_KEY) {
      const r = safeJson(raw) as { revision?: unknown } | undefined;
      if (typeof r?.revision === 'number') revision = Math.max(revision, r.revision);
      continue;
    }
    const parsedKey = parseEntityKey(key);
    if (!parsedKey) continue; // Not an entity this node version knows; newer control planes may add kinds.
    const env = safeJson(raw) as { kind?: unknown; revision?: unknown; data?: unknown } | undefined;
    if (!env || typeof env !== 'object' || env.kind !== parsedKey.kind || typeof env.data !== 'object' || env.data === null) {
      rejected.push({ key, reason: 'not a config envelope {kind, revision, data} of the key’s kind' });
      continue;
    }
    if (typeof env.revision === 'number') revision = Math.max(revision, env.revision);
    const data = Value.Clone(env.data) as Record<string, unknown>;
    if (parsedKey.kind === 'keys') {
      const problem = checkApiKey(data);
      if (problem) {
        rejected.push({ key, reason: problem });
        continue;
      }
    } else {
      const schema = SCHEMAS[parsedKey.kind];
      Value.Default(schema, data);
      if (!Value.Check(schema, data)) {
        const fields = [...Value.Errors(schema, data)].slice(0, 10).map((e) => ({ path: e.path || '/', message: e.message }));
        rejected.push({ key, reason: 'failed schema validation', fields });
        continue;
      }
    }
    if (data.id !== parsedKey.id) {
      rejected.push({ key, reason: `data.id ${String(data.id)} does not match the key` });
      continue;
    }
    byKind[parsedKey.kind].push({ key, id: parsedKey.id, data });
  }

  const poolKeys = new Set<string>();
  const upstreams = new Map<string, CompiledUpstream>();
  for (const { id, data } of byKind.upstreams as Parsed<Upstream>[]) {
    const targets = data.targets.map((t) => {
      const host = t.host.includes(':') && !t.host.startsWith('[') ? `[${t.host}]` : t.host;
      const origin = `${data.scheme}://${host}:${t.port}`;
      const { key, dispatcher } = poolFor(origin, data.connect_timeout_ms);
      poolKeys.add(key);
      return { item: { origin, poolKey: key, dispatcher }, weight: t.weight };
    });
    upstreams.set(id, { id, balancer: new SmoothWeightedRoundRobin(targets), readTimeoutMs: data.read_timeout_ms });
  }

  const services = new Map<string, CompiledService>();
  for (const { key, id, data } of byKind.services as Parsed<Service>[]) {
    const upstream = upstreams.get(data.upstream_id);
    if (!upstream) {
      rejected.push({ key, reason: `upstream ${data.upstream_id} is missing or rejected` });
      continue;
    }
    services.set(id, { id, basePath: data.base_path.replace(/\/+$/, ''), upstream });
  }

  const specs: RouteSpec<CompiledRoute>[] = [];
  for (const { key, id, data } of byKind.routes as Parsed<Route>[]) {
    const service = services.get(data.service_id);
    if (!service) {
      rejected.push({ key, reason: `service ${data.service_id} is missing or rejected` });
      continue;
    }
    const ka = data.plugins['key-auth'];
    specs.push({
      id,
      hosts: data.hosts,
      methods: data.methods,
      paths: data.paths,
      priority: data.priority,
      value: { id, service, stripPath: data.strip_path, keyAuth: ka ? compileKeyAuth(ka) : null },
    });
  }

  const consumers = new Map<string, Consumer>();
  for (const { id, data } of byKind.consumers as Parsed<Consumer>[]) consumers.set(id, data);

  const keys = new Map<string, KeyOwner>();
  for (const { key, data } of byKind.keys as Parsed<{ consumer_id: string; key_sha256: string }>[]) {
    const consumer = consumers.get(data.consumer_id);
    if (!consumer) {
      rejected.push({ key, reason: `consumer ${data.consumer_id} is missing or rejected` });
      continue;
    }
    const hex = data.key_sha256.toLowerCase();
    keys.set(hex, { consumerId: consumer.id, username: consumer.username, digest: Buffer.from(hex, 'hex') });
  }

  return {
    revision,
    router: new Router(specs),
    keys,
    rejected,
    counts: { upstreams: upstreams.size, services: services.size, routes: specs.length, consumers: consumers.size, keys: keys.size },
    poolKeys,
  };
}

function checkApiKey(d: Record<string, unknown>): string | null {
  if (typeof d.id !== 'string' || d.id === '') return 'api key without id';
  if (typeof d.consumer_id !== 'string' || d.consumer_id === '') return 'api key without consumer_id';
  if (typeof d.key_sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(d.key_sha256)) return 'key_sha256 must be 64 hex characters';
  return null;
}

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}
