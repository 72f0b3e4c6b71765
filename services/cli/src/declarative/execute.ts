// Carries out a plan against the admin API, level by level (see executionLevels), resolving names to ids as
// entities are created. Stops at the first failure and says which operation failed and where in the file the
// cause is.
import type { ApiKeyCreated } from '@turnpike/common';
import { AdminApiError, type AdminClient } from './admin-client.js';
import type { CurrentState } from './current-state.js';
import { entityKey, pointerToPath, type DeclarativeConfig, type EntityKind } from './file-format.js';
import { describeTarget } from './diff-render.js';
import { executeResourceOperation } from './execute-resources.js';
import { isResourceOperation, type EntitySpec, type Operation } from './plan.js';
import { KIND_LABEL } from './resource-kinds.js';

const COLLECTION: Record<EntityKind, string> = { upstream: '/v1/upstreams', service: '/v1/services', route: '/v1/routes', consumer: '/v1/consumers' };

// The API references by id where the file references by name.
const REFERENCE: Partial<Record<EntityKind, { field: string; apiField: string; target: EntityKind }>> = {
  service: { field: 'upstream', apiField: 'upstream_id', target: 'upstream' },
  route: { field: 'service', apiField: 'service_id', target: 'service' },
};

export interface ExecuteEvents {
  /**
   * After each successful operation; `generatedKey` is set when the control plane generated a key,
   * `generatedSecret` when it generated a credential's secret.
   */
  done(op: Operation, info: { generatedKey?: string; generatedSecret?: string }): void;
}

export interface ExecuteOptions {
  /**
   * Operations in flight at once within a level (see executionLevels); default 1: strictly in plan order.
   * The control plane serializes writes, so this hides round trips and request handling, not the write itself.
   */
  concurrency?: number;
}

export class ApplyError extends Error {
  constructor(
    message: string,
    readonly operation: Operation,
    /** Operations applied before this one failed, of `total`. */
    readonly completed: number,
    readonly total: number,
    readonly apiError: AdminApiError,
  ) {
    super(message);
    this.name = 'ApplyError';
  }
}

export async function executePlan(
  client: AdminClient,
  current: CurrentState,
  operations: Operation[],
  locations: Map<string, string>,
  events: ExecuteEvents,
  /** The file's config: its secrets are sent with the operations on their entities. */
  desired?: Pick<DeclarativeConfig, 'secrets'>,
  options: ExecuteOptions = {},
): Promise<void> {
  const ids: Record<EntityKind, Map<string, string>> = {
    upstream: new Map(current.upstreams.map((e) => [e.name, e.id])),
    service: new Map(current.services.map((e) => [e.name, e.id])),
    route: new Map(current.routes.map((e) => [e.name, e.id])),
    consumer: new Map(current.consumers.map((e) => [e.username, e.id])),
  };
  // Named generic kinds that other entities reference by name: consumers their groups, subscriptions
  // their plan, templates their provider, upstreams their client certificate.
  const resourceIds = {
    certificate: new Map(current.resources.certificates.map((e) => [String(e.name), e.id])),
    consumer_group: new Map(current.resources.consumer_groups.map((e) => [String(e.name), e.id])),
    plan: new Map(current.resources.plans.map((e) => [String(e.name), e.id])),
    ai_provider: new Map(current.resources.ai_providers.map((e) => [String(e.name), e.id])),
  };
  // Named API keys by `<consumer>/<key name>` (AI budgets name them): the first of a name, as the planner matches.
  const keyIds = new Map<string, string>();
  for (const c of current.consumers) for (const k of c.keys) if (k.name !== null && !keyIds.has(`${c.username}/${k.name}`)) keyIds.set(`${c.username}/${k.name}`, k.id);
  const refId = (kind: EntityKind | keyof typeof resourceIds | 'key', name: string): string => {
    const id = kind === 'key' ? keyIds.get(name) : kind in resourceIds ? resourceIds[kind as keyof typeof resourceIds].get(name) : ids[kind as EntityKind].get(name);
    // The planner orders creates before their users, so a missing id is a planner bug, not user error.
    if (id === undefined) throw new Error(`${kind} ${JSON.stringify(name)} has no id yet`);
    return id;
  };
  const idOf = (kind: EntityKind, target: string): string => {
    const id = ids[kind].get(target);
    // The planner orders creates before their users, so a missing id is a planner bug, not user error.
    if (id === undefined) throw new Error(`${kind} ${JSON.stringify(target)} has no id yet`);
    return id;
  };
  const toApi = (kind: EntityKind, fields: Record<string, unknown>): Record<string, unknown> => {
    if (kind === 'service') return serviceToApi(fields, (name) => idOf('upstream', name));
    if (kind === 'upstream') return upstreamToApi(fields, (name) => refId('certificate', name));
    if (kind === 'consumer' && 'groups' in fields) {
      // Groups by name in the file, by id in the API; a consumer in none has no `groups`.
      const { groups, ...rest } = fields;
      return { ...rest, group_ids: ((groups as string[] | undefined) ?? []).map((g) => refId('consumer_group', g)) };
    }
    const ref = REFERENCE[kind];
    if (!ref || !(ref.field in fields)) return fields;
    const { [ref.field]: target, ...rest } = fields;
    const id = ids[ref.target].get(target as string);
    // The planner orders creates before their users, so a missing id is a planner bug, not user error.
    if (id === undefined) throw new Error(`${kind}: ${ref.target} ${JSON.stringify(target)} has no id yet`);
    return { ...rest, [ref.apiField]: id };
  };

  // One operation; ids of what it creates go into the maps before it counts as done, so that the next level
  // (which alone may use them) finds them.
  const run = async (op: Operation): Promise<{ generatedKey?: string; generatedSecret?: string }> => {
    const info: { generatedKey?: string; generatedSecret?: string } = {};
    if (isResourceOperation(op)) {
      const r = await executeResourceOperation(op, {
        client,
        idOf: refId,
        secrets: desired?.secrets?.get(entityKey(op.kind, op.name)),
        created: (id) => {
          if (op.kind in resourceIds) resourceIds[op.kind as keyof typeof resourceIds].set(op.name, id);
        },
      });
      if (r.generatedSecret !== undefined) info.generatedSecret = r.generatedSecret;
      if (op.action === 'delete' && op.kind in resourceIds) resourceIds[op.kind as keyof typeof resourceIds].delete(op.name);
    } else if (op.kind === 'key') {
      const consumerId = ids.consumer.get(op.consumer);
      if (consumerId === undefined) throw new Error(`consumer ${JSON.stringify(op.consumer)} has no id yet`);
      if (op.action === 'create') {
        const body: Record<string, string> = { name: op.name };
        if (op.key !== undefined) body.key = op.key;
        if (op.expires_at !== undefined) body.expires_at = op.expires_at;
        const created = await client.create<ApiKeyCreated>(`/v1/consumers/${consumerId}/keys`, body);
        keyIds.set(`${op.consumer}/${op.name}`, created.id);
        if (op.key === undefined) info.generatedKey = created.key;
      } else if (op.action === 'update') {
        // The changed fields only (null clears an expiry); key material is never re-sent (it cannot change).
        await client.patch(`/v1/consumers/${consumerId}/keys/${op.id}`, Object.fromEntries(op.changes.map((c) => [c.field, c.to])));
      } else {
        await client.remove(`/v1/consumers/${consumerId}/keys/${op.id}`);
      }
    } else if (op.action === 'create') {
      const created = await client.create<{ id: string }>(COLLECTION[op.kind], toApi(op.kind, op.spec as unknown as Record<string, unknown>));
      ids[op.kind].set(op.name, created.id);
    } else if (op.action === 'update') {
      const path = `${COLLECTION[op.kind]}/${op.id}`;
      if (op.mode === 'replace') await client.replace(path, toApi(op.kind, specBody(op.spec)));
      else await client.patch(path, toApi(op.kind, Object.fromEntries(op.changes.map((c) => [c.field, c.to]))));
    } else {
      await client.remove(`${COLLECTION[op.kind]}/${op.id}`);
      ids[op.kind].delete(op.name);
    }
    return info;
  };

  // Levels run one after another; within a level up to `concurrency` operations are in flight. On the first
  // failure no new operation starts, those in flight finish (and count), then the failure is reported.
  const limit = Math.max(1, Math.floor(options.concurrency ?? 1));
  let completed = 0;
  // Set inside the workers; the cast keeps TypeScript from narrowing it to undefined here.
  let failure = undefined as { op: Operation; err: unknown } | undefined;
  for (const level of limit === 1 ? [operations] : executionLevels(operations)) {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (failure === undefined && next < level.length) {
        const op = level[next++]!;
        try {
          const info = await run(op);
          completed++;
          events.done(op, info);
        } catch (err) {
          failure ??= { op, err };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, level.length) }, worker));
    if (failure !== undefined) break;
  }
  if (failure === undefined) return;
  const { op, err } = failure;
  if (!(err instanceof AdminApiError)) throw err;
  throw new ApplyError(describeFailure(op, err, locations), op, completed, operations.length, err);
}

/**
 * The plan cut into levels whose operations do not depend on each other: each maximal run of operations of one
 * kind that are all deletes, or all creates and updates. The planner already orders kinds so that what an
 * operation references is created (or released) by an earlier run. Within a run of upserts the updates form
 * their own level before the creates: an update may free a unique value (a route's path, a credential's
 * identifier) that a create in the same run takes, which in sequence works only when the file lists it first.
 */
export function executionLevels(operations: Operation[]): Operation[][] {
  const levels: Operation[][] = [];
  let run: Operation[] = [];
  let runKey = '';
  const flush = (): void => {
    if (run.length === 0) return;
    if (run[0]!.action === 'delete') levels.push(run);
    else {
      const updates = run.filter((o) => o.action === 'update');
      const creates = run.filter((o) => o.action === 'create');
      for (const l of [updates, creates]) if (l.length > 0) levels.push(l);
    }
    run = [];
  };
  for (const op of operations) {
    const key = `${op.kind}/${op.action === 'delete' ? 'delete' : 'upsert'}`;
    if (key !== runKey) flush();
    runKey = key;
    run.push(op);
  }
  flush();
  return levels;
}

/**
 * A service's fields as the API takes them: `upstream` (a name, or null for a non-http service) becomes
 * `upstream_id`, and a websocket integration's `upstream` its `upstream_id`.
 */
function serviceToApi(fields: Record<string, unknown>, upstreamId: (name: string) => string): Record<string, unknown> {
  const { upstream, integration, splits, ...rest } = fields;
  const out: Record<string, unknown> = { ...rest };
  if (upstream !== undefined) out.upstream_id = upstream === null ? null : upstreamId(upstream as string);
  if (splits !== undefined) out.splits = (splits as Array<{ upstream: string }>).map(({ upstream: name, ...sp }) => ({ upstream_id: upstreamId(name), ...sp }));
  if (integration !== undefined) {
    const i = integration as Record<string, unknown> | null;
    if (i !== null && i.type === 'websocket') {
      const { upstream: name, ...ws } = i;
      out.integration = { ...ws, upstream_id: upstreamId(name as string) };
    } else out.integration = i;
  }
  return out;
}

/** An upstream's fields as the API takes them: `tls.client_certificate` (a name) becomes `tls.client_certificate_id`. */
function upstreamToApi(fields: Record<string, unknown>, certificateId: (name: string) => string): Record<string, unknown> {
  const tls = fields.tls as Record<string, unknown> | undefined;
  if (tls?.client_certificate === undefined) return fields;
  const { client_certificate: name, ...rest } = tls;
  return { ...fields, tls: { ...rest, client_certificate_id: certificateId(name as string) } };
}

function specBody(spec: EntitySpec): Record<string, unknown> {
  return { ...(spec as unknown as Record<string, unknown>) };
}

/** `create route "b" (routes[1]): TP_ERR_CONFLICT route conflicts … \n  routes[1].paths: conflicts with …` */
export function describeFailure(op: Operation, err: AdminApiError, locations: Map<string, string>): string {
  const at = op.kind === 'key' ? locations.get(entityKey('key', op.name, op.consumer)) : locations.get(entityKey(op.kind, op.name));
  if (isResourceOperation(op)) return describeResourceFailure(op, err, at);
  const head = `${op.action} ${describeTarget(op)}${at !== undefined && op.action !== 'delete' ? ` (${at})` : ''} failed: ${err.code}: ${err.message}`;
  const lines = [head];
  for (const f of err.fields) {
    const ref = op.kind === 'key' ? undefined : REFERENCE[op.kind];
    let field = pointerToPath(f.path);
    if (ref && field === ref.apiField) field = ref.field;
    if (op.kind === 'service' && field === 'integration.upstream_id') field = 'integration.upstream';
    if (op.kind === 'upstream' && field === 'tls.client_certificate_id') field = 'tls.client_certificate';
    if (op.kind === 'service' && /^splits\[\d+\]\.upstream_id$/.test(field)) field = field.replace(/upstream_id$/, 'upstream');
    const where = at !== undefined && op.action !== 'delete' ? (field ? `${at}.${field}` : at) : field || describeTarget(op);
    lines.push(`  ${where}: ${f.message}`);
  }
  if (err.requestId) lines.push(`  (request id ${err.requestId})`);
  return lines.join('\n');
}

// The API's field names for references the file states by name.
const RESOURCE_FIELD_NAMES: Record<string, string> = {
  provider_id: 'provider',
  consumer_id: 'consumer',
  service_id: 'service',
  plan_id: 'plan',
  'scope.service_id': 'scope.service',
  'scope.route_id': 'scope.route',
  'scope.consumer_id': 'scope.consumer',
};

function describeResourceFailure(op: Extract<Operation, { kind: keyof typeof KIND_LABEL }>, err: AdminApiError, at: string | undefined): string {
  const shown = at !== undefined && op.action !== 'delete';
  const target = `${KIND_LABEL[op.kind]} ${JSON.stringify(op.name)}`;
  const lines = [`${op.action} ${target}${shown ? ` (${at})` : ''} failed: ${err.code}: ${err.message}`];
  for (const f of err.fields) {
    const raw = pointerToPath(f.path);
    const field = RESOURCE_FIELD_NAMES[raw] ?? raw;
    lines.push(`  ${shown ? (field ? `${at}.${field}` : at) : field || target}: ${f.message}`);
  }
  if (err.requestId) lines.push(`  (request id ${err.requestId})`);
  return lines.join('\n');
}
