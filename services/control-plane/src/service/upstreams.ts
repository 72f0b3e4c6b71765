// Upstreams: where services send traffic (targets, scheme, timeouts) and how (balancing, retries, health
// checks, circuit breaker, TLS).
import { randomUUID } from 'node:crypto';
import type { TransactionSql } from 'postgres';
import { TurnpikeError, UpstreamCreate, UpstreamUpdate, upstreamPolicies, upstreamRuleProblems, type Upstream, type UpstreamPolicies } from '@turnpike/common';
import { parse } from '../validation/validator.js';
import { assertUnique, assertUnused, iso, jsonb } from './checks.js';
import { assertNoSplitUses, assertNoWebSocketApiUses } from './services.js';
import { authorize } from './access.js';
import { authOf, type ServiceContext } from './context.js';
import { notFound, requireId } from './ids.js';
import { selectPage, toPage, type ListOptions, type Page } from './pagination.js';
import { checkVersion, withVersion, type WriteOptions } from './versions.js';
import { writeConfig } from './write.js';
import { releaseReferences } from '../resources/store.js';

export interface UpstreamRow {
  id: string;
  seq: string;
  name: string;
  scheme: 'http' | 'https';
  targets: Upstream['targets'];
  connect_timeout_ms: number;
  read_timeout_ms: number;
  tags: string[];
  algorithm: UpstreamPolicies['algorithm'];
  total_timeout_ms: number | null;
  /** hash_on, retries, health_checks, circuit_breaker, tls (see migrations/006_upstream_policies.sql). */
  policies: Partial<UpstreamPolicies>;
  revision: string;
  version: string;
  created_at: Date;
  updated_at: Date;
}

export function toUpstream(r: UpstreamRow): Upstream {
  return {
    id: r.id,
    name: r.name,
    scheme: r.scheme,
    targets: r.targets,
    connect_timeout_ms: r.connect_timeout_ms,
    read_timeout_ms: r.read_timeout_ms,
    tags: r.tags,
    ...upstreamPolicies({ ...r.policies, algorithm: r.algorithm, total_timeout_ms: r.total_timeout_ms }),
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
  };
}

export async function createUpstream(ctx: ServiceContext, input: unknown): Promise<Upstream> {
  const t = authorize(authOf(ctx), 'upstreams', 'write');
  const b = parse(UpstreamCreate, input, { defaults: true });
  assertUpstreamRules(b);
  const p = upstreamPolicies(b);
  return await writeConfig(ctx, async (w) => {
    await assertUnique(w.tx, 'upstreams', 'name', b.name, null, 'upstream', t);
    await assertClientCertificate(w.tx, p, t);
    const [row] = await w.tx<UpstreamRow[]>`
      INSERT INTO upstreams (id, tenant_id, name, scheme, targets, connect_timeout_ms, read_timeout_ms, tags,
                             algorithm, total_timeout_ms, policies, revision, created_at, updated_at)
      VALUES (${randomUUID()}, ${t}, ${b.name}, ${b.scheme ?? 'http'}, ${jsonb(w.tx, b.targets)}, ${b.connect_timeout_ms ?? 5000},
              ${b.read_timeout_ms ?? 60000}, ${jsonb(w.tx, b.tags ?? [])}, ${p.algorithm}, ${p.total_timeout_ms},
              ${jsonb(w.tx, storedPolicies(p))}, ${w.revision}, ${w.now}, ${w.now})
      RETURNING *`;
    const up = toUpstream(row!);
    w.emit({ kind: 'upstreams', id: up.id, op: 'put', data: up });
    w.audit({ action: 'create', resource: 'upstreams', id: up.id, after: up });
    return withVersion(up, row!.version);
  });
}

export async function getUpstream(ctx: ServiceContext, id: string): Promise<Upstream> {
  const t = authorize(authOf(ctx), 'upstreams', 'read');
  const uid = requireId('upstream', id);
  const [row] = await ctx.sql<UpstreamRow[]>`SELECT * FROM upstreams WHERE id = ${uid} AND tenant_id = ${t}`;
  if (!row) throw notFound('upstream', id);
  return withVersion(toUpstream(row), row.version);
}

export async function listUpstreams(ctx: ServiceContext, opts?: ListOptions): Promise<Page<Upstream>> {
  const t = authorize(authOf(ctx), 'upstreams', 'read');
  const { rows, q } = await selectPage<UpstreamRow>(ctx.sql, 'upstreams', 'name', opts, t);
  return toPage(rows, q, toUpstream);
}

/**
 * `patch` merges the given top-level fields (a nested policy object given in a patch replaces the stored one
 * whole, its missing fields taking their defaults); `replace` (PUT) takes a full create body, defaults filled in.
 */
export async function updateUpstream(
  ctx: ServiceContext,
  id: string,
  input: unknown,
  mode: 'patch' | 'replace' = 'patch',
  opts?: WriteOptions,
): Promise<Upstream> {
  const t = authorize(authOf(ctx), 'upstreams', 'write');
  const uid = requireId('upstream', id);
  const b = mode === 'patch' ? parse(UpstreamUpdate, input, { defaults: false }) : parse(UpstreamCreate, input, { defaults: true });
  return await writeConfig(ctx, async (w) => {
    const [cur] = await w.tx<UpstreamRow[]>`SELECT * FROM upstreams WHERE id = ${uid} AND tenant_id = ${t} FOR UPDATE`;
    if (!cur) throw notFound('upstream', id);
    checkVersion(cur.version, opts, 'upstream', id);
    const next = { ...toUpstream(cur), ...b };
    assertUpstreamRules(next);
    const p = upstreamPolicies(next);
    if (next.name !== cur.name) await assertUnique(w.tx, 'upstreams', 'name', next.name, uid, 'upstream', t);
    await assertClientCertificate(w.tx, p, t);
    const [row] = await w.tx<UpstreamRow[]>`
      UPDATE upstreams SET name = ${next.name}, scheme = ${next.scheme}, targets = ${jsonb(w.tx, next.targets)},
        connect_timeout_ms = ${next.connect_timeout_ms}, read_timeout_ms = ${next.read_timeout_ms},
        tags = ${jsonb(w.tx, next.tags)}, algorithm = ${p.algorithm}, total_timeout_ms = ${p.total_timeout_ms},
        policies = ${jsonb(w.tx, storedPolicies(p))}, revision = ${w.revision}, updated_at = ${w.now}, version = version + 1
      WHERE id = ${uid} RETURNING *`;
    const up = toUpstream(row!);
    w.emit({ kind: 'upstreams', id: up.id, op: 'put', data: up });
    w.audit({ action: 'update', resource: 'upstreams', id: up.id, before: toUpstream(cur), after: up });
    return withVersion(up, row!.version);
  });
}

export async function deleteUpstream(ctx: ServiceContext, id: string, opts?: WriteOptions): Promise<void> {
  const t = authorize(authOf(ctx), 'upstreams', 'write');
  const uid = requireId('upstream', id);
  await writeConfig(ctx, async (w) => {
    const [cur] = await w.tx<UpstreamRow[]>`SELECT * FROM upstreams WHERE id = ${uid} AND tenant_id = ${t} FOR UPDATE`;
    if (!cur) throw notFound('upstream', id);
    checkVersion(cur.version, opts, 'upstream', id);
    await assertUnused(w.tx, 'services', 'upstream_id', uid, 'upstream', 'services');
    await assertNoSplitUses(w.tx, uid);
    await assertNoWebSocketApiUses(w.tx, uid);
    await releaseReferences(w, 'upstreams', uid);
    await w.tx`DELETE FROM upstreams WHERE id = ${uid}`;
    w.emit({ kind: 'upstreams', id: uid, op: 'del' });
    w.audit({ action: 'delete', resource: 'upstreams', id: uid, before: toUpstream(cur) });
  });
}

/** 422 at /tls/client_certificate_id when the named certificate is not in the tenant (locked against a concurrent delete). */
async function assertClientCertificate(tx: TransactionSql, p: UpstreamPolicies, tenantId: string): Promise<void> {
  const id = p.tls.client_certificate_id;
  if (id === undefined) return;
  const rows = await tx`SELECT id FROM resources WHERE id = ${id} AND tenant_id = ${tenantId} AND kind = 'certificates' FOR KEY SHARE`;
  if (rows.length === 0) {
    throw new TurnpikeError('TP_ERR_UNPROCESSABLE', `tls.client_certificate_id: certificate ${id} does not exist`, [
      { path: '/tls/client_certificate_id', message: `certificate ${id} does not exist` },
    ]);
  }
}

/** 422 TP_ERR_UNPROCESSABLE with field paths when a rule between fields is broken (e.g. hash_on without consistent-hash). */
function assertUpstreamRules(u: Parameters<typeof upstreamRuleProblems>[0]): void {
  const fields = upstreamRuleProblems(u);
  if (fields.length > 0) throw new TurnpikeError('TP_ERR_UNPROCESSABLE', `${fields[0]!.path.slice(1)} ${fields[0]!.message}`, fields);
}

/** The part of the policies kept in the `policies` jsonb column (algorithm and total_timeout_ms have columns). */
function storedPolicies(p: UpstreamPolicies): Omit<UpstreamPolicies, 'algorithm' | 'total_timeout_ms'> {
  const { algorithm: _a, total_timeout_ms: _t, ...rest } = p;
  return rest;
}
