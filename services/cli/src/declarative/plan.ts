// Pure planning: the live config and the desired one (both normalized) → the ordered operations that turn
// one into the other. Entities are matched by name; only changed fields are updated; equal configs plan nothing.
import type { CurrentState } from './current-state.js';
import { entityKey, type ConsumerSpec, type DeclarativeConfig, type EntityKind, type RouteSpec, type ServiceSpec, type UpstreamSpec } from './file-format.js';
import { CONFIG_LIST, identityOf, type ResourceKind, type ResourceSpec } from './resource-kinds.js';

export type EntitySpec = UpstreamSpec | ServiceSpec | RouteSpec | Omit<ConsumerSpec, 'keys'>;

export interface FieldChange {
  field: string;
  /** undefined: the field is not set on the server. */
  from: unknown;
  /** undefined: the file leaves it unset (only optional fields without a default, like custom_id). */
  to: unknown;
  /** A write-only secret re-sent from the file (`--update-secrets`): from/to only say so, values are never shown. */
  secret?: true;
}

/** An operation on a generic kind; `name` is the entity's identity (`acme -> orders`, `key-auth @ route r`). */
export type ResourceOperation =
  | { action: 'create'; kind: ResourceKind; name: string; spec: ResourceSpec }
  | { action: 'update'; kind: ResourceKind; name: string; id: string; changes: FieldChange[]; mode: 'patch' | 'replace'; spec: ResourceSpec }
  /** A subscription is not deleted but revoked (approved) or rejected (pending): `transition` says which. */
  | { action: 'delete'; kind: ResourceKind; name: string; id: string; spec: ResourceSpec; transition?: 'revoke' | 'reject' };

export function isResourceOperation(op: Operation): op is ResourceOperation {
  return op.kind !== 'key' && op.kind !== 'upstream' && op.kind !== 'service' && op.kind !== 'route' && op.kind !== 'consumer';
}

export type Operation =
  | { action: 'create'; kind: EntityKind; name: string; spec: EntitySpec }
  | {
      action: 'update';
      kind: EntityKind;
      name: string;
      id: string;
      changes: FieldChange[];
      /** `replace` (PUT) when a field must be unset, which a PATCH cannot say; otherwise `patch` with the changes. */
      mode: 'patch' | 'replace';
      spec: EntitySpec;
    }
  | { action: 'delete'; kind: EntityKind; name: string; id: string }
  | { action: 'create'; kind: 'key'; consumer: string; name: string; key?: string; expires_at?: string }
  /** A key's expiry set or cleared (`to: null`) by PATCH; the key itself never changes. */
  | { action: 'update'; kind: 'key'; consumer: string; consumerId: string; name: string; id: string; changes: FieldChange[]; mode: 'patch' }
  | { action: 'delete'; kind: 'key'; consumer: string; consumerId: string; name: string; id: string }
  | ResourceOperation;

export interface PlanOptions {
  /** Delete what the file does not mention. */
  prune: boolean;
  /** Re-send every secret the file holds for entities that exist (secrets cannot be compared). */
  updateSecrets?: boolean;
}

export interface Plan {
  operations: Operation[];
  /** Entities (and named keys) on the server that the file does not mention; deleted only with prune. */
  unmanaged: Array<{ kind: EntityKind | ResourceKind | 'key'; name: string }>;
}

export function plan(current: CurrentState, desired: DeclarativeConfig, opts: PlanOptions): Plan {
  const ops: Operation[] = [];
  const unmanaged: Plan['unmanaged'] = [];

  const upstreams = diffKind('upstream', current.upstreams, desired.upstreams, (e) => e.name);
  const services = diffKind('service', current.services, desired.services, (e) => e.name);
  const routes = diffKind('route', current.routes, desired.routes, (e) => e.name);
  const consumers = diffKind('consumer', current.consumers.map(withoutKeys), desired.consumers.map(withoutKeys), (e) => e.username);
  const r = (kind: ResourceKind): ResourceDiff => diffResources(kind, current, desired, opts);
  const [certificates, groups, plans, providers, templates, credentials, subscriptions, plugins, budgets] = [
    r('certificate'),
    r('consumer_group'),
    r('plan'),
    r('ai_provider'),
    r('prompt_template'),
    r('credential'),
    r('subscription'),
    r('plugin'),
    r('ai_budget'),
  ];

  // Deletes of what references other entities come first (plugins, subscriptions, templates, credentials:
  // a pruned credential may hold the identifier a new one takes), in the reverse of the creation order.
  // AI budgets too: deleting their consumer or key would take them along, and a second delete would fail.
  if (opts.prune) ops.push(...budgets.deletes, ...plugins.deletes, ...subscriptions.deletes, ...templates.deletes, ...credentials.deletes);
  // Creates and updates go certificate → upstream → service → route so that references exist before they
  // are used. Routes are deleted first among routes (a pruned route may hold the path an updated or new one
  // takes), and services and upstreams are deleted last, once no route or service points at them any more.
  // A pruned certificate that no live upstream presents goes before the certificates' creates (it may hold
  // a server name a new one takes); one that an upstream presents goes after the upstreams have let go of it
  // (the control plane refuses to delete a certificate in use).
  const presented = new Set(current.upstreams.map((u) => u.tls.client_certificate).filter((n) => n !== undefined));
  if (opts.prune) ops.push(...certificates.deletes.filter((o) => !presented.has(o.name)));
  ops.push(...certificates.upserts, ...upstreams.upserts, ...services.upserts);
  if (opts.prune) ops.push(...routes.deletes);
  ops.push(...routes.upserts);
  if (opts.prune) ops.push(...services.deletes, ...upstreams.deletes, ...certificates.deletes.filter((o) => presented.has(o.name)));
  // Groups before the consumers that name them; a pruned group once no consumer names it any more.
  ops.push(...groups.upserts);
  if (opts.prune) ops.push(...consumers.deletes);
  ops.push(...consumers.upserts);
  if (opts.prune) ops.push(...groups.deletes);
  for (const d of [upstreams, services, routes, consumers]) if (!opts.prune) unmanaged.push(...d.deletes.map((o) => ({ kind: o.kind, name: o.name })));
  for (const d of [certificates, groups, plans, providers, templates, credentials, subscriptions, plugins, budgets]) if (!opts.prune) unmanaged.push(...d.deletes.map((o) => ({ kind: o.kind, name: o.name })));

  // Keys: matched by name within their consumer. Key material is never compared (the API does not return
  // it), so a named key that exists keeps its value; only its expiry is compared, and updated in place.
  // Keys go with a pruned consumer.
  const keyCreates: Operation[] = [];
  const keyUpdates: Operation[] = [];
  const keyDeletes: Operation[] = [];
  const live = new Map(current.consumers.map((c) => [c.username, c]));
  const wanted = new Map(desired.consumers.map((c) => [c.username, c]));
  for (const c of desired.consumers) {
    const have = new Set((live.get(c.username)?.keys ?? []).map((k) => k.name));
    for (const k of c.keys) {
      if (have.has(k.name)) continue;
      const op: Operation = { action: 'create', kind: 'key', consumer: c.username, name: k.name };
      if (k.key !== undefined) op.key = k.key;
      if (k.expires_at !== null) op.expires_at = k.expires_at;
      keyCreates.push(op);
    }
  }
  for (const c of current.consumers) {
    const want = wanted.get(c.username);
    if (!want) continue;
    const names = new Map(want.keys.map((k) => [k.name, k]));
    const matched = new Set<string>();
    for (const k of c.keys) {
      // Nameless keys cannot be stated in a file, so they are not managed here (never pruned).
      if (k.name === null) continue;
      // The first key with a wanted name is the match; later keys with the same name are extras.
      const wantedKey = names.get(k.name);
      if (wantedKey !== undefined && !matched.has(k.name)) {
        matched.add(k.name);
        if (k.expires_at !== wantedKey.expires_at) {
          const changes = [{ field: 'expires_at', from: k.expires_at, to: wantedKey.expires_at }];
          keyUpdates.push({ action: 'update', kind: 'key', consumer: c.username, consumerId: c.id, name: k.name, id: k.id, changes, mode: 'patch' });
        }
        continue;
      }
      if (opts.prune) keyDeletes.push({ action: 'delete', kind: 'key', consumer: c.username, consumerId: c.id, name: k.name, id: k.id });
      else unmanaged.push({ kind: 'key', name: `${c.username}/${k.name}` });
    }
  }
  // Deletes first: a removed key may hold the key value a new one registers.
  ops.push(...keyDeletes, ...keyUpdates, ...keyCreates);
  // Then what references consumers, services, routes, plans and providers; providers and plans are pruned
  // once no template or subscription refers to them.
  ops.push(...credentials.upserts, ...plans.upserts, ...providers.upserts, ...templates.upserts);
  if (opts.prune) ops.push(...providers.deletes, ...plans.deletes);
  ops.push(...subscriptions.upserts, ...plugins.upserts);
  // Budgets last: they name consumers and keys (created above).
  ops.push(...budgets.upserts);
  return { operations: ops, unmanaged };
}

interface ResourceDiff {
  upserts: ResourceOperation[];
  deletes: Array<Extract<ResourceOperation, { action: 'delete' }>>;
}

/**
 * One generic kind, matched by identity. Secrets are never compared (the API does not return them); with
 * updateSecrets every secret the file holds for an existing entity is re-sent. Credentials of consumers the
 * file does not mention are left alone (they go with a pruned consumer), as keys are.
 */
function diffResources(kind: ResourceKind, current: CurrentState, desired: DeclarativeConfig, opts: PlanOptions): ResourceDiff {
  const list = CONFIG_LIST[kind];
  const wantedConsumers = new Set(desired.consumers.map((c) => c.username));
  const live = current.resources[list].filter((e) => kind !== 'credential' || wantedConsumers.has(String(e.consumer)));
  const byId = new Map<string, (typeof live)[number]>();
  for (const c of live) if (!byId.has(identityOf(kind, c))) byId.set(identityOf(kind, c), c);
  const wanted = new Set(desired[list].map((d) => identityOf(kind, d)));
  const upserts: ResourceOperation[] = [];
  for (const d of desired[list]) {
    const name = identityOf(kind, d);
    const c = byId.get(name);
    if (!c) {
      upserts.push({ action: 'create', kind, name, spec: d });
      continue;
    }
    const changes = kind === 'subscription' ? subscriptionChanges(c, d) : fieldChanges(c, d);
    const secrets = desired.secrets?.get(entityKey(kind, name));
    // A new certificate comes with its new key (a rotation): the key the file holds goes with a changed
    // cert_pem, since the stored one cannot match it. Without one in the file the stored key stays.
    const resend = opts.updateSecrets || (kind === 'certificate' && changes.some((ch) => ch.field === 'cert_pem'));
    if (resend && secrets) for (const field of Object.keys(secrets)) changes.push({ field, from: '(stored)', to: '(from the file)', secret: true });
    if (changes.length > 0) {
      const mode = changes.some((ch) => ch.to === undefined) ? 'replace' : 'patch';
      upserts.push({ action: 'update', kind, name, id: c.id, changes, mode, spec: d });
    }
  }
  const deletes: ResourceDiff['deletes'] = [];
  for (const c of [...live].reverse()) {
    const name = identityOf(kind, c);
    if (wanted.has(name)) continue;
    const { id, ...spec } = c;
    const op: ResourceDiff['deletes'][number] = { action: 'delete', kind, name, id, spec };
    if (kind === 'subscription') op.transition = c.status === 'approved' ? 'revoke' : 'reject';
    deletes.push(op);
  }
  return { upserts, deletes };
}

/**
 * Plan, note and tags as fields; the status only as pending → approved when the file says approved (the
 * approve action). A status the file leaves out, or `pending` for an approved one, is not a change: an
 * approval cannot be undone except by revoking (removing the subscription from the file, with --prune).
 */
function subscriptionChanges(c: ResourceSpec, d: ResourceSpec): FieldChange[] {
  const pick = (e: ResourceSpec): ResourceSpec => ({ plan: e.plan, note: e.note, tags: e.tags });
  const out = fieldChanges(pick(c), pick(d));
  if (d.status === 'approved' && c.status === 'pending') out.push({ field: 'status', from: 'pending', to: 'approved' });
  return out;
}

function withoutKeys<T extends { keys: unknown }>(c: T): Omit<T, 'keys'> {
  const { keys: _keys, ...rest } = c;
  return rest;
}

interface KindDiff {
  upserts: Operation[];
  deletes: Array<{ action: 'delete'; kind: EntityKind; name: string; id: string }>;
}

function diffKind<D extends EntitySpec, C extends D & { id: string }>(kind: EntityKind, current: C[], desired: D[], nameOf: (e: D) => string): KindDiff {
  const byName = new Map<string, C>();
  for (const c of current) if (!byName.has(nameOf(c))) byName.set(nameOf(c), c);
  const wanted = new Set(desired.map(nameOf));
  const upserts: Operation[] = [];
  for (const d of desired) {
    const name = nameOf(d);
    const c = byName.get(name);
    if (!c) {
      upserts.push({ action: 'create', kind, name, spec: d });
      continue;
    }
    const changes = fieldChanges(c, d);
    if (changes.length > 0) {
      const mode = changes.some((ch) => ch.to === undefined) ? 'replace' : 'patch';
      upserts.push({ action: 'update', kind, name, id: c.id, changes, mode, spec: d });
    }
  }
  // Deletes in reverse creation order: the newest first.
  const deletes: KindDiff['deletes'] = [];
  for (const c of [...current].reverse()) if (!wanted.has(nameOf(c))) deletes.push({ action: 'delete', kind, name: nameOf(c), id: c.id });
  return { upserts, deletes };
}

export function fieldChanges(current: object, desired: object): FieldChange[] {
  const cur = current as Record<string, unknown>;
  const des = desired as Record<string, unknown>;
  const fields = [...Object.keys(des), ...Object.keys(cur).filter((k) => !(k in des))].filter((k) => k !== 'id');
  const out: FieldChange[] = [];
  for (const field of fields) {
    if (!sameValue(cur[field], des[field])) out.push({ field, from: cur[field], to: des[field] });
  }
  return out;
}

/** Structural equality of JSON values (object key order ignored, array order significant). */
export function sameValue(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`;
}
