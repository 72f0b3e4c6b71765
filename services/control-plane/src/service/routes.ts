// Routes: which requests (hosts, paths, methods, headers, query, stage) go to which service.
import { randomUUID } from 'node:crypto';
import type { TransactionSql } from 'postgres';
import { RouteCreate, RouteUpdate, TurnpikeError, normalizeMatchers, routeProblems, type Route } from '@turnpike/common';
import { parse } from '../validation/validator.js';
import { assertReference, assertUnique, iso, jsonb } from './checks.js';
import { authorize } from './access.js';
import { authOf, type ServiceContext } from './context.js';
import { notFound, requireId } from './ids.js';
import { selectPage, toPage, type ListOptions, type Page } from './pagination.js';
import { checkVersion, withVersion, type WriteOptions } from './versions.js';
import { normalizePaths, routesConflict } from './route-conflict.js';
import { writeConfig } from './write.js';
import { releaseReferences } from '../resources/store.js';

export interface RouteRow {
  id: string;
  seq: string;
  tenant_id: string;
  name: string;
  service_id: string;
  hosts: string[];
  paths: string[];
  norm_paths: string[];
  methods: Route['methods'];
  strip_path: boolean;
  priority: number;
  plugins: Route['plugins'];
  tags: string[];
  headers: Route['headers'];
  query: Route['query'];
  stage: string | null;
  revision: string;
  version: string;
  created_at: Date;
  updated_at: Date;
}

export function toRoute(r: RouteRow): Route {
  return { id: r.id, ...fieldsOf(r), created_at: iso(r.created_at), updated_at: iso(r.updated_at) };
}

type RouteFields = Omit<Route, 'id' | 'created_at' | 'updated_at'>;

function fieldsOf(r: RouteRow): RouteFields {
  return {
    name: r.name,
    service_id: r.service_id,
    hosts: r.hosts,
    paths: r.paths,
    methods: r.methods,
    strip_path: r.strip_path,
    priority: r.priority,
    plugins: r.plugins,
    tags: r.tags,
    headers: r.headers,
    query: r.query,
    stage: r.stage,
  };
}

// The data plane is shared by all tenants, so conflicts are checked across tenants; another tenant's
// route is not named in the error.
async function assertNoConflict(tx: TransactionSql, r: RouteFields, selfId: string | null, tenantId: string): Promise<void> {
  const norm = normalizePaths(r.paths);
  const rows = await tx<RouteRow[]>`
    SELECT * FROM routes
    WHERE priority = ${r.priority} AND norm_paths && ${tx.array(norm)}::text[] AND id IS DISTINCT FROM ${selfId}
    ORDER BY seq`;
  const other = rows.find((o) => routesConflict(r, o));
  if (other && other.tenant_id !== tenantId) {
    throw new TurnpikeError('TP_ERR_CONFLICT', 'route conflicts with a route of another tenant: same stage, host, path, matchers and priority, overlapping methods', [
      { path: '/paths', message: 'conflicts with a route of another tenant' },
    ]);
  }
  if (other) {
    throw new TurnpikeError(
      'TP_ERR_CONFLICT',
      `route conflicts with route ${JSON.stringify(other.name)} (${other.id}): same stage, host, path, matchers and priority, overlapping methods`,
      [{ path: '/paths', message: `conflicts with route ${other.id}` }],
    );
  }
}

async function checkRoute(tx: TransactionSql, r: RouteFields, selfId: string | null, prev: RouteRow | null, tenantId: string): Promise<void> {
  // Regular expressions compile and are safe, matcher values present where needed (beyond the schema).
  const problems = routeProblems(r);
  if (problems.length > 0) throw new TurnpikeError('TP_ERR_VALIDATION', problems.map((f) => `${f.path}: ${f.message}`).join('; '), problems);
  if (!prev || r.name !== prev.name) await assertUnique(tx, 'routes', 'name', r.name, selfId, 'route', tenantId);
  if (!prev || r.service_id !== prev.service_id) await assertReference(tx, 'services', r.service_id, '/service_id', 'service', tenantId);
  await assertNoConflict(tx, r, selfId, tenantId);
}

function withDefaults(b: RouteCreate): RouteFields {
  return {
    name: b.name,
    service_id: b.service_id.toLowerCase(),
    hosts: b.hosts ?? [],
    paths: b.paths,
    methods: b.methods ?? [],
    strip_path: b.strip_path ?? false,
    priority: b.priority ?? 0,
    plugins: b.plugins ?? {},
    tags: b.tags ?? [],
    headers: normalizeMatchers(b.headers),
    query: normalizeMatchers(b.query),
    stage: b.stage ?? null,
  };
}

export async function createRoute(ctx: ServiceContext, input: unknown): Promise<Route> {
  const t = authorize(authOf(ctx), 'routes', 'write');
  const r = withDefaults(parse(RouteCreate, input, { defaults: true }));
  return await writeConfig(ctx, async (w) => {
    await checkRoute(w.tx, r, null, null, t);
    const [row] = await w.tx<RouteRow[]>`
      INSERT INTO routes (id, tenant_id, name, service_id, hosts, paths, norm_paths, methods, strip_path, priority, plugins, tags,
                          headers, query, stage, revision, created_at, updated_at)
      VALUES (${randomUUID()}, ${t}, ${r.name}, ${r.service_id}, ${jsonb(w.tx, r.hosts)}, ${jsonb(w.tx, r.paths)},
              ${w.tx.array(normalizePaths(r.paths))}::text[], ${jsonb(w.tx, r.methods)}, ${r.strip_path}, ${r.priority},
              ${jsonb(w.tx, r.plugins)}, ${jsonb(w.tx, r.tags)}, ${jsonb(w.tx, r.headers)}, ${jsonb(w.tx, r.query)}, ${r.stage},
              ${w.revision}, ${w.now}, ${w.now})
      RETURNING *`;
    const route = toRoute(row!);
    w.emit({ kind: 'routes', id: route.id, op: 'put', data: route });
    w.audit({ action: 'create', resource: 'routes', id: route.id, after: route });
    return withVersion(route, row!.version);
  });
}

export async function getRoute(ctx: ServiceContext, id: string): Promise<Route> {
  const t = authorize(authOf(ctx), 'routes', 'read');
  const rid = requireId('route', id);
  const [row] = await ctx.sql<RouteRow[]>`SELECT * FROM routes WHERE id = ${rid} AND tenant_id = ${t}`;
  if (!row) throw notFound('route', id);
  return withVersion(toRoute(row), row.version);
}

export async function listRoutes(ctx: ServiceContext, opts?: ListOptions): Promise<Page<Route>> {
  const t = authorize(authOf(ctx), 'routes', 'read');
  const { rows, q } = await selectPage<RouteRow>(ctx.sql, 'routes', 'name', opts, t);
  return toPage(rows, q, toRoute);
}

export async function updateRoute(
  ctx: ServiceContext,
  id: string,
  input: unknown,
  mode: 'patch' | 'replace' = 'patch',
  opts?: WriteOptions,
): Promise<Route> {
  const t = authorize(authOf(ctx), 'routes', 'write');
  const rid = requireId('route', id);
  const b = mode === 'patch' ? parse(RouteUpdate, input, { defaults: false }) : withDefaults(parse(RouteCreate, input, { defaults: true }));
  return await writeConfig(ctx, async (w) => {
    const [cur] = await w.tx<RouteRow[]>`SELECT * FROM routes WHERE id = ${rid} AND tenant_id = ${t} FOR UPDATE`;
    if (!cur) throw notFound('route', id);
    checkVersion(cur.version, opts, 'route', id);
    const r: RouteFields = { ...fieldsOf(cur), ...b };
    r.service_id = r.service_id.toLowerCase();
    r.headers = normalizeMatchers(r.headers);
    r.query = normalizeMatchers(r.query);
    await checkRoute(w.tx, r, rid, cur, t);
    const [row] = await w.tx<RouteRow[]>`
      UPDATE routes SET name = ${r.name}, service_id = ${r.service_id}, hosts = ${jsonb(w.tx, r.hosts)},
        paths = ${jsonb(w.tx, r.paths)}, norm_paths = ${w.tx.array(normalizePaths(r.paths))}::text[],
        methods = ${jsonb(w.tx, r.methods)}, strip_path = ${r.strip_path}, priority = ${r.priority},
        plugins = ${jsonb(w.tx, r.plugins)}, tags = ${jsonb(w.tx, r.tags)}, headers = ${jsonb(w.tx, r.headers)},
        query = ${jsonb(w.tx, r.query)}, stage = ${r.stage}, revision = ${w.revision}, updated_at = ${w.now},
        version = version + 1
      WHERE id = ${rid} RETURNING *`;
    const route = toRoute(row!);
    w.emit({ kind: 'routes', id: route.id, op: 'put', data: route });
    w.audit({ action: 'update', resource: 'routes', id: route.id, before: toRoute(cur), after: route });
    return withVersion(route, row!.version);
  });
}

export async function deleteRoute(ctx: ServiceContext, id: string, opts?: WriteOptions): Promise<void> {
  const t = authorize(authOf(ctx), 'routes', 'write');
  const rid = requireId('route', id);
  await writeConfig(ctx, async (w) => {
    const [cur] = await w.tx<RouteRow[]>`SELECT * FROM routes WHERE id = ${rid} AND tenant_id = ${t} FOR UPDATE`;
    if (!cur) throw notFound('route', id);
    checkVersion(cur.version, opts, 'route', id);
    await releaseReferences(w, 'routes', rid);
    await w.tx`DELETE FROM routes WHERE id = ${rid}`;
    w.emit({ kind: 'routes', id: rid, op: 'del' });
    w.audit({ action: 'delete', resource: 'routes', id: rid, before: toRoute(cur) });
  });
}
